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

    /** out = x resized bilinearly, align_corners=false. */
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
            for (int t = s; t < e; t++) {
                int p = t / oh, oy = t % oh;
                int src = p * h * w, r0 = src + y0[oy] * w, r1 = src + y1[oy] * w;
                float h0 = wy0[oy], h1 = wy1[oy];
                int dst = t * ow;
                for (int ox = 0; ox < ow; ox++) {
                    int c0 = x0[ox], c1 = x1[ox];
                    o[dst + ox] = h0 * (wx0[ox] * a[r0 + c0] + wx1[ox] * a[r0 + c1])
                            + h1 * (wx0[ox] * a[r1 + c0] + wx1[ox] * a[r1 + c1]);
                }
            }
        });
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
