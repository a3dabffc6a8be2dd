package dinoseg.backend.cpu;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The parts of {@link VectorGemm} that the public GEMM reaches only on large products: k cut into
 * chunks of the packing buffer (beta must apply once, before the first chunk), several slabs per
 * chunk, C cut in halves when one slab is over the buffer's limit, and the tile grid. Needs the Vector API kernel (Maven's tests run with it).
 */
class VectorGemmTest {
    private static void check(boolean ta, boolean tb, int m, int n, int k, float alpha, float beta, int batch,
                              boolean parallel, long packFloats) {
        int pad = 3, off = 5;
        int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
        int lda = aCols + pad, ldb = bCols + 1, ldc = n + 2;
        int sA = aRows * lda + 7, sB = bRows * ldb + 1, sC = m * ldc + 4;
        float[] a = CpuGemmTest.random(off + batch * sA, 11), b = CpuGemmTest.random(off + batch * sB, 12);
        float[] c = CpuGemmTest.random(off + batch * sC, 13);
        float[] want = CpuGemmTest.reference(ta, tb, m, n, k, alpha, a, off, lda, sA, b, off, ldb, sB, beta, c, off, ldc, sC, batch);
        VectorGemm.gemm(ta, tb, m, n, k, alpha, a, off, lda, sA, b, off, ldb, sB, beta, c, off, ldc, sC, batch, parallel, packFloats);
        String what = "ta=" + ta + " tb=" + tb + " " + m + "x" + n + "x" + k + " batch=" + batch + " pack=" + packFloats;
        for (int i = 0; i < c.length; i++) assertEquals(want[i], c[i], 1e-5 * k + 1e-6, what + " at " + i);
    }

    /** Chunks of one slab, of two, all of k; C cut in halves (a few times; down to micro-panels). */
    @Test void kInChunksOfOneSlabAndOfTwoAppliesBetaOnce() {
        assumeTrue(CpuGemm.VECTOR_AVAILABLE, "needs --add-modules jdk.incubator.vector");
        int m = 37, n = 70, k = 2 * VectorGemm.KC + 41;
        long padded = (long) ((m + VectorGemm.MR - 1) / VectorGemm.MR * VectorGemm.MR)
                + (n + VectorGemm.NR - 1) / VectorGemm.NR * VectorGemm.NR;
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true})
                for (long pack : new long[] {padded * VectorGemm.KC, padded * 2 * VectorGemm.KC, Long.MAX_VALUE,
                        padded * VectorGemm.KC / 3, 1})
                    for (boolean parallel : new boolean[] {false, true})
                        check(ta, tb, m, n, k, -1.25f, 0.5f, 2, parallel, pack);
    }

    @Test void betaZeroWithChunksDoesNotKeepOldC() {
        assumeTrue(CpuGemm.VECTOR_AVAILABLE, "needs --add-modules jdk.incubator.vector");
        check(false, true, 50, 40, VectorGemm.KC * 3, 1f, 0f, 1, true, 1);
        check(true, false, 50, 40, VectorGemm.KC * 3, 1f, 0f, 1, true, 100L * VectorGemm.KC);
    }

    @Test void gridIsShapedLikeCAndFitsItsMicroPanels() {
        assumeTrue(CpuGemm.VECTOR_AVAILABLE, "needs --add-modules jdk.incubator.vector");
        int mr = VectorGemm.MR, nr = VectorGemm.NR;
        for (int m : new int[] {1, 6, 7, 257, 1152, 2117, 8468})
            for (int n : new int[] {1, 33, 384, 1152, 1536})
                for (int want : new int[] {1, 2, 6, 12}) {
                    int[] g = VectorGemm.grid(m, n, want);
                    String what = m + "x" + n + " want " + want + ": " + g[0] + "x" + g[1];
                    assertTrue(g[0] >= 1 && g[0] <= (m + mr - 1) / mr, what);
                    assertTrue(g[1] >= 1 && g[1] <= (n + nr - 1) / nr, what);
                    if (want == 1) assertEquals(1, g[0] * g[1], what);
                    // enough tiles whenever C has enough micro-panels
                    if ((long) ((m + mr - 1) / mr) * ((n + nr - 1) / nr) >= 4L * want) assertTrue(g[0] * g[1] >= want, what);
                }
        // tall C is cut into rows, wide C into columns
        assertArrayEquals(new int[] {6, 1}, VectorGemm.grid(2117, 384, 6));
        assertArrayEquals(new int[] {1, 6}, VectorGemm.grid(257, 1152, 6));
        assertArrayEquals(new int[] {3, 2}, VectorGemm.grid(2117, 1152, 6));
    }
}
