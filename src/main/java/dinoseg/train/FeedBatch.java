package dinoseg.train;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.data.Batch;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/**
 * One batch as the model takes it: host images (the backbone runs on them) or cached backbone
 * feature maps (only the head runs), with the labels at the input size.
 *
 * @param images       normalised NCHW images, or null when features are cached
 * @param labels       class ids per pixel, n*h*w
 * @param features     cached head input [B, C, h/p, w/p] (p the patch size), or null
 * @param featureShape the shape of {@code features}, or null
 */
public record FeedBatch(float[] images, int[] labels, int n, int h, int w, float[] features, int[] featureShape) {
    public static FeedBatch of(Batch b) {
        return new FeedBatch(b.images(), b.labels(), b.n(), b.h(), b.w(), null, null);
    }

    /** Pixels whose label is a class id (not ignored): the weight of this batch in a mean loss. */
    public long counted(int numClasses, int ignore) {
        long c = 0;
        for (int l : labels) if (l != ignore && l >= 0 && l < numClasses) c++;
        return c;
    }

    /**
     * The head's input: the cached maps, or the backbone on the images (without a tape unless
     * fine-tuning). Owned by {@code ops}; the uploaded images are released once the backbone ran.
     */
    public Var headInput(Dinov2Segmentation m, Ops ops) {
        Backend be = ops.be;
        if (features != null) return ops.constant(be.fromFloats(features, Shape.of(featureShape)));
        Var x = ops.constant(be.fromFloats(images, Shape.of(n, Batch.CHANNELS, h, w)));
        Var f = m.features(ops, x);
        ops.release(x);
        return f;
    }

    public Tensor labelTensor(Backend be) {
        return be.fromInts(labels, Shape.of(n, h, w));
    }

    /** The shape of the head input this batch uploads: the cached maps' [B, C, h/p, w/p], or the images' [N, 3, H, W]. */
    public Shape inputShape() {
        return features != null ? Shape.of(featureShape) : Shape.of(n, Batch.CHANNELS, h, w);
    }

    /** Whether b uploads inputs and labels of the same shapes as this batch (so a captured step can take it). */
    public boolean sameShapes(FeedBatch b) {
        return (features != null) == (b.features != null) && inputShape().equals(b.inputShape()) && n == b.n && h == b.h && w == b.w;
    }

    /** Writes this batch into tensors the caller owns: input (of {@link #inputShape}) and labels [N, H, W]. */
    public void write(Backend be, Tensor input, Tensor labels) {
        float[] x = features != null ? features : images;
        be.writeFloats(x, 0, input, 0, x.length);
        be.writeInts(this.labels, 0, labels, 0, this.labels.length);
    }

    /**
     * The head's input computed from {@code input}, a tensor the caller owns holding this batch's
     * {@link #write written} input (a captured step's static input): not freed by {@code ops}.
     */
    public static Var headInput(Dinov2Segmentation m, Ops ops, Tensor input, boolean cachedFeatures) {
        Var x = Var.constant(input);
        return cachedFeatures ? x : m.features(ops, x);
    }
}
