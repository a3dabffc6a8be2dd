package dinoseg.train;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.data.Batch;
import dinoseg.data.DataLoader;
import dinoseg.io.ProgressBar;
import dinoseg.io.Stop;
import dinoseg.model.Dinov2Segmentation;

import java.io.PrintWriter;
import java.util.Iterator;
import java.util.Locale;
import java.util.NoSuchElementException;

/**
 * Backbone feature maps computed once per image (frozen backbone, no augmentation), so the head
 * trains on them without running the backbone again. Held on the host: per image the head input
 * [C, H/p, W/p] (p the patch size) as floats and the labels at the input size. {@link #estimateBytes} says what it
 * will take before anything is computed; {@link #build} refuses when that exceeds the budget.
 */
public final class FeatureCache {
    private final float[][] feats;
    private final int[][] labels;
    private final int c, gh, gw, h, w;

    private FeatureCache(float[][] feats, int[][] labels, int c, int gh, int gw, int h, int w) {
        this.feats = feats;
        this.labels = labels;
        this.c = c;
        this.gh = gh;
        this.gw = gw;
        this.h = h;
        this.w = w;
    }

    /** Bytes the cache of {@code images} images takes: the head input and the labels of each. */
    public static long estimateBytes(Dinov2Segmentation m, int images, int h, int w) {
        int p = m.backbone.patch();
        long perImage = 4L * m.layers().length * m.backbone.embedDim() * (h / p) * (w / p) + 4L * h * w;
        return perImage * images;
    }

    /**
     * Runs the backbone over every batch of {@code loader}'s epoch 0 (which must not shuffle or
     * augment; its dataset holds {@code n} images) and keeps the maps.
     *
     * @param budgetBytes the most the cache may take; more fails with one line saying how much it needs
     */
    public static FeatureCache build(Dinov2Segmentation m, Backend be, DataLoader loader, int n, String split, long budgetBytes,
                                     PrintWriter progress) {
        return build(m, be, loader, n, split, budgetBytes, progress, Stop.process());
    }

    /** As above; a requested {@code stop} ends the build between batches with {@link Stop.Stopped}. */
    @SuppressWarnings("try") // the no-grad scope is used for its effect, not referenced
    public static FeatureCache build(Dinov2Segmentation m, Backend be, DataLoader loader, int n, String split, long budgetBytes,
                                     PrintWriter progress, Stop stop) {
        Iterator<Batch> it = loader.epoch(0);
        FeatureCache fc = null;
        int filled = 0;
        ProgressBar bar = new ProgressBar(progress, "cache " + split, loader.batchesPerEpoch());
        boolean wasTraining = m.isTraining();
        m.train(false);
        try {
            while (it.hasNext()) {
                if (stop.requested()) throw stop.stopped("while caching the " + split + " features (" + filled + " of " + n + " images)");
                Batch b = it.next();
                if (fc == null) {
                    long need = estimateBytes(m, n, b.h(), b.w());
                    if (need > budgetBytes)
                        throw new IllegalArgumentException(String.format(Locale.ROOT,
                                "--cache-features: the %s features would take %.1f MiB (%d images), more than the budget of %.1f MiB "
                                        + "(half the maximum heap); drop --cache-features, use a smaller --imgsz, or raise -Xmx",
                                split, need / 1048576.0, n, budgetBytes / 1048576.0));
                    int p = m.backbone.patch();
                    fc = new FeatureCache(new float[n][], new int[n][], m.layers().length * m.backbone.embedDim(),
                            b.h() / p, b.w() / p, b.h(), b.w());
                }
                float[] all;
                try (Ops ops = new Ops(be); var s = ops.noGrad()) {
                    all = be.toFloats(FeedBatch.of(b).headInput(m, ops).value());
                }
                int per = fc.c * fc.gh * fc.gw, hw = b.h() * b.w();
                for (int k = 0; k < b.n(); k++) {
                    fc.feats[filled] = java.util.Arrays.copyOfRange(all, k * per, (k + 1) * per);
                    fc.labels[filled] = java.util.Arrays.copyOfRange(b.labels(), k * hw, (k + 1) * hw);
                    filled++;
                }
                bar.step("");
            }
        } finally {
            bar.close();
            m.train(wasTraining);
        }
        if (fc == null) throw new IllegalArgumentException("--cache-features: the " + split + " split is empty");
        if (filled != n) throw new IllegalStateException("feature cache: " + filled + " of " + n + " images");
        return fc;
    }

    public int size() { return feats.length; }

    public long bytes() {
        return size() * (4L * c * gh * gw + 4L * h * w);
    }

    /** Batches of the images at {@code order} (dataset indices), {@code batch} at a time, last one smaller. */
    public Iterator<FeedBatch> batches(int[] order, int batch) {
        return new Iterator<>() {
            int pos = 0;

            @Override public boolean hasNext() { return pos < order.length; }

            @Override public FeedBatch next() {
                if (!hasNext()) throw new NoSuchElementException();
                int nb = Math.min(batch, order.length - pos), per = c * gh * gw, hw = h * w;
                float[] f = new float[nb * per];
                int[] l = new int[nb * hw];
                for (int k = 0; k < nb; k++) {
                    int idx = order[pos + k];
                    System.arraycopy(feats[idx], 0, f, k * per, per);
                    System.arraycopy(labels[idx], 0, l, k * hw, hw);
                }
                pos += nb;
                return new FeedBatch(null, l, nb, h, w, f, new int[]{nb, c, gh, gw});
            }
        };
    }

    /** The images in dataset order. */
    public Iterator<FeedBatch> batches(int batch) {
        int[] order = new int[size()];
        for (int i = 0; i < order.length; i++) order[i] = i;
        return batches(order, batch);
    }
}
