package dinoseg.backend.cpu;

import org.junit.jupiter.api.Test;

import java.math.BigDecimal;
import java.math.MathContext;

import static org.junit.jupiter.api.Assertions.*;

class ErfTest {
    /** erf by its Maclaurin series in 60-digit decimal arithmetic: an independent reference. */
    static double bigErf(double x) {
        MathContext mc = new MathContext(60);
        BigDecimal bx = new BigDecimal(x), x2 = bx.multiply(bx, mc);
        BigDecimal term = bx, sum = bx;
        BigDecimal eps = new BigDecimal("1e-40");
        for (int n = 1; n < 2000; n++) {
            term = term.multiply(x2, mc).divide(BigDecimal.valueOf(-n), mc);
            BigDecimal add = term.divide(BigDecimal.valueOf(2L * n + 1), mc);
            sum = sum.add(add, mc);
            if (add.abs().compareTo(eps) < 0) break;
        }
        BigDecimal twoOverSqrtPi = new BigDecimal("1.1283791670955125738961589031215451716881012586580");
        return sum.multiply(twoOverSqrtPi, mc).doubleValue();
    }

    @Test void matchesHighPrecisionSeries() {
        double worst = 0;
        for (double x = -6.5; x <= 6.5; x += 0.0173) {
            double err = Math.abs(Erf.erf(x) - bigErf(x));
            worst = Math.max(worst, err);
        }
        assertTrue(worst < 1e-9, "max |erf error| = " + worst);
        // float rounding of the result is what GELU uses
        for (double x = -5; x <= 5; x += 0.01) assertEquals(bigErf(x), (float) Erf.erf(x), 1e-6);
    }

    @Test void limitsAndSymmetry() {
        assertEquals(0.0, Erf.erf(0.0));
        assertEquals(1.0, Erf.erf(40.0));
        assertEquals(-1.0, Erf.erf(Double.NEGATIVE_INFINITY));
        assertTrue(Double.isNaN(Erf.erf(Double.NaN)));
        for (double x = 0.01; x < 7; x += 0.37) assertEquals(-Erf.erf(x), Erf.erf(-x));
    }
}
