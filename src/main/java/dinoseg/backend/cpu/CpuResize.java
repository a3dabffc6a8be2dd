package dinoseg.backend.cpu;

import java.util.Arrays;

import dinoseg.backend.Bilinear;
import dinoseg.tensor.Tensor;

import static dinoseg.backend.cpu.CpuStorage.floats;
import static dinoseg.backend.cpu.CpuStorage.ints;

/** Bilinear resize (align_corners=false) on the CPU and its adjoint. */
public final class CpuResize {
    private CpuResize() { }

    /** {planes, H, W, OH, OW} of a resize from x [B, C, H, W] to out [B, C, OH, OW]. */
    private static int[] resizeShapes(Tensor x, Tensor out) {
        return new int[] {x.dim(0) * x.dim(1), x.dim(2), x.dim(3), out.dim(2), out.dim(3)};
    }

    /**
     * out = x resized bilinearly, align_corners=false. Separable: each input row a task needs is
     * interpolated along x once into a row buffer (rows are shared by neighbouring output rows when
     * upsampling), then every output row is the blend h0·row(y0) + h1·row(y1), a loop over contiguous
     * arrays that C2 vectorises. Each output is still h0·(wx0·a00 + wx1·a01) + h1·(wx0·a10 + wx1·a11),
     * evaluated in that order, so the bits are those of the direct four-tap formula.
     */
    static void resizeBilinear(Tensor x, Tensor out) {
        int[] g = resizeShapes(x, out);
        int planes = g[0], h = g[1], w = g[2], oh = g[3], ow = g[4];
        if (out.numel() == 0) return;
        float[] a = floats(x), o = floats(out);
        int[] y0 = new int[oh], y1 = new int[oh], x0 = new int[ow], x1 = new int[ow];
        float[] wy0 = new float[oh], wy1 = new float[oh], wx0 = new float[ow], wx1 = new float[ow];
        Bilinear.axisWeights(h, oh, y0, y1, wy0, wy1);
        Bilinear.axisWeights(w, ow, x0, x1, wx0, wx1);
        Parallel.forRange(planes * oh, 8L * ow, (s, e) -> {
            // rows of x interpolated along x: rowA holds input row keyA (plane·h + y), rowB keyB
            float[] rowA = new float[ow], rowB = new float[ow];
            long keyA = -1, keyB = -1;
            for (int t = s; t < e; t++) {
                int p = t / oh, oy = t % oh;
                long k0 = (long) p * h + y0[oy], k1 = (long) p * h + y1[oy];
                if (keyA != k0 && keyB == k0) {   // moving down: the lower row becomes the upper one
                    float[] r = rowA; rowA = rowB; rowB = r;
                    long k = keyA; keyA = keyB; keyB = k;
                }
                if (keyA != k0) {
                    horizontal(a, (int) k0 * w, x0, x1, wx0, wx1, rowA, ow);
                    keyA = k0;
                }
                if (k1 != k0 && keyB != k1) {
                    horizontal(a, (int) k1 * w, x0, x1, wx0, wx1, rowB, ow);
                    keyB = k1;
                }
                float[] r1 = k1 == k0 ? rowA : rowB;
                float h0 = wy0[oy], h1 = wy1[oy];
                int dst = t * ow;
                for (int ox = 0; ox < ow; ox++) o[dst + ox] = h0 * rowA[ox] + h1 * r1[ox];
            }
        });
    }

    /** row[ox] = wx0[ox]·a[src + x0[ox]] + wx1[ox]·a[src + x1[ox]]: one input row interpolated along x. */
    private static void horizontal(float[] a, int src, int[] x0, int[] x1, float[] wx0, float[] wx1, float[] row, int ow) {
        for (int ox = 0; ox < ow; ox++) row[ox] = wx0[ox] * a[src + x0[ox]] + wx1[ox] * a[src + x1[ox]];
    }

    /** gx = the adjoint of resizeBilinear applied to gout (overwritten). */
    static void resizeBilinearBackward(Tensor gout, Tensor gx) {
        int[] g = resizeShapes(gx, gout);
        int planes = g[0], h = g[1], w = g[2], oh = g[3], ow = g[4];
        float[] a = floats(gout), o = floats(gx);
        int[] y0 = new int[oh], y1 = new int[oh], x0 = new int[ow], x1 = new int[ow];
        float[] wy0 = new float[oh], wy1 = new float[oh], wx0 = new float[ow], wx1 = new float[ow];
        if (gout.numel() > 0) {
            Bilinear.axisWeights(h, oh, y0, y1, wy0, wy1);
            Bilinear.axisWeights(w, ow, x0, x1, wx0, wx1);
        }
        Parallel.forRange(planes, 8L * oh * ow, (s, e) -> {
            for (int p = s; p < e; p++) {
                int base = p * h * w;
                Arrays.fill(o, base, base + h * w, 0f);
                for (int oy = 0; oy < oh; oy++) {
                    int r0 = base + y0[oy] * w, r1 = base + y1[oy] * w;
                    float h0 = wy0[oy], h1 = wy1[oy];
                    int src = (p * oh + oy) * ow;
                    for (int ox = 0; ox < ow; ox++) {
                        float gv = a[src + ox];
                        int c0 = x0[ox], c1 = x1[ox];
                        o[r0 + c0] += h0 * wx0[ox] * gv;
                        o[r0 + c1] += h0 * wx1[ox] * gv;
                        o[r1 + c0] += h1 * wx0[ox] * gv;
                        o[r1 + c1] += h1 * wx1[ox] * gv;
                    }
                }
            }
        });
    }
}
