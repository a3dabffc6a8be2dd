package dinoseg.backend.cpu;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The vector GELU against erf in double precision, on a dense grid, ragged lengths and special values. */
class VectorGeluTest {
    private static double gelu(double x) { return 0.5 * x * (1 + Erf.slowErf(x / Math.sqrt(2))); }

    private static double dgelu(double x) {
        return 0.5 * (1 + Erf.slowErf(x / Math.sqrt(2))) + x * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
    }

    @Test
    void withinFloatRoundingOfTheExactGelu() {
        assertTrue(CpuGemm.VECTOR_AVAILABLE, "the tests run with --add-modules jdk.incubator.vector");
        int n = 40_003;   // not a multiple of the lane count: the scalar tail is checked too
        float[] x = new float[n], y = new float[n], g = new float[n], d = new float[n];
        for (int i = 0; i < n; i++) { x[i] = -12f + 24f * i / (n - 1); g[i] = 1f + (i % 7) * 0.25f; }
        VectorGelu.gelu(x, y, 0, n);
        VectorGelu.geluBackward(x, g, d, 0, n);
        double worstY = 0, worstD = 0;
        for (int i = 0; i < n; i++) {
            double ey = Math.abs(y[i] - gelu(x[i])), ed = Math.abs(d[i] - g[i] * dgelu(x[i]));
            // erf's 1.5e-7 scaled by |x|/2, plus float rounding of the result
            worstY = Math.max(worstY, ey / (2e-7 * (1 + Math.abs(x[i])) + 1e-7 * Math.abs(gelu(x[i]))));
            worstD = Math.max(worstD, ed / (3e-7 * g[i] * (1 + Math.abs(x[i]))));
        }
        assertTrue(worstY <= 1, "gelu error over budget by " + worstY);
        assertTrue(worstD <= 1, "gelu' error over budget by " + worstD);
    }

    @Test
    void vectorLanesAndScalarTailAgreeAndSpecialValues() {
        float[] x = {0f, -0f, 1e-30f, -1e-30f, 3f, -3f, 20f, -20f, Float.POSITIVE_INFINITY, Float.NaN, 0.5f, -0.5f,
                1f, -1f, 7f, -7f, 0.1f};
        float[] y = new float[x.length], g = new float[x.length], d = new float[x.length];
        java.util.Arrays.fill(g, 1f);
        VectorGelu.gelu(x, y, 0, x.length);
        VectorGelu.geluBackward(x, g, d, 0, x.length);
        for (int i = 0; i < x.length; i++) {
            assertEquals(VectorGelu.gelu(x[i]), y[i], Float.isFinite(y[i]) ? Math.ulp(Math.abs(y[i])) * 2 : 0f, "lane vs tail at " + x[i]);
            assertEquals(VectorGelu.geluDerivative(x[i]), d[i], Float.isFinite(d[i]) ? Math.ulp(Math.abs(d[i])) * 2 : 0f, "lane vs tail gelu' at " + x[i]);
        }
        assertEquals(0f, y[0]);
        assertEquals(20f, y[6]);
        assertEquals(0f, y[7], 1e-30f);
        assertEquals(Float.POSITIVE_INFINITY, y[8]);
        assertTrue(Float.isNaN(y[9]));
        assertEquals(0.5f, d[0], 1e-7f);
        assertEquals(1f, d[6], 1e-7f);
        assertEquals(0f, d[7], 1e-7f);
    }
}
