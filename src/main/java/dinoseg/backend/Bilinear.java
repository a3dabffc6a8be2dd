package dinoseg.backend;

/**
 * The sampling positions of bilinear resizing with {@code align_corners=False}, shared by the CPU
 * backend's resize op and the predictor's full-size upsampling so both follow PyTorch's
 * {@code F.interpolate(mode="bilinear")} to the same float rounding.
 */
public final class Bilinear {
    private Bilinear() { }

    /**
     * Source indices and weights along one axis, as PyTorch computes them in float:
     * src = max(scale*(dst+0.5)-0.5, 0) with scale = in/outSize, i0 = floor(src), i1 = i0 + (i0 &lt; in-1),
     * w1 = src - i0 (clamped to [0, 1]), w0 = 1 - w1. Output sample d reads {@code i0[d]} and
     * {@code i1[d]} with weights {@code w0[d]} and {@code w1[d]}.
     *
     * @param in      input length along the axis (pixels), at least 1
     * @param outSize output length along the axis (pixels); the four arrays hold at least that many entries
     */
    public static void axisWeights(int in, int outSize, int[] i0, int[] i1, float[] w0, float[] w1) {
        float scale = (float) in / outSize;
        for (int d = 0; d < outSize; d++) {
            float src = scale * (d + 0.5f) - 0.5f;
            if (src < 0f) src = 0f;
            int lo = Math.min((int) src, in - 1);
            int hi = lo + (lo < in - 1 ? 1 : 0);
            float l1 = Math.min(Math.max(src - lo, 0f), 1f);
            i0[d] = lo;
            i1[d] = hi;
            w1[d] = l1;
            w0[d] = 1f - l1;
        }
    }
}
