package dinoseg.backend.cpu;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** The row products of the attention kernels: Vector API and scalar paths against a double sum. */
class RowOpsTest {
    @Test void maddRowsAndSetRowsBothPathsMatchADoubleSum() {
        boolean vectorModule = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
        SplittableRandom rnd = new SplittableRandom(7);
        for (int n : new int[] {0, 1, 7, 16, 33, 64, 100, 128, 129, 200})
            for (int count : new int[] {0, 1, 3, 4, 5, 64, 130}) {
                int rowOff = 2, coefOff = 3;
                float[][] rows = new float[rowOff + count][n + 3];
                for (float[] r : rows) for (int j = 0; j < r.length; j++) r[j] = (float) (rnd.nextDouble() * 2 - 1);
                float[] coef = new float[coefOff + count];
                for (int i = 0; i < coef.length; i++) coef[i] = (float) (rnd.nextDouble() * 2 - 1);
                float[] init = new float[n + 3];
                for (int j = 0; j < init.length; j++) init[j] = (float) (rnd.nextDouble() * 2 - 1);
                for (int variant = 0; variant < (vectorModule ? 4 : 2); variant++) {
                    boolean set = variant % 2 == 1, vector = variant >= 2;
                    float[] acc = init.clone();
                    if (vector) VectorRowOps.rows(acc, rows, rowOff, coef, coefOff, count, n, set);
                    else if (set) RowOps.setRowsScalar(acc, rows, rowOff, coef, coefOff, count, n);
                    else RowOps.maddRowsScalar(acc, rows, rowOff, coef, coefOff, count, n);
                    for (int j = 0; j < init.length; j++) {
                        String what = "n=" + n + " count=" + count + " set=" + set + " vector=" + vector + " j=" + j;
                        if (j >= n) { assertEquals(init[j], acc[j], what + " (past n, untouched)"); continue; }
                        double s = set ? 0 : init[j];
                        for (int i = 0; i < count; i++) s += (double) coef[coefOff + i] * rows[rowOff + i][j];
                        assertEquals(s, acc[j], 1e-5 * (count + 1), what);
                    }
                }
            }
    }

    private static void assumeVectorModule() {
        org.junit.jupiter.api.Assumptions.assumeTrue(ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent(),
                "JVM without jdk.incubator.vector");
    }

    @Test void vectorExpMatchesFastExpIncludingLimits() {
        assumeVectorModule();
        float[] special = {0f, -0f, 1f, -1f, 0.3465736f, -87.29f, -87.3f, -87.31f, -100f, 88.69f, 88.7f, 88.71f, 200f,
                Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, Float.NaN, 1e-8f, -1e-8f, 10.5f, -20.25f};
        SplittableRandom rnd = new SplittableRandom(11);
        int n = 4096 + special.length + 5;
        float[] x = new float[n];
        System.arraycopy(special, 0, x, 0, special.length);
        for (int i = special.length; i < n; i++) x[i] = (float) (rnd.nextDouble() * 180 - 90);
        float[] m = new float[n], s = x.clone(), sum = new float[n];
        VectorRowOps.expSubSum(s, m, sum, n);
        for (int i = 0; i < n; i++) {
            float want = FastExp.exp(x[i]);
            String what = "exp(" + x[i] + ")";
            if (Float.isNaN(want) || Float.isInfinite(want) || want == 0f) {
                assertEquals(want, s[i], what);
            } else {
                assertEquals(want, s[i], 2e-7 * want, what);
                assertEquals((double) Math.exp(x[i]), s[i], 5e-7 * want, what);
            }
            assertEquals(s[i], sum[i], what + " summed");
        }
    }

    @Test void softmaxHelpersBothPathsAgree() {
        assumeVectorModule();
        SplittableRandom rnd = new SplittableRandom(5);
        for (int n : new int[] {0, 1, 15, 16, 17, 100, 128}) {
            float[] s = new float[n + 2], m = new float[n + 2], dp = new float[n + 2], sum = new float[n + 2];
            for (int i = 0; i < n + 2; i++) {
                s[i] = (float) (rnd.nextDouble() * 20 - 10); m[i] = (float) (rnd.nextDouble() * 20 - 10);
                dp[i] = (float) (rnd.nextDouble() * 2 - 1); sum[i] = (float) rnd.nextDouble();
            }
            float[] m1 = m.clone(), m2 = m.clone();
            RowOps.maxIntoScalar(m1, s, n);
            VectorRowOps.maxInto(m2, s, n);
            assertArrayEquals(m1, m2, "maxInto n=" + n);
            for (int i = 0; i < n; i++) assertEquals(Math.max(m[i], s[i]), m1[i]);

            float[] s1 = s.clone(), s2 = s.clone(), sum1 = sum.clone(), sum2 = sum.clone();
            RowOps.expSubSumScalar(s1, m1, sum1, n);
            VectorRowOps.expSubSum(s2, m1, sum2, n);
            for (int i = 0; i < n + 2; i++) {
                assertEquals(s1[i], s2[i], 2e-7 * Math.abs(s1[i]), "expSubSum n=" + n + " at " + i);
                assertEquals(sum1[i], sum2[i], 2e-7 * Math.abs(sum1[i]) + 1e-7, "expSubSum sum n=" + n + " at " + i);
                if (i < n) assertEquals(Math.exp(s[i] - m1[i]), s1[i], 5e-7 * s1[i]);
            }

            float scale = 0.125f, lse = 1.5f, di = 0.25f;
            float[] a1 = s.clone(), a2 = s.clone(), d1 = dp.clone(), d2 = dp.clone();
            RowOps.probsAndGradsScalar(a1, d1, scale, lse, di, n);
            VectorRowOps.probsAndGrads(a2, d2, scale, lse, di, n);
            for (int i = 0; i < n + 2; i++) {
                assertEquals(a1[i], a2[i], 2e-7 * Math.abs(a1[i]), "probs n=" + n + " at " + i);
                assertEquals(d1[i], d2[i], 5e-7 * Math.abs(d1[i]) + 1e-9, "grads n=" + n + " at " + i);
                if (i < n) {
                    double p = Math.exp(s[i] * scale - lse);
                    assertEquals(p, a1[i], 5e-7 * p);
                    assertEquals(p * (dp[i] - di) * scale, d1[i], 1e-6 * Math.abs(p) + 1e-9);
                } else {
                    assertEquals(s[i], a1[i]);
                    assertEquals(dp[i], d1[i]);
                }
            }
        }
    }
}
