package dinoseg.infer;

import dinoseg.backend.Backend;
import dinoseg.data.ImageNetNorm;
import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Turns an image at its original size into a class mask at the same size.
 *
 * <p>The pipeline, all on the backend: the normalised image [1,3,H0,W0] is resized (bilinear) to the
 * inference size (scaled by each TTA scale); a size that is not a multiple of the model's patch size
 * ({@link SegModel#patch()}, 14 for DINOv2) is padded (centred, with zeros, i.e. the mean colour
 * after normalisation) and the logits of the padding are cropped away; the logits of the image
 * region are upsampled (bilinear) to the original size, and argmax gives the mask. With TTA
 * (several scales and/or horizontal flips) the softmax probabilities at the original size are
 * averaged before the argmax. With a sliding window, the rescaled image is tiled with overlapping
 * crops (the last one aligned to the edge) and the logits of the overlaps are averaged.
 *
 * <p>Large pictures ({@link #predict(int[], int, int)} above {@link #pixelBudget()} pixels) take the
 * same steps with the same arithmetic, but never hold anything at the original size except the
 * mask: the picture is resized to each view's inference size straight from its packed pixels, and
 * the view logits are upsampled, averaged and arg-maxed one output pixel at a time. Their memory is
 * {@link #largeImageBytes} (4 bytes per pixel for the mask plus the views' logits), known before
 * decoding; the plain path needs {@link #plainBytesPerPixel} bytes per original pixel.
 */
public final class Predictor {
    /** Sliding-window crops sent through the model together. */
    static final int TILE_BATCH = 8;
    /**
     * Original-size pixels above which {@link #predict(int[], int, int)} takes the large-picture path
     * (4 Mpixel: the plain path's full-size scores are then already K x 16 MB); system property
     * {@code dinoseg.infer.pixelBudget} overrides it.
     */
    public static final long DEFAULT_PIXEL_BUDGET = Long.getLong("dinoseg.infer.pixelBudget", 4L << 20);

    /**
     * Inference settings. {@code scales} null or empty means no multi-scale TTA (scale 1 only);
     * {@code slideCrop} 0 means no sliding window. {@code shortSide} 0 means every picture is
     * resized to {@code width} x {@code height}; a positive value instead resizes each picture
     * keeping its aspect ratio so that its shorter side is {@code (int) (shortSide * scale)} pixels
     * (width and height are then unused), as MMSegmentation's {@code Resize(keep_ratio=True)} with
     * {@code img_scale=(99999999, shortSide)} and {@code MultiScaleFlipAug}'s {@code img_ratios}
     * do in the DINOv2 segmentation configs (see {@code checkpoint.OfficialModels}).
     */
    public record Options(int width, int height, double[] scales, boolean flip, int slideCrop, int slideStride, int shortSide) {
        public Options {
            if (width < 1 || height < 1)
                throw new IllegalArgumentException("inference size must be positive, got " + width + "x" + height);
            if (scales != null) {
                scales = scales.clone();
                for (double s : scales)
                    if (!(s > 0) || Double.isInfinite(s))
                        throw new IllegalArgumentException("TTA scales must be positive, got " + Arrays.toString(scales));
            }
            if (slideCrop < 0 || (slideCrop > 0 && (slideStride < 1 || slideStride > slideCrop)))
                throw new IllegalArgumentException("sliding window needs CROP >= STRIDE >= 1, got crop " + slideCrop
                        + " stride " + slideStride);
            if (shortSide < 0) throw new IllegalArgumentException("short side must be positive (or 0: fixed size), got " + shortSide);
        }

        /** Settings at a fixed inference size (no short-side rule). */
        public Options(int width, int height, double[] scales, boolean flip, int slideCrop, int slideStride) {
            this(width, height, scales, flip, slideCrop, slideStride, 0);
        }

        /** Plain inference at the given size. */
        public static Options plain(int width, int height) { return new Options(width, height, null, false, 0, 0); }

        public Options withScales(double... s) { return new Options(width, height, s, flip, slideCrop, slideStride, shortSide); }

        public Options withFlip(boolean f) { return new Options(width, height, scales, f, slideCrop, slideStride, shortSide); }

        public Options withSlide(int crop, int stride) { return new Options(width, height, scales, flip, crop, stride, shortSide); }

        /** The same settings with the short-side rule ({@code side} > 0) or a fixed size ({@code side} 0). */
        public Options withShortSide(int side) { return new Options(width, height, scales, flip, slideCrop, slideStride, side); }

        /** True when probabilities are averaged (several views); false for a single plain forward. */
        public boolean tta() { return flip || (scales != null && scales.length > 0); }

        double[] scaleList() { return scales == null || scales.length == 0 ? new double[] {1.0} : scales.clone(); }
    }

    private final Backend be;
    private final SegModel model;
    private final Options opt;
    private long pixelBudget = DEFAULT_PIXEL_BUDGET;

    public Predictor(Backend be, SegModel model, Options options) {
        this.be = be;
        this.model = model;
        this.opt = options;
    }

    /** Original-size pixels above which pictures take the large-picture path. */
    public long pixelBudget() { return pixelBudget; }

    /** Sets {@link #pixelBudget()} (at least 1); returns this. */
    public Predictor pixelBudget(long pixels) {
        if (pixels < 1) throw new IllegalArgumentException("pixel budget must be positive, got " + pixels);
        this.pixelBudget = pixels;
        return this;
    }

    /** Whether a w0 x h0 picture takes the large-picture path. */
    public boolean large(int w0, int h0) { return (long) w0 * h0 > pixelBudget; }

    /**
     * Bytes per original pixel of the plain path: the normalised image (12), the full-size scores
     * (4 per class, twice while upsampling or averaging views) and the mask (4).
     */
    public long plainBytesPerPixel() { return 12 + 8L * model.numClasses() + 4; }

    /** Host bytes of the large-picture path for a w0 x h0 picture: the mask plus every view's logits. */
    public long largeImageBytes(int w0, int h0) {
        long views = (long) opt.scaleList().length * (opt.flip() ? 2 : 1), sum = 0;
        for (double s : opt.scaleList()) {
            int[] wh = scaledSize(s, w0, h0);
            sum += 4L * model.numClasses() * wh[0] * wh[1] + 12L * wh[0] * wh[1];
        }
        return 4L * w0 * h0 + sum * views / opt.scaleList().length;
    }

    /** Bytes the prediction of a w0 x h0 picture needs on the host, beyond the picture itself. */
    public long bytesNeeded(int w0, int h0) {
        return large(w0, h0) ? largeImageBytes(w0, h0) : plainBytesPerPixel() * w0 * h0;
    }

    /**
     * The class mask [h0*w0] of packed 0xRRGGBB pixels: the plain path up to {@link #pixelBudget()}
     * pixels, the large-picture path above (same result within float rounding; see the class notes).
     */
    public int[] predict(int[] rgb, int w0, int h0) {
        if (rgb.length != w0 * h0) throw new IllegalArgumentException("predict: " + rgb.length + " pixels for " + w0 + "x" + h0);
        if (!large(w0, h0)) return predict(ImageNetNorm.normalise(rgb, w0, h0), w0, h0);
        return predictLarge(rgb, w0, h0);
    }

    /** The large-picture path: per view, logits at the inference size; per output pixel, upsample, average, argmax. */
    int[] predictLarge(int[] rgb, int w0, int h0) {
        double[] scales = opt.scaleList();
        int nf = opt.flip() ? 2 : 1, k = model.numClasses();
        boolean tta = opt.tta();
        float[][] views = new float[scales.length * nf][];
        int[][] sizes = new int[views.length][];
        for (int si = 0, v = 0; si < scales.length; si++) {
            int[] wh = scaledSize(scales[si], w0, h0);
            float[] chw = Images.resizedNormalisedChw(rgb, w0, h0, wh[0], wh[1]);
            for (int f = 0; f < nf; f++, v++) {
                try (Tensor image = be.fromFloats(chw, Shape.of(1, 3, wh[1], wh[0]))) {
                    try (Tensor logits = viewLogitsAtSize(image, f == 1)) {
                        views[v] = be.toFloats(logits);
                    }
                }
                sizes[v] = wh;
            }
        }
        int[] mask = new int[w0 * h0];
        int[][] ys0 = new int[views.length][], ys1 = new int[views.length][], xs0 = new int[views.length][], xs1 = new int[views.length][];
        float[][] wy0 = new float[views.length][], wy1 = new float[views.length][], wx0 = new float[views.length][], wx1 = new float[views.length][];
        for (int v = 0; v < views.length; v++) {
            int w = sizes[v][0], h = sizes[v][1];
            ys0[v] = new int[h0]; ys1[v] = new int[h0]; wy0[v] = new float[h0]; wy1[v] = new float[h0];
            xs0[v] = new int[w0]; xs1[v] = new int[w0]; wx0[v] = new float[w0]; wx1[v] = new float[w0];
            dinoseg.backend.Bilinear.axisWeights(h, h0, ys0[v], ys1[v], wy0[v], wy1[v]);
            dinoseg.backend.Bilinear.axisWeights(w, w0, xs0[v], xs1[v], wx0[v], wx1[v]);
        }
        java.util.stream.IntStream.range(0, h0).parallel().forEach(oy -> {
            float[] acc = new float[k], val = new float[k];
            {
                for (int ox = 0; ox < w0; ox++) {
                    java.util.Arrays.fill(acc, 0f);
                    for (int v = 0; v < views.length; v++) {
                        float[] a = views[v];
                        int w = sizes[v][0], plane = w * sizes[v][1];
                        int r0 = ys0[v][oy] * w, r1 = ys1[v][oy] * w, c0 = xs0[v][ox], c1 = xs1[v][ox];
                        float h0w = wy0[v][oy], h1w = wy1[v][oy], x0w = wx0[v][ox], x1w = wx1[v][ox];
                        for (int c = 0; c < k; c++) {
                            int p = c * plane;
                            val[c] = h0w * (x0w * a[p + r0 + c0] + x1w * a[p + r0 + c1]) + h1w * (x0w * a[p + r1 + c0] + x1w * a[p + r1 + c1]);
                        }
                        if (!tta) {
                            System.arraycopy(val, 0, acc, 0, k);
                            break;
                        }
                        float m = val[0];
                        for (int c = 1; c < k; c++) m = Math.max(m, val[c]);
                        float sum = 0;
                        for (int c = 0; c < k; c++) { val[c] = (float) Math.exp(val[c] - m); sum += val[c]; }
                        for (int c = 0; c < k; c++) acc[c] += val[c] / sum;
                    }
                    float best = acc[0];
                    int arg = 0;
                    for (int c = 1; c < k; c++) if (acc[c] > best || (Float.isNaN(acc[c]) && !Float.isNaN(best))) { best = acc[c]; arg = c; }
                    mask[oy * w0 + ox] = arg;
                }
            }
        });
        return mask;
    }

    /** Logits [1,K,h,w] of an image already at the view's inference size (flipped back when {@code flip}). */
    private Tensor viewLogitsAtSize(Tensor x, boolean flip) {
        Tensor in = x;
        if (flip) {
            in = be.empty(x.shape());
            be.flipLastDim(x, in);
        }
        Tensor logits;
        try {
            logits = opt.slideCrop() > 0 ? slidingLogits(in) : windowLogits(in);
        } finally {
            if (in != x) in.close();
        }
        if (flip) {
            Tensor f = be.empty(logits.shape());
            be.flipLastDim(logits, f);
            logits.close();
            logits = f;
        }
        return logits;
    }

    public Options options() { return opt; }

    public int numClasses() { return model.numClasses(); }

    /** The class mask [h0*w0] of a normalised CHW image (see {@link ImageNetNorm#normalise(int[], int, int)}). */
    public int[] predict(float[] chw, int w0, int h0) {
        try (Tensor scores = scores(chw, w0, h0)) {
            try (Tensor mask = be.empty(Shape.of(1, h0, w0), DType.I32)) {
                be.argmax(scores, mask);
                return be.toInts(mask);
            }
        }
    }

    /**
     * Per-class scores [1, K, h0, w0] at the original size: upsampled logits for plain inference,
     * averaged softmax probabilities with TTA. The caller closes the result.
     */
    public Tensor scores(float[] chw, int w0, int h0) {
        if (chw.length != 3 * w0 * h0)
            throw new IllegalArgumentException("predict: image has " + chw.length + " values, expected 3x" + h0 + "x" + w0);
        try (Tensor image = be.fromFloats(chw, Shape.of(1, 3, h0, w0))) {
            if (!opt.tta()) return viewLogits(image, 1.0, false);
            double[] scales = opt.scaleList();
            Tensor sum = null;
            int views = 0;
            for (double s : scales) {
                for (int f = 0; f < (opt.flip() ? 2 : 1); f++) {
                    Tensor logits = viewLogits(image, s, f == 1);
                    be.softmax(logits, 1, logits);
                    if (sum == null) {
                        sum = logits;
                    } else {
                        be.add(sum, logits, 1f, sum);
                        logits.close();
                    }
                    views++;
                }
            }
            be.scale(sum, 1f / views, sum);
            return sum;
        }
    }

    /**
     * The inference size of a w0 x h0 picture at TTA scale s: (width, height). With the short-side
     * rule, mmcv's arithmetic: the target short side {@code (int) (shortSide * s)} (MultiScaleFlipAug
     * truncates), the factor {@code target / min(w0, h0)}, each side {@code (int) (side * factor + 0.5)}.
     */
    int[] scaledSize(double s, int w0, int h0) {
        if (opt.shortSide() > 0) {
            int target = Math.max(1, (int) (opt.shortSide() * s));
            double f = (double) target / Math.min(w0, h0);
            return new int[] {Math.max(1, (int) (w0 * f + 0.5)), Math.max(1, (int) (h0 * f + 0.5))};
        }
        int w = Math.max(1, (int) Math.round(opt.width() * s));
        int h = Math.max(1, (int) Math.round(opt.height() * s));
        return new int[] {w, h};
    }

    /** Logits [1,K,h0,w0] of one view: the image rescaled by s (and flipped), back at the original size. */
    private Tensor viewLogits(Tensor image, double s, boolean flip) {
        int h0 = image.dim(2), w0 = image.dim(3);
        int[] wh = scaledSize(s, w0, h0);
        int w = wh[0], h = wh[1];
        Tensor x = resize(image, h, w);
        if (flip) {
            Tensor f = be.empty(x.shape());
            be.flipLastDim(x, f);
            if (x != image) x.close();
            x = f;
        }
        Tensor logits;
        try {
            logits = opt.slideCrop() > 0 ? slidingLogits(x) : windowLogits(x);
        } finally {
            if (x != image) x.close();
        }
        if (flip) {
            Tensor f = be.empty(logits.shape());
            be.flipLastDim(logits, f);
            logits.close();
            logits = f;
        }
        Tensor out = resize(logits, h0, w0);
        if (out != logits) logits.close();
        return out;
    }

    /** x resized to h x w (bilinear, align_corners=false), or x itself when it already has that size. */
    private Tensor resize(Tensor x, int h, int w) {
        if (x.dim(2) == h && x.dim(3) == w) return x;
        Tensor out = be.empty(Shape.of(x.dim(0), x.dim(1), h, w));
        be.resizeBilinear(x, out);
        return out;
    }

    /**
     * Logits [n,K,h,w] of windows x [n,3,h,w]: padded (centred, zeros) to multiples of the patch size, run
     * through the model at the padded size, the padding's logits cropped away.
     */
    Tensor windowLogits(Tensor x) {
        int n = x.dim(0), h = x.dim(2), w = x.dim(3);
        int patch = model.patch(), hp = Shape.roundUp(h, patch), wp = Shape.roundUp(w, patch);
        int top = (hp - h) / 2, left = (wp - w) / 2;
        Tensor padded = x;
        if (hp != h || wp != w) {
            padded = be.zeros(Shape.of(n, 3, hp, wp));
            for (int c = 0; c < n * 3; c++)
                be.copyBlocks(x, (long) c * h * w, w, padded, (long) c * hp * wp + (long) top * wp + left, wp, h, w, false);
        }
        Tensor full;
        try {
            full = model.logits(padded, hp, wp);
        } finally {
            if (padded != x) padded.close();
        }
        int k = model.numClasses();
        Shape want = Shape.of(n, k, hp, wp);
        if (!full.shape().equals(want))
            throw new IllegalStateException("model returned logits " + full.shape() + ", expected " + want);
        if (padded == x) return full;
        Tensor out = be.empty(Shape.of(n, k, h, w));
        for (int c = 0; c < n * k; c++)
            be.copyBlocks(full, (long) c * hp * wp + (long) top * wp + left, wp, out, (long) c * h * w, w, h, w, false);
        full.close();
        return out;
    }

    /** Window origins along a side of length n for crops of length c: every stride, the last one flush with the edge. */
    static int[] tileStarts(int n, int c, int stride) {
        if (c >= n) return new int[] {0};
        List<Integer> starts = new ArrayList<>();
        for (int p = 0; p + c < n; p += stride) starts.add(p);
        int last = n - c;
        if (starts.get(starts.size() - 1) != last) starts.add(last);
        return starts.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Logits [1,K,h,w] of x [1,3,h,w] from overlapping crops (in batches of {@link #TILE_BATCH}), averaged where they overlap. */
    private Tensor slidingLogits(Tensor x) {
        int h = x.dim(2), w = x.dim(3);
        int crop = opt.slideCrop(), stride = opt.slideStride();
        if (crop >= h && crop >= w) return windowLogits(x);
        int ch = Math.min(crop, h), cw = Math.min(crop, w);
        int[] ys = tileStarts(h, ch, stride), xs = tileStarts(w, cw, stride);
        int k = model.numClasses();
        Tensor sum = be.zeros(Shape.of(1, k, h, w));
        int[] count = new int[h * w];
        List<int[]> origins = new ArrayList<>();
        for (int y0 : ys) for (int x0 : xs) origins.add(new int[] {y0, x0});
        for (int first = 0; first < origins.size(); first += TILE_BATCH) {
            List<int[]> batch = origins.subList(first, Math.min(origins.size(), first + TILE_BATCH));
            int n = batch.size();
            try (Tensor tiles = be.empty(Shape.of(n, 3, ch, cw))) {
                for (int t = 0; t < n; t++) {
                    int y0 = batch.get(t)[0], x0 = batch.get(t)[1];
                    for (int c = 0; c < 3; c++)
                        be.copyBlocks(x, (long) c * h * w + (long) y0 * w + x0, w, tiles, (long) (t * 3 + c) * ch * cw, cw, ch, cw, false);
                }
                try (Tensor lt = windowLogits(tiles)) {
                    for (int t = 0; t < n; t++) {
                        int y0 = batch.get(t)[0], x0 = batch.get(t)[1];
                        for (int c = 0; c < k; c++)
                            be.copyBlocks(lt, (long) (t * k + c) * ch * cw, cw, sum, (long) c * h * w + (long) y0 * w + x0, w, ch, cw, true);
                        for (int y = y0; y < y0 + ch; y++)
                            for (int xx = x0; xx < x0 + cw; xx++) count[y * w + xx]++;
                    }
                }
            }
        }
        float[] inv = new float[h * w];
        for (int i = 0; i < inv.length; i++) inv[i] = 1f / count[i];
        try (Tensor invT = be.fromFloats(inv, Shape.of(1, 1, h, w))) {
            be.mul(sum, invT, sum);
        }
        return sum;
    }
}
