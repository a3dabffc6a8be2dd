package dinoseg.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Exact (erf) GELU and its derivative on the Vector API, used by {@link CpuElementwise} when
 * {@link CpuGemm#VECTOR_AVAILABLE} (only loaded after that check, like {@link VectorGemm}).
 *
 * <p>erf(z) for z ≥ 0 is Abramowitz and Stegun's 7.1.26, 1 − (a₁t + … + a₅t⁵)·e^(−z²) with
 * t = 1/(1 + p·z), absolute error below 1.5e-7 — the approximation PyTorch's own vectorised CPU erf
 * ({@code Vectorized<float>::erf}, which its exact GELU calls) uses. e^(−z²) = e^(−x²/2) for
 * z = |x|/√2 is {@link VectorRowOps#exp} ({@link FastExp}'s algorithm) and serves the derivative's
 * φ(x) too. Where the scalar path looked erf up in a double table per element, this does 16 lanes
 * per instruction: x·Φ(x) = (x + |x|·erf(|x|/√2))/2 and GELU'(x) = Φ(x) + x·φ(x). The loop tails
 * use the same float formulas, so every element gets the same value whatever its position.
 */
final class VectorGelu {
    private VectorGelu() { }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    private static final float P = 0.3275911f;
    private static final float A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;
    private static final float INV_SQRT2 = (float) (1 / Math.sqrt(2));
    private static final float INV_SQRT_2PI = (float) (1 / Math.sqrt(2 * Math.PI));

    // erf(z) for z = |x|/√2 ≥ 0 given e = e^(−z²) (Abramowitz & Stegun 7.1.26) is written out in the
    // vector loops below, not called as a helper taking FloatVectors: where C2 does not inline such a
    // helper (seen on JDK 17 under bench's full model), every call boxes its vectors (~150 MB/s of garbage).
    /** erf(z) for z = |x|/√2 ≥ 0, given e = e^(−z²). */
    private static float erfAbs(float z, float e) {
        float t = 1f / Math.fma(z, P, 1f);
        float poly = Math.fma(Math.fma(Math.fma(Math.fma(t, A5, A4), t, A3), t, A2), t, A1) * t;
        return 1f - poly * e;
    }

    /** o[i] = GELU(a[i]) for i in [s, e). */
    static void gelu(float[] a, float[] o, int s, int e) {
        int i = s;
        for (; i + L <= e; i += L) {
            FloatVector x = FloatVector.fromArray(S, a, i), ax = x.abs();
            FloatVector ez = VectorRowOps.exp(x.mul(x).mul(-0.5f));
            FloatVector t = FloatVector.broadcast(S, 1f).div(ax.mul(INV_SQRT2).fma(P, 1f));
            FloatVector poly = t.fma(A5, A4).fma(t, FloatVector.broadcast(S, A3)).fma(t, FloatVector.broadcast(S, A2))
                    .fma(t, FloatVector.broadcast(S, A1)).mul(t);
            FloatVector erf = FloatVector.broadcast(S, 1f).sub(poly.mul(ez));
            x.add(ax.mul(erf)).mul(0.5f).intoArray(o, i);
        }
        for (; i < e; i++) o[i] = gelu(a[i]);
    }

    static float gelu(float x) {
        float ax = Math.abs(x);
        float erf = erfAbs(ax * INV_SQRT2, FastExp.exp(x * x * -0.5f));
        return (x + ax * erf) * 0.5f;
    }

    /** o[i] = g[i] · GELU'(a[i]) for i in [s, e); o may be g. */
    static void geluBackward(float[] a, float[] g, float[] o, int s, int e) {
        int i = s;
        for (; i + L <= e; i += L) {
            FloatVector x = FloatVector.fromArray(S, a, i);
            FloatVector ez = VectorRowOps.exp(x.mul(x).mul(-0.5f));
            FloatVector t = FloatVector.broadcast(S, 1f).div(x.abs().mul(INV_SQRT2).fma(P, 1f));
            FloatVector poly = t.fma(A5, A4).fma(t, FloatVector.broadcast(S, A3)).fma(t, FloatVector.broadcast(S, A2))
                    .fma(t, FloatVector.broadcast(S, A1)).mul(t);
            FloatVector erf = FloatVector.broadcast(S, 1f).sub(poly.mul(ez));
            // erf(x/√2) = erf with x's sign bit (erf >= 0): bit operations, no mask and blend (which box on JDK 17)
            FloatVector signedErf = erf.reinterpretAsInts().or(x.reinterpretAsInts().and(0x80000000)).reinterpretAsFloats();
            FloatVector cdf = signedErf.fma(0.5f, 0.5f);
            FloatVector d = x.mul(ez.mul(INV_SQRT_2PI)).add(cdf);
            FloatVector.fromArray(S, g, i).mul(d).intoArray(o, i);
        }
        for (; i < e; i++) o[i] = g[i] * geluDerivative(a[i]);
    }

    static float geluDerivative(float x) {
        float ez = FastExp.exp(x * x * -0.5f);
        float erf = erfAbs(Math.abs(x) * INV_SQRT2, ez);
        float cdf = Math.fma(x < 0 ? -erf : erf, 0.5f, 0.5f);
        return x * (ez * INV_SQRT_2PI) + cdf;
    }
}
