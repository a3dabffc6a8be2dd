package dinoseg.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;

import org.junit.jupiter.api.Test;

import dinoseg.tensor.Shape;

/**
 * The index descriptors CudaBackend hands to the broadcasting, reduction and permutation kernels,
 * evaluated in Java exactly as the kernels' ds_offset does, against naive index arithmetic on
 * random shapes. Runs without a GPU.
 */
class DimsTest {
    private final Random rnd = new Random(42);

    private int[] randomDims(int rank) {
        int[] d = new int[rank];
        for (int i = 0; i < rank; i++) d[i] = 1 + rnd.nextInt(4);
        return d;
    }

    /** Row-major multi-index of linear index i. */
    private static int[] unravel(long i, int[] dims) {
        int[] idx = new int[dims.length];
        for (int k = dims.length - 1; k >= 0; k--) { idx[k] = (int) (i % dims[k]); i /= dims[k]; }
        return idx;
    }

    private static long ravel(int[] idx, int[] dims) {
        long r = 0;
        for (int k = 0; k < dims.length; k++) r = r * dims[k] + idx[k];
        return r;
    }

    /** A shape that broadcasts to a: a suffix of a's dims with some set to 1. */
    private int[] broadcastable(int[] a) {
        int rank = rnd.nextInt(a.length + 1);
        int[] b = new int[rank];
        for (int i = 0; i < rank; i++) b[i] = rnd.nextInt(3) == 0 ? 1 : a[a.length - rank + i];
        return b;
    }

    /** Index into b (right-aligned, broadcast) of a's multi-index. */
    private static long broadcastIndex(int[] aIdx, int[] b) {
        int off = aIdx.length - b.length;
        long r = 0;
        for (int k = 0; k < b.length; k++) r = r * b[k] + (b[k] == 1 ? 0 : aIdx[off + k]);
        return r;
    }

    @Test
    void broadcastDescriptorMatchesNaiveIndexing() {
        for (int trial = 0; trial < 300; trial++) {
            int[] a = randomDims(1 + rnd.nextInt(6)), b = broadcastable(a);
            long[] desc = Dims.broadcast("t", Shape.of(a), Shape.of(b));
            long n = Shape.of(a).numel();
            for (long i = 0; i < n; i++)
                assertEquals(broadcastIndex(unravel(i, a), b), Dims.offset(desc, i), "a " + Shape.of(a) + " b " + Shape.of(b) + " i " + i);
        }
    }

    @Test
    void sumToDescriptorsVisitEveryInputOnceForItsOutput() {
        for (int trial = 0; trial < 300; trial++) {
            int[] x = randomDims(1 + rnd.nextInt(6)), out = broadcastable(x);
            Shape xs = Shape.of(x), os = Shape.of(out);
            long[][] d = Dims.sumTo("t", xs, os);
            long nOut = os.numel(), r = xs.numel() / nOut;
            int[] seen = new int[(int) xs.numel()];
            for (long o = 0; o < nOut; o++)
                for (long k = 0; k < r; k++) {
                    long xi = Dims.offset(d[0], o) + Dims.offset(d[1], k);
                    seen[(int) xi]++;
                    assertEquals(o, broadcastIndex(unravel(xi, x), out), "x " + xs + " out " + os);
                }
            for (int c : seen) assertEquals(1, c, "x " + xs + " out " + os);
        }
    }

    @Test
    void permuteDescriptorMatchesNaiveIndexing() {
        for (int trial = 0; trial < 300; trial++) {
            int rank = 1 + rnd.nextInt(6);
            int[] x = randomDims(rank);
            int[] perm = new int[rank];
            for (int i = 0; i < rank; i++) perm[i] = i;
            for (int i = rank - 1; i > 0; i--) { int j = rnd.nextInt(i + 1); int t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
            int[] od = new int[rank];
            for (int i = 0; i < rank; i++) od[i] = x[perm[i]];
            long[] desc = Dims.permute("t", Shape.of(x), perm);
            long n = Shape.of(x).numel();
            for (long i = 0; i < n; i++) {
                int[] oi = unravel(i, od), xi = new int[rank];
                for (int k = 0; k < rank; k++) xi[perm[k]] = oi[k];
                assertEquals(ravel(xi, x), Dims.offset(desc, i));
            }
        }
    }
}
