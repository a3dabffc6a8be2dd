package dinoseg.backend.cpu;

import java.util.Arrays;

import dinoseg.tensor.DType;
import dinoseg.tensor.Tensor;

import static dinoseg.backend.cpu.CpuStorage.floats;
import static dinoseg.backend.cpu.CpuStorage.ints;
import static dinoseg.backend.cpu.CpuIndex.increment;
import static dinoseg.backend.cpu.CpuIndex.unravel;

/** Layout ops on the CPU: strided block copies, axis permutation, horizontal flip. */
final class CpuLayout {
    private CpuLayout() { }

    /** Block copy (see Backend.copyBlocks) of at least one non-empty block, checked by OpContract. */
    static void copyBlocks(Tensor src, long srcOff, long srcStride, Tensor dst, long dstOff, long dstStride,
                                     int rows, long rowLen, boolean accumulate) {
        int len = (int) rowLen;
        if (src.dtype() == DType.I32) {
            int[] s = ints(src), d = ints(dst);
            Parallel.forRange(rows, len, (a, e) -> {
                for (int r = a; r < e; r++) {
                    int so = (int) (srcOff + r * srcStride), dO = (int) (dstOff + r * dstStride);
                    if (accumulate) for (int j = 0; j < len; j++) d[dO + j] += s[so + j];
                    else System.arraycopy(s, so, d, dO, len);
                }
            });
            return;
        }
        float[] s = floats(src), d = floats(dst);
        Parallel.forRange(rows, len, (a, e) -> {
            for (int r = a; r < e; r++) {
                int so = (int) (srcOff + r * srcStride), dO = (int) (dstOff + r * dstStride);
                if (accumulate) for (int j = 0; j < len; j++) d[dO + j] += s[so + j];
                else System.arraycopy(s, so, d, dO, len);
            }
        });
    }

    /** out (dims {@code od}) = x with its axes permuted by perm. */
    static void permute(Tensor x, int[] perm, int[] od, Tensor out) {
        int rank = x.rank();
        if (x.numel() == 0) return;
        long[] xs = x.shape().strides();
        long[] ps = new long[rank];
        for (int i = 0; i < rank; i++) ps[i] = xs[perm[i]];
        boolean isFloat = x.dtype() == DType.F32;
        float[] fa = isFloat ? floats(x) : null, fo = isFloat ? floats(out) : null;
        int[] ia = isFloat ? null : ints(x), io = isFloat ? null : ints(out);
        if (rank == 0) {
            if (isFloat) fo[0] = fa[0];
            else io[0] = ia[0];
            return;
        }
        int last = od[rank - 1];
        long lastStride = ps[rank - 1];
        int rows = (int) (x.numel() / last);
        Parallel.forRange(rows, last, (s, e) -> {
            int[] idx = new int[rank];
            unravel(s, od, rank - 1, idx);
            for (int r = s; r < e; r++) {
                long src = 0;
                for (int i = 0; i < rank - 1; i++) src += idx[i] * ps[i];
                int dst = r * last;
                int si = (int) src;
                if (lastStride == 1) {
                    if (isFloat) System.arraycopy(fa, si, fo, dst, last);
                    else System.arraycopy(ia, si, io, dst, last);
                } else {
                    int st = (int) lastStride;
                    if (isFloat) for (int j = 0; j < last; j++) fo[dst + j] = fa[si + j * st];
                    else for (int j = 0; j < last; j++) io[dst + j] = ia[si + j * st];
                }
                increment(idx, od, rank - 1);
            }
        });
    }

    /** out = x reversed along its last dimension. */
    static void flipLastDim(Tensor x, Tensor out) {
        int w = x.dim(-1);
        if (w == 0 || x.numel() == 0) return;
        int rows = (int) (x.numel() / w);
        if (x.dtype() == DType.F32) {
            float[] a = floats(x), o = floats(out);
            Parallel.forRange(rows, w, (s, e) -> {
                for (int r = s; r < e; r++) {
                    int base = r * w, last = base + w - 1;
                    for (int j = 0; j < w; j++) o[base + j] = a[last - j];
                }
            });
        } else {
            int[] a = ints(x), o = ints(out);
            Parallel.forRange(rows, w, (s, e) -> {
                for (int r = s; r < e; r++) {
                    int base = r * w, last = base + w - 1;
                    for (int j = 0; j < w; j++) o[base + j] = a[last - j];
                }
            });
        }
    }
}
