package dinoseg.model;

/**
 * The 1-D resampling matrices behind DINOv2's position-embedding interpolation, computed on the
 * host with PyTorch's float32 index and weight arithmetic so the separable 2-D result
 * {@code Wy · P · Wxᵀ} reproduces {@code F.interpolate(..., mode="bicubic", align_corners=False)}.
 *
 * <ul>
 *   <li>{@link #bicubic}: PyTorch's plain bicubic (cubic convolution, a = −0.75, indices clamped
 *       at the borders). With a scale factor, the coordinate scale is {@code 1/scale_factor}
 *       (what PyTorch uses when recompute_scale_factor is unset), otherwise in/out.</li>
 *   <li>{@link #antialiasedBicubic}: PyTorch's {@code _upsample_bicubic2d_aa} (PIL-style: the
 *       filter is a = −0.5 cubic stretched by the scale when shrinking, the window truncated at the
 *       borders and each row normalised to sum 1).</li>
 * </ul>
 * Each returns a row-major [out, in] matrix: row i holds the weights of output i.
 */
public final class PosEmbedInterpolation {
    private PosEmbedInterpolation() { }

    /** The interpolation the official model uses for a target grid of {@code out} along one axis of {@code in}. */
    public static float[] official(int in, int out, boolean antialias, double offset) {
        if (antialias) return antialiasedBicubic(in, out);
        if (offset != 0) return bicubic(in, out, (out + offset) / in);
        return bicubic(in, out, Double.NaN);
    }

    /**
     * Plain bicubic resampling matrix [out, in]. {@code scaleFactor} is the factor passed to
     * PyTorch (output/input), or NaN when PyTorch was given a size.
     */
    public static float[] bicubic(int in, int out, double scaleFactor) {
        check(in, out);
        float scale = !Double.isNaN(scaleFactor) && scaleFactor > 0 ? (float) (1.0 / scaleFactor) : (float) in / (float) out;
        final float a = -0.75f;
        float[] w = new float[out * in];
        for (int i = 0; i < out; i++) {
            float real = scale * ((float) i + 0.5f) - 0.5f;
            int idx = (int) Math.min((long) Math.floor(real), in - 1);
            float t = Math.min(Math.max(real - idx, 0f), 1f);
            float x2 = (float) (1.0 - t);
            float[] c = {
                    cubic2((float) (t + 1.0), a), cubic1(t, a), cubic1(x2, a), cubic2((float) (x2 + 1.0), a)
            };
            for (int j = 0; j < 4; j++) {
                int k = Math.min(Math.max(idx - 1 + j, 0), in - 1);
                w[i * in + k] += c[j];
            }
        }
        return w;
    }

    /** Antialiased bicubic resampling matrix [out, in] for a target size (PyTorch's antialias=True). */
    public static float[] antialiasedBicubic(int in, int out) {
        check(in, out);
        float scale = (float) in / (float) out;
        float support = scale >= 1f ? 2f * scale : 2f; // interp_size (4) * 0.5, stretched when shrinking
        float invscale = scale >= 1f ? (float) (1.0 / scale) : 1f;
        float[] w = new float[out * in];
        float[] tmp = new float[in];
        for (int i = 0; i < out; i++) {
            float center = (float) (scale * (i + 0.5));
            int xmin = (int) Math.max((long) ((center - support) + 0.5), 0L);
            int xsize = (int) (Math.min((long) ((center + support) + 0.5), (long) in) - xmin);
            float total = 0f;
            for (int j = 0; j < xsize; j++) {
                float v = aaFilter((float) (((float) (j + xmin) - center + 0.5) * invscale));
                tmp[j] = v;
                total += v;
            }
            for (int j = 0; j < xsize; j++) w[i * in + xmin + j] = total != 0f ? tmp[j] / total : tmp[j];
        }
        return w;
    }

    private static void check(int in, int out) {
        if (in <= 0 || out <= 0) throw new IllegalArgumentException("position-embedding interpolation: sizes must be positive, got " + in + " -> " + out);
    }

    private static float aaFilter(float x) {
        x = Math.abs(x);
        if (x < 1f) return cubic1(x, -0.5f);
        if (x < 2f) return cubic2(x, -0.5f);
        return 0f;
    }

    /** Cubic convolution kernel for |x| <= 1. */
    static float cubic1(float x, float a) { return ((a + 2) * x - (a + 3)) * x * x + 1; }

    /** Cubic convolution kernel for 1 < |x| < 2. */
    static float cubic2(float x, float a) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; }
}
