package dinoseg.ref;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The reference erf against tabulated values (as printed by the C library's erf through Python). */
class ErfTest {
    @Test
    void matchesTabulatedValues() {
        double[][] table = {
                {0.0, 0.0}, {0.1, 0.1124629160182849}, {0.5, 0.5204998778130465}, {1.0, 0.8427007929497149},
                {1.5, 0.9661051464753108}, {2.0, 0.9953222650189527}, {2.5, 0.9995930479825550},
                {2.9999, 0.9999778955735178}, {3.0, 0.9999779095030014}, {3.5, 0.9999992569016276},
                {4.0, 0.9999999845827421}, {5.0, 0.9999999999984626}, {8.0, 1.0},
        };
        for (double[] t : table) {
            assertEquals(t[1], Erf.erf(t[0]), 1e-13, "erf(" + t[0] + ")");
            assertEquals(-t[1], Erf.erf(-t[0]), 1e-13, "erf(-" + t[0] + ")");
        }
    }

    @Test
    void erfcTailIsRelativelyAccurate() {
        assertEquals(2.209049699858544e-05, Erf.erfc(3.0), 1e-17);
        assertEquals(1.541725790028002e-08, Erf.erfc(4.0), 1e-20);
        assertEquals(1.537459794428035e-12, Erf.erfc(5.0), 1e-24);
    }

    @Test
    void seriesAndContinuedFractionAgreeAtTheSeam() {
        for (double x = 2.9; x <= 3.1; x += 0.01) {
            double viaSeries = 1 - seriesOnly(x);
            assertEquals(viaSeries, Erf.erfc(x), 1e-15, "x=" + x);
        }
    }

    private static double seriesOnly(double x) {
        double term = x, sum = x;
        for (int n = 1; n < 300; n++) { term *= 2 * x * x / (2 * n + 1); sum += term; }
        return 2 / Math.sqrt(Math.PI) * Math.exp(-x * x) * sum;
    }
}
