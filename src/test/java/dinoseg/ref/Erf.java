package dinoseg.ref;

/**
 * The error function in double precision, independent of any float code: a positive power series
 * for |x| &lt; 3 and a continued fraction for erfc beyond (both converge to full double precision).
 */
public final class Erf {
    private Erf() { }

    private static final double TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

    public static double erf(double x) {
        if (Double.isNaN(x)) return x;
        double ax = Math.abs(x);
        double r;
        if (ax < 3) {
            // erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)); every term positive
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 200; n++) {
                term *= 2 * x2 / (2 * n + 1);
                sum += term;
                if (term < 1e-17 * sum) break;
            }
            r = TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
        } else if (ax < 7) {
            r = 1 - erfcLarge(ax);
        } else {
            r = 1;
        }
        return x < 0 ? -r : r;
    }

    /** erfc(x) for x &gt;= 3: exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), evaluated bottom-up. */
    static double erfcLarge(double x) {
        double f = x;
        for (int k = 120; k >= 1; k--) f = x + (k / 2.0) / f;
        return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
    }

    public static double erfc(double x) {
        return x >= 3 ? erfcLarge(x) : 1 - erf(x);
    }
}
