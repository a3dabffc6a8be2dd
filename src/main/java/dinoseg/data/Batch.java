package dinoseg.data;

import java.util.List;

/**
 * One batch on the host, backend-free: the training code turns it into tensors with
 * {@code backend.fromFloats(images, Shape(n,3,h,w))} and {@code backend.fromInts(labels, Shape(n,h,w))}.
 *
 * @param images ImageNet-normalised pixels, contiguous NCHW (n*3*h*w floats)
 * @param labels class ids per pixel, n*h*w, ignored pixels = the class set's ignore index
 * @param n      samples in the batch
 * @param h      height
 * @param w      width
 * @param ids    sample ids (file stems) in batch order
 */
public record Batch(float[] images, int[] labels, int n, int h, int w, List<String> ids) {
    /** Channels per image (RGB). */
    public static final int CHANNELS = 3;

    public Batch {
        if (images.length != n * CHANNELS * h * w || labels.length != n * h * w || ids.size() != n)
            throw new IllegalArgumentException("Batch: " + images.length + " floats, " + labels.length + " labels, "
                    + ids.size() + " ids for n=" + n + " h=" + h + " w=" + w);
    }
}
