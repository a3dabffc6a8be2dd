package dinoseg.backend.cpu;

import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Fused attention against softmax(Q Kᵀ · scale) V and its gradients computed naively in double: the
 * backend's path (the Vector API kernels of {@link VectorAttention} when the module is present, as
 * under Maven) and the {@link RowOps} fallback of {@link CpuAttention}, on token counts around every
 * tile edge of both (6-row register tiles, 16/32-key panels, 96/126-row query blocks, 64/256-key blocks).
 */
class CpuAttentionTest {
    private final CpuBackend be = new CpuBackend();

    private static float[] random(int n, long seed, double amp) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) ((r.nextDouble() * 2 - 1) * amp);
        return a;
    }

    /** Returns {out [B,N,H*D], lse [B,H,N], gqkv [B,N,3HD]} in double. */
    private static double[][] naive(float[] qkv, float[] gout, int b, int n, int h, int d, double scale) {
        int hd = h * d, row = 3 * hd;
        double[] out = new double[b * n * hd], lse = new double[b * h * n], g = new double[qkv.length];
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++) {
                double[][] q = new double[n][d], k = new double[n][d], v = new double[n][d], dO = new double[n][d];
                for (int i = 0; i < n; i++)
                    for (int x = 0; x < d; x++) {
                        int base = (bi * n + i) * row + hi * d + x;
                        q[i][x] = qkv[base];
                        k[i][x] = qkv[base + hd];
                        v[i][x] = qkv[base + 2 * hd];
                        dO[i][x] = gout[(bi * n + i) * hd + hi * d + x];
                    }
                double[][] p = new double[n][n];
                for (int i = 0; i < n; i++) {
                    double mx = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < n; j++) {
                        double s = 0;
                        for (int x = 0; x < d; x++) s += q[i][x] * k[j][x];
                        p[i][j] = s * scale;
                        mx = Math.max(mx, p[i][j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < n; j++) sum += Math.exp(p[i][j] - mx);
                    double l = mx + Math.log(sum);
                    lse[(bi * h + hi) * n + i] = l;
                    for (int j = 0; j < n; j++) p[i][j] = Math.exp(p[i][j] - l);
                    for (int x = 0; x < d; x++) {
                        double o = 0;
                        for (int j = 0; j < n; j++) o += p[i][j] * v[j][x];
                        out[(bi * n + i) * hd + hi * d + x] = o;
                    }
                }
                // backward
                for (int i = 0; i < n; i++) {
                    double[] dp = new double[n];
                    double dot = 0;
                    for (int j = 0; j < n; j++) {
                        double s = 0;
                        for (int x = 0; x < d; x++) s += dO[i][x] * v[j][x];
                        dp[j] = s;
                        dot += s * p[i][j];
                    }
                    for (int j = 0; j < n; j++) {
                        double ds = p[i][j] * (dp[j] - dot) * scale;
                        for (int x = 0; x < d; x++) {
                            g[(bi * n + i) * row + hi * d + x] += ds * k[j][x];
                            g[(bi * n + j) * row + hd + hi * d + x] += ds * q[i][x];
                            g[(bi * n + j) * row + 2 * hd + hi * d + x] += p[i][j] * dO[i][x];
                        }
                    }
                }
            }
        return new double[][] {out, lse, g};
    }

    private void check(int b, int n, int h, int d, double amp) {
        int hd = h * d;
        float scale = (float) (1 / Math.sqrt(d));
        float[] qkvA = random(b * n * 3 * hd, 7 + n * 13L + h, amp), goutA = random(b * n * hd, 11 + n, 1);
        double[][] ref = naive(qkvA, goutA, b, n, h, d, scale);
        Tensor qkv = be.fromFloats(qkvA, Shape.of(b, n, 3 * hd));
        Tensor out = be.empty(Shape.of(b, n, hd)), lse = be.empty(Shape.of(b, h, n));
        be.attention(qkv, h, scale, out, lse);
        String what = "B=" + b + " N=" + n + " H=" + h + " D=" + d;
        assertClose(ref[0], be.toFloats(out), 2e-5, what + " out");
        assertClose(ref[1], be.toFloats(lse), 2e-5, what + " lse");
        Tensor gqkv = be.full(Shape.of(b, n, 3 * hd), Float.NaN);
        be.attentionBackward(qkv, out, lse, be.fromFloats(goutA, Shape.of(b, n, hd)), h, scale, gqkv);
        assertClose(ref[2], be.toFloats(gqkv), 5e-5, what + " gqkv");
        // the fallback path on the same data
        float[] o2 = new float[b * n * hd], l2 = new float[b * h * n], g2 = new float[qkvA.length];
        java.util.Arrays.fill(g2, Float.NaN);
        CpuAttention.forwardRows(qkvA, b, n, h, d, scale, o2, l2, false);
        CpuAttention.backwardRows(qkvA, o2, l2, goutA, b, n, h, d, scale, g2, false);
        assertClose(ref[0], o2, 2e-5, what + " out (fallback)");
        assertClose(ref[1], l2, 2e-5, what + " lse (fallback)");
        assertClose(ref[2], g2, 5e-5, what + " gqkv (fallback)");
    }

    private static void assertClose(double[] expect, float[] got, double tol, String what) {
        assertEquals(expect.length, got.length, what);
        for (int i = 0; i < got.length; i++)
            assertEquals(expect[i], got[i], tol * (1 + Math.abs(expect[i])), what + " at " + i);
    }

    @Test void singleToken() { check(1, 1, 1, 8, 1); }

    @Test void smallOddTokenCounts() {
        check(1, 7, 2, 8, 1);
        check(2, 37, 3, 16, 1);
    }

    @Test void tokenCountsAcrossBlockBoundaries() {
        check(1, CpuAttention.BQ, 1, 8, 1);
        check(2, CpuAttention.BK + 1, 2, 4, 1);
        check(1, 2 * CpuAttention.BQ + 5, 3, 16, 1);
    }

    @Test void largeScoresStayStable() {
        check(1, 70, 2, 8, 6);
    }

    @Test void dinoHeadSize() { check(1, 97, 2, 64, 0.5); }

    @Test void raggedTokenCountsAroundTheVectorTiles() {
        for (int n : new int[]{2, 5, 6, 7, 15, 16, 17, 31, 33, 65, 95, 97, 127})
            check(1, n, 2, 8, 1);
    }

    @Test void vitSmallShapes() {
        check(1, 257, 2, 64, 0.5);   // 224 px: 16×16 patches + cls; ragged against every tile
        check(2, 130, 1, 64, 0.5);   // batch > 1
    }

    @Test void otherHeadSizes() {
        check(2, 45, 2, 32, 0.7);
        check(1, 70, 2, 80, 0.7);    // head dim past one 32-lane panel, not a multiple of 6
        check(1, 40, 3, 3, 1);       // fewer channels than a vector
    }

    @Test void longSequencesCrossKeyBlocks() {
        check(1, 300, 1, 16, 1);     // two 256-key forward blocks, five 64-key backward blocks
        check(1, 513, 1, 8, 1);
    }

    @Test void largeScoresAcrossKeyBlocks() {
        // scores up to about ±35: later key blocks rescale earlier ones by factors down to ~e^-30
        // (amplitude 6 here loses 1e-4 to fp32 rounding of the scores in both paths alike)
        check(1, 300, 2, 8, 3.5);
    }

    /** Every (batch, head) is computed on its own: a batch entry's results do not depend on its neighbours. */
    @Test void batchEntriesAreIndependentAndRunsRepeatBitwise() {
        int n = 97, h = 3, d = 64, hd = h * d;
        float scale = 0.125f;
        float[] two = random(2 * n * 3 * hd, 5, 1), gTwo = random(2 * n * hd, 6, 1);
        float[] one = java.util.Arrays.copyOfRange(two, n * 3 * hd, 2 * n * 3 * hd);
        float[] gOne = java.util.Arrays.copyOfRange(gTwo, n * hd, 2 * n * hd);
        float[][] rTwo = run(two, gTwo, 2, n, h, scale), rTwoAgain = run(two, gTwo, 2, n, h, scale), rOne = run(one, gOne, 1, n, h, scale);
        for (int k = 0; k < 3; k++) assertArrayEquals(rTwo[k], rTwoAgain[k], "repeat " + k);
        assertArrayEquals(java.util.Arrays.copyOfRange(rTwo[0], n * hd, 2 * n * hd), rOne[0], "out");
        assertArrayEquals(java.util.Arrays.copyOfRange(rTwo[1], h * n, 2 * h * n), rOne[1], "lse");
        assertArrayEquals(java.util.Arrays.copyOfRange(rTwo[2], n * 3 * hd, 2 * n * 3 * hd), rOne[2], "gqkv");
    }

    private float[][] run(float[] qkvA, float[] goutA, int b, int n, int h, float scale) {
        int hd = goutA.length / b / n;
        Tensor qkv = be.fromFloats(qkvA, Shape.of(b, n, 3 * hd));
        Tensor out = be.empty(Shape.of(b, n, hd)), lse = be.empty(Shape.of(b, h, n)), g = be.empty(Shape.of(b, n, 3 * hd));
        be.attention(qkv, h, scale, out, lse);
        be.attentionBackward(qkv, out, lse, be.fromFloats(goutA, Shape.of(b, n, hd)), h, scale, g);
        return new float[][]{be.toFloats(out), be.toFloats(lse), be.toFloats(g)};
    }

    /**
     * The two forward schedules of {@link VectorAttention} (one task per head, or a pack phase and one
     * task per query block) run the same kernels on the same panels, so they give the same bits; the
     * per-head one is also checked against the naive product, on several query and key blocks.
     */
    @Test void perHeadAndTwoPhaseForwardAgreeBitwise() {
        assumeTrue(CpuGemm.VECTOR_AVAILABLE, "needs --add-modules jdk.incubator.vector");
        int[][] shapes = {{1, 257, 6, 64}, {2, 300, 4, 64}, {3, 37, 2, 40}, {2, 5, 3, 8}};
        for (int[] sh : shapes) {
            int b = sh[0], n = sh[1], h = sh[2], d = sh[3], hd = h * d;
            float scale = (float) (1 / Math.sqrt(d));
            float[] qkv = random(b * n * 3 * hd, 31 + n, 1);
            float[] o1 = new float[b * n * hd], l1 = new float[b * h * n], o2 = o1.clone(), l2 = l1.clone();
            VectorAttention.forwardPerHead(qkv, b, n, h, d, scale, o1, l1);
            VectorAttention.forwardTwoPhase(qkv, b, n, h, d, scale, o2, l2);
            String what = "B=" + b + " N=" + n + " H=" + h + " D=" + d;
            assertArrayEquals(o2, o1, what + " out");
            assertArrayEquals(l2, l1, what + " lse");
            double[][] ref = naive(qkv, new float[b * n * hd], b, n, h, d, scale);
            assertClose(ref[0], o1, 2e-5, what + " out (per head)");
            assertClose(ref[1], l1, 2e-5, what + " lse (per head)");
        }
    }

    @Test void perHeadScheduleOnlyWhenHeadsSplitEvenlyAndFitInL2() {
        int fits = VectorAttention.PER_HEAD_MAX_FLOATS;
        assertTrue(VectorAttention.perHead(2, false, 6, fits));
        assertTrue(VectorAttention.perHead(4, false, 24, 1000));
        assertFalse(VectorAttention.perHead(1, false, 6, 1000), "one thread");
        assertFalse(VectorAttention.perHead(2, true, 6, 1000), "called from the pool");
        assertFalse(VectorAttention.perHead(4, false, 6, 1000), "6 heads on 4 threads");
        assertFalse(VectorAttention.perHead(2, false, 6, fits + 1), "over half an L2");
    }

    @Test void shapeErrorsNameTheOp() {
        Tensor qkv = be.zeros(Shape.of(1, 5, 24));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> be.attention(qkv, 2, 1f, be.zeros(Shape.of(1, 5, 6)), be.zeros(Shape.of(1, 2, 5))));
        assertTrue(e.getMessage().startsWith("attention:") && e.getMessage().contains("[1, 5, 6]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> be.attention(qkv, 5, 1f, be.zeros(Shape.of(1, 5, 8)), be.zeros(Shape.of(1, 5, 5))));
        assertTrue(e.getMessage().startsWith("attention:") && e.getMessage().contains("[1, 5, 24]"), e.getMessage());
    }
}
