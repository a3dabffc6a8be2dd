package dinoseg.backend.cpu;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class FastExpTest {
    @Test void relativeErrorBelowOnePpm() {
        double worst = 0;
        for (double x = -87; x <= 88; x += 0.00731) {
            float xf = (float) x;
            double exact = Math.exp(xf);
            double got = FastExp.exp(xf);
            worst = Math.max(worst, Math.abs(got - exact) / exact);
        }
        assertTrue(worst < 1e-6, "max relative error " + worst);
    }

    @Test void edges() {
        assertEquals(1f, FastExp.exp(0f));
        assertEquals(0f, FastExp.exp(Float.NEGATIVE_INFINITY));
        assertEquals(0f, FastExp.exp(-1000f));
        assertEquals(Float.POSITIVE_INFINITY, FastExp.exp(1000f));
        assertTrue(Float.isNaN(FastExp.exp(Float.NaN)));
    }
}
