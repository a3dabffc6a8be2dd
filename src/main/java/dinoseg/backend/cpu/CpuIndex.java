package dinoseg.backend.cpu;

import dinoseg.tensor.Shape;

import static dinoseg.backend.cpu.CpuStorage.floats;
import static dinoseg.backend.cpu.CpuStorage.ints;

/** Index helpers shared by the CPU ops: broadcast strides and row-major multi-index stepping. */
final class CpuIndex {
    private CpuIndex() { }

    /** Strides of {@code small} aligned right against {@code big}'s rank, 0 where small broadcasts. */
    static long[] broadcastStrides(Shape big, Shape small) {
        int r = big.rank(), off = r - small.rank();
        long[] st = new long[r];
        long[] ss = small.strides();
        for (int i = 0; i < small.rank(); i++) st[off + i] = small.dim(i) == 1 ? 0 : ss[i];
        return st;
    }

    /** Length L when small (leading ones dropped) equals big's trailing dims, so small[j] pairs with big[r*L + j]; else -1. */
    static long trailingLength(Shape big, Shape small) {
        int s = 0;
        while (s < small.rank() && small.dim(s) == 1) s++;
        int off = big.rank() - small.rank();
        for (int i = s; i < small.rank(); i++) if (small.dim(i) != big.dim(off + i)) return -1;
        return small.numel();
    }

    /**
     * Length L when small, right-aligned to big, equals big's leading dims followed by ones only
     * (small[i] pairs with big[i*L .. i*L + L): a row sum), so [n, k] -> [n, 1] gives k; else -1.
     */
    static long leadingLength(Shape big, Shape small) {
        int r = big.rank(), off = r - small.rank(), j = 0;
        while (j < r && (j < off ? 1 : small.dim(j - off)) == big.dim(j)) j++;
        for (int d = j; d < r; d++) if (d >= off && small.dim(d - off) != 1) return -1;
        long inner = 1;
        for (int d = j; d < r; d++) inner *= big.dim(d);
        return inner;
    }

    /** idx[0..count) = multi-index of flat row r over dims[0..count). */
    static void unravel(long r, int[] dims, int count, int[] idx) {
        for (int i = count - 1; i >= 0; i--) {
            idx[i] = (int) (r % dims[i]);
            r /= dims[i];
        }
    }

    static void increment(int[] idx, int[] dims, int count) {
        for (int i = count - 1; i >= 0; i--) {
            if (++idx[i] < dims[i]) return;
            idx[i] = 0;
        }
    }
}
