package dinoseg.backend.cpu;

/**
 * erf(x) accurate to about 1e-12 absolute (far below float resolution), fast enough for GELU.
 *
 * <p>A table holds erf and its derivative 2/sqrt(pi)·exp(-t²) at t = i/64 on [0, 6], computed once
 * in double precision (power series below 2.5, Laplace continued fraction of erfc above). Between
 * nodes a 4th-order Taylor step in h = x - t (|h| ≤ 1/128) is used; the derivatives of erf are
 * polynomials in t times the first derivative, so the step costs a few multiply-adds. Beyond 6,
 * erf is 1 to double precision.
 */
final class Erf {
    private Erf() { }

    private static final int PER_UNIT = 64;
    private static final double MAX = 6.0;
    private static final int SIZE = (int) (MAX * PER_UNIT) + 2;
    private static final double[] VALUE = new double[SIZE];
    private static final double[] SLOPE = new double[SIZE];
    static final double TWO_OVER_SQRT_PI = 2.0 / Math.sqrt(Math.PI);

    static {
        for (int i = 0; i < SIZE; i++) {
            double t = (double) i / PER_UNIT;
            VALUE[i] = slowErf(t);
            SLOPE[i] = TWO_OVER_SQRT_PI * Math.exp(-t * t);
        }
    }

    /** erf(x) in double precision, slowly: series for |x| < 2.5, continued fraction otherwise. */
    static double slowErf(double x) {
        double ax = Math.abs(x);
        double r;
        if (ax < 2.5) {
            // erf x = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 200; n++) {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.abs(add) < 1e-18 * Math.abs(sum)) break;
            }
            r = TWO_OVER_SQRT_PI * sum;
        } else {
            // erfc x = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
            double f = ax;
            for (int n = 80; n >= 1; n--) f = ax + (n / 2.0) / f;
            r = 1.0 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
        }
        return x < 0 ? -r : r;
    }

    private static final double STEP = 1.0 / PER_UNIT;
    private static final double THIRD = 1.0 / 3.0, SIXTH = 1.0 / 6.0;

    /** erf(x) for any double (NaN stays NaN). */
    static double erf(double x) {
        return Math.copySign(erfAbs(Math.abs(x)), x);
    }

    /**
     * erf(ax) for ax ≥ 0 or NaN. Kept free of sign handling: the branchy all-in-one form ran about
     * 3.5x slower in C2-compiled GELU loops.
     */
    static double erfAbs(double ax) {
        if (ax >= MAX) return 1.0;
        int i = (int) (ax * PER_UNIT + 0.5); // NaN -> 0, and then h is NaN
        double t = i * STEP;
        double h = ax - t, t2 = t * t;
        double poly = 1.0 + h * (-t + h * ((2 * t2 - 1) * THIRD + h * ((3 * t - 2 * t2 * t) * SIXTH)));
        return VALUE[i] + SLOPE[i] * h * poly;
    }
}
