package dinoseg.backend.cpu;

import dinoseg.backend.MatrixView;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * GEMM against a double-precision reference with the default kernel (the Vector API one when the
 * JVM has jdk.incubator.vector, as under Maven); {@link CpuGemmScalarTest} reruns every case on the
 * scalar fallback.
 */
class CpuGemmTest {
    final CpuBackend be = backend();

    /** The backend under test. */
    CpuBackend backend() { return new CpuBackend(); }

    /** Whether {@link #backend()} should run the Vector API kernel. */
    boolean expectVector() {
        return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent() && !Boolean.getBoolean("dinoseg.gemm.scalar");
    }

    static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() * 2 - 1);
        return a;
    }

    /** Reference: C_i = alpha op(A_i) op(B_i) + beta C_i in double, beta == 0 not reading C. */
    static float[] reference(boolean ta, boolean tb, int m, int n, int k, float alpha,
                                     float[] a, int offA, int lda, int sA, float[] b, int offB, int ldb, int sB,
                                     float beta, float[] c, int offC, int ldc, int sC, int batch) {
        float[] out = c.clone();
        for (int bi = 0; bi < batch; bi++) {
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) {
                        double av = ta ? a[offA + bi * sA + p * lda + i] : a[offA + bi * sA + i * lda + p];
                        double bv = tb ? b[offB + bi * sB + j * ldb + p] : b[offB + bi * sB + p * ldb + j];
                        s += av * bv;
                    }
                    int ci = offC + bi * sC + i * ldc + j;
                    out[ci] = (float) (alpha * s + (beta == 0 ? 0 : beta * (double) c[ci]));
                }
            }
        }
        return out;
    }

    private void check(boolean ta, boolean tb, int m, int n, int k, float alpha, float beta, int batch,
                       int padA, int padB, int padC, int offA, int offB, int offC, boolean shareA, boolean shareB, boolean nanC) {
        int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
        int lda = aCols + padA, ldb = bCols + padB, ldc = n + padC;
        int sA = shareA ? 0 : aRows * lda + 3, sB = shareB ? 0 : bRows * ldb + 5, sC = m * ldc + 2;
        float[] a = random(offA + Math.max(1, batch) * Math.max(sA, aRows * lda) + 8, 1 + m * 31L + k);
        float[] b = random(offB + Math.max(1, batch) * Math.max(sB, bRows * ldb) + 8, 2 + n * 17L + k);
        float[] c = random(offC + batch * sC + 4, 3);
        if (nanC) java.util.Arrays.fill(c, Float.NaN);
        float[] expect = reference(ta, tb, m, n, k, alpha, a, offA, lda, sA, b, offB, ldb, sB, beta, c, offC, ldc, sC, batch);
        Tensor ta_ = be.fromFloats(a, Shape.of(a.length)), tb_ = be.fromFloats(b, Shape.of(b.length));
        Tensor tc = be.fromFloats(c, Shape.of(c.length));
        be.gemm(m, n, k, alpha, MatrixView.of(ta_, lda).at(offA).batched(sA).t(ta), MatrixView.of(tb_, ldb).at(offB).batched(sB).t(tb), beta, MatrixView.of(tc, ldc).at(offC).batched(sC), batch);
        float[] got = be.toFloats(tc);
        String what = "ta=" + ta + " tb=" + tb + " m=" + m + " n=" + n + " k=" + k + " batch=" + batch;
        for (int i = 0; i < got.length; i++) {
            if (nanC && Float.isNaN(expect[i])) { assertTrue(Float.isNaN(got[i]), what + " untouched C at " + i); continue; }
            double tol = 1e-5 * Math.max(1, k) + 1e-6;
            assertEquals(expect[i], got[i], tol, what + " at " + i);
        }
    }

    @Test void allTransposesOddSizes() {
        int[] sizes = {1, 3, 17, 65, 129};
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true})
                for (int m : sizes)
                    for (int n : new int[] {1, 5, 33, 130})
                        for (int k : new int[] {1, 7, 64, 259})
                            check(ta, tb, m, n, k, 1f, 0f, 1, 0, 0, 0, 0, 0, 0, false, false, false);
    }

    @Test void largeEnoughForEveryBlockAndThread() {
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true})
                check(ta, tb, 211, 600, 530, 0.5f, 0f, 1, 0, 0, 0, 0, 0, 0, false, false, false);
    }

    @Test void widerThanOnePanelAndDeeperThanOneSlab() {
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true})
                check(ta, tb, 5, CpuGemm.NC + 77, CpuGemm.KC + 13, 1f, 0.25f, 1, 1, 2, 3, 4, 5, 6, false, false, false);
    }

    @Test void moreThanOneVectorBlockInEveryDimension() {
        // VectorGemm: MC=240 rows, KC=256 deep, NC=1024 wide (AVX-512); ragged 6×32 edges everywhere
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true})
                check(ta, tb, 247, 1024 + 45, 256 + 13, 0.75f, 0.5f, 1, 2, 1, 3, 1, 2, 3, false, false, false);
    }

    @Test void tallAndWideSplitAcrossThreads() {
        // the vector path shapes its tile grid like C: one column of tiles for tall C, one row for wide C
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true}) {
                check(ta, tb, 7, 700, 300, 1f, 0f, 1, 1, 0, 2, 0, 3, 0, false, false, false);
                check(ta, tb, 700, 7, 300, 1f, 0.5f, 1, 0, 1, 0, 2, 0, 3, false, false, false);
                check(ta, tb, 131, 263, 97, 2f, 0f, 1, 0, 0, 0, 0, 0, 0, false, false, false);
            }
    }

    @Test void batchEntriesTooFewForTheThreadsRunOneAfterAnother() {
        // 3 entries on 2 threads: entries in turn, each split across the threads
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true})
                check(ta, tb, 70, 90, 100, 1f, 0.5f, 3, 1, 2, 3, 4, 5, 6, false, ta, false);
    }

    @Test void kernelIsTheExpectedOneAndNamed() {
        String kernel = be.gemmKernel();
        assertTrue(kernel.startsWith(expectVector() ? "vector 6x" : "scalar"), kernel);
        assertTrue(be.name().contains(kernel), be.name());
    }

    @Test void rowCutsAreAlignedAndCoverEveryRow() {
        for (int m : new int[] {1, 5, 6, 7, 100, 2048, 2117})
            for (int parts : new int[] {1, 2, 3, 6, 7})
                for (int align : new int[] {1, 6, 32}) {
                    assertEquals(0, CpuGemm.cut(m, 0, parts, align));
                    assertEquals(m, CpuGemm.cut(m, parts, parts, align));
                    for (int i = 1; i < parts; i++) {
                        int x = CpuGemm.cut(m, i, parts, align);
                        assertEquals(0, x % align, m + " " + parts + " " + align);
                        assertTrue(x >= CpuGemm.cut(m, i - 1, parts, align) && x <= m, m + " " + parts + " " + align);
                    }
                }
    }

    @Test void offsetsLeadingDimsAlphaBeta() {
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true})
                check(ta, tb, 37, 29, 45, -1.5f, 0.75f, 1, 3, 5, 7, 11, 13, 17, false, false, false);
        check(false, false, 20, 20, 20, 2f, 1f, 1, 1, 1, 1, 1, 1, 1, false, false, false);
    }

    @Test void batchesWithStridesAndStrideZero() {
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true}) {
                check(ta, tb, 19, 23, 31, 1f, 0.5f, 4, 2, 1, 3, 5, 7, 9, false, false, false);
                check(ta, tb, 19, 23, 31, 1f, 0f, 3, 0, 0, 0, 0, 0, 0, true, false, false);
                check(ta, tb, 19, 23, 31, 1f, 0f, 3, 0, 0, 0, 0, 0, 0, false, true, false);
                check(ta, tb, 64, 96, 70, 1f, 0f, 6, 0, 0, 0, 0, 0, 0, false, false, false);
            }
    }

    @Test void betaZeroDoesNotReadC() {
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true})
                check(ta, tb, 33, 70, 40, 1f, 0f, 2, 1, 2, 3, 0, 0, 0, false, false, true);
    }

    @Test void kZeroScalesC() {
        float[] c = {1, 2, 3, 4};
        Tensor tc = be.fromFloats(c, Shape.of(2, 2));
        Tensor a = be.zeros(Shape.of(1)), b = be.zeros(Shape.of(1));
        be.gemm(2, 2, 0, 1f, MatrixView.of(a, 1), MatrixView.of(b, 2), 2f, MatrixView.of(tc, 2), 1);
        assertArrayEquals(new float[] {2, 4, 6, 8}, be.toFloats(tc));
        be.gemm(2, 2, 0, 1f, MatrixView.of(a, 1), MatrixView.of(b, 2), 0f, MatrixView.of(tc, 2), 1);
        assertArrayEquals(new float[] {0, 0, 0, 0}, be.toFloats(tc));
    }

    @Test void outOfRangeIsAnErrorNamingTheOp() {
        Tensor a = be.zeros(Shape.of(4, 4)), b = be.zeros(Shape.of(4, 4)), c = be.zeros(Shape.of(4, 3));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> be.gemm(4, 4, 4, 1f, MatrixView.of(a, 4), MatrixView.of(b, 4), 0f, MatrixView.of(c, 4), 1));
        assertTrue(e.getMessage().startsWith("gemm:"), e.getMessage());
        assertTrue(e.getMessage().contains("[4, 3]"), e.getMessage());
    }
}
