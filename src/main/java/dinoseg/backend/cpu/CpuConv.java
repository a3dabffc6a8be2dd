package dinoseg.backend.cpu;

import java.util.Arrays;

import dinoseg.backend.OpContract.Conv;
import dinoseg.tensor.Tensor;

import static dinoseg.backend.cpu.CpuStorage.floats;
import static dinoseg.backend.cpu.CpuStorage.ints;

/** The convolution helpers on the CPU: im2col and its adjoint col2im. */
final class CpuConv {
    private CpuConv() { }

    /** cols [B, OH*OW, C*kh*kw] = the unfolded patches of x [B, C, H, W] (geometry g from OpContract.im2col). */
    static void im2col(Tensor x, int kh, int kw, int stride, int pad, Tensor cols, Conv g) {
        int b = g.b(), c = g.c(), h = g.h(), w = g.w(), oh = g.oh(), ow = g.ow();
        float[] a = floats(x), o = floats(cols);
        int rowLen = c * kh * kw;
        Parallel.forRange(b * oh, (long) ow * rowLen, (s, e) -> {
            for (int t = s; t < e; t++) {
                int bi = t / oh, oy = t % oh;
                for (int ox = 0; ox < ow; ox++) {
                    int dst = ((bi * oh + oy) * ow + ox) * rowLen;
                    for (int ci = 0; ci < c; ci++) {
                        int plane = (bi * c + ci) * h * w;
                        for (int ky = 0; ky < kh; ky++) {
                            int iy = oy * stride - pad + ky;
                            int d = dst + (ci * kh + ky) * kw;
                            if (iy < 0 || iy >= h) { Arrays.fill(o, d, d + kw, 0f); continue; }
                            int rowBase = plane + iy * w;
                            int ix0 = ox * stride - pad;
                            if (ix0 >= 0 && ix0 + kw <= w) System.arraycopy(a, rowBase + ix0, o, d, kw);
                            else for (int kx = 0; kx < kw; kx++) {
                                int ix = ix0 + kx;
                                o[d + kx] = ix >= 0 && ix < w ? a[rowBase + ix] : 0f;
                            }
                        }
                    }
                }
            }
        });
    }

    /** gx [B, C, H, W] = the folded sum of cols (the adjoint of im2col). */
    static void col2im(Tensor cols, int kh, int kw, int stride, int pad, Tensor gx, Conv g) {
        int b = g.b(), c = g.c(), h = g.h(), w = g.w(), oh = g.oh(), ow = g.ow();
        float[] a = floats(cols), o = floats(gx);
        int rowLen = c * kh * kw;
        Parallel.forRange(b * c, (long) oh * ow * kh * kw, (s, e) -> {
            for (int t = s; t < e; t++) {
                int bi = t / c, ci = t % c;
                int plane = t * h * w;
                Arrays.fill(o, plane, plane + h * w, 0f);
                for (int oy = 0; oy < oh; oy++) {
                    for (int ox = 0; ox < ow; ox++) {
                        int src = ((bi * oh + oy) * ow + ox) * rowLen + ci * kh * kw;
                        for (int ky = 0; ky < kh; ky++) {
                            int iy = oy * stride - pad + ky;
                            if (iy < 0 || iy >= h) continue;
                            int rowBase = plane + iy * w;
                            for (int kx = 0; kx < kw; kx++) {
                                int ix = ox * stride - pad + kx;
                                if (ix >= 0 && ix < w) o[rowBase + ix] += a[src + ky * kw + kx];
                            }
                        }
                    }
                }
            }
        });
    }
}
