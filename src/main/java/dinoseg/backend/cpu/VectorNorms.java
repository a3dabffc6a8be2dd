package dinoseg.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * LayerNorm's row pass on the Vector API, used by {@link CpuNorms} when {@link CpuGemm#VECTOR_AVAILABLE}
 * (only loaded after that check). The scalar loop sums a row in one chain of dependent double adds,
 * which the JIT may not reorder or vectorise; here each lane sums every L-th element in float (24
 * terms per lane for C = 384) and the lanes are added in double, for the mean and then the centred
 * squares (the same two-pass variance), and the normalised row is written 16 lanes at a time.
 */
final class VectorNorms {
    private VectorNorms() { }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /**
     * One row: o[base..base+c) = (a - mean) * rstd * g + bt (g, bt may be null); returns {mean, rstd}
     * in {@code stats}.
     */
    static void layerNormRow(float[] a, float[] o, int base, int c, float eps, float[] g, float[] bt, double[] stats) {
        int j = 0;
        FloatVector acc = FloatVector.zero(S);
        for (; j + L <= c; j += L) acc = acc.add(FloatVector.fromArray(S, a, base + j));
        double sum = 0;
        for (int l = 0; l < L; l++) sum += acc.lane(l);
        for (; j < c; j++) sum += a[base + j];
        double m = sum / c;
        // centre in two steps: a - mf is exact for a near the mean (Sterbenz), then the rounding residual
        // of the float mean, dm = m - mf, comes off, so a large mean costs no accuracy (a float mean alone
        // would shift every centred value by up to half an ulp of the mean)
        float mf = (float) m, dm = (float) (m - mf);
        FloatVector sq = FloatVector.zero(S);
        j = 0;
        for (; j + L <= c; j += L) {
            FloatVector d = FloatVector.fromArray(S, a, base + j).sub(mf).sub(dm);
            sq = d.fma(d, sq);
        }
        double var = 0;
        for (int l = 0; l < L; l++) var += sq.lane(l);
        for (; j < c; j++) { double dv = a[base + j] - m; var += dv * dv; }
        double rsd = 1.0 / Math.sqrt(var / c + eps);
        float rf = (float) rsd;
        j = 0;
        for (; j + L <= c; j += L) {
            FloatVector v = FloatVector.fromArray(S, a, base + j).sub(mf).sub(dm).mul(rf);
            if (g != null) v = v.mul(FloatVector.fromArray(S, g, j));
            if (bt != null) v = v.add(FloatVector.fromArray(S, bt, j));
            v.intoArray(o, base + j);
        }
        for (; j < c; j++) {
            float v = (a[base + j] - mf - dm) * rf;
            if (g != null) v *= g[j];
            if (bt != null) v += bt[j];
            o[base + j] = v;
        }
        stats[0] = m;
        stats[1] = rsd;
    }
}
