package dinoseg.backend.cpu;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** VectorNorms.layerNormRow against LayerNorm in double, for widths that are and are not multiples of the lanes. */
class VectorNormsTest {
    @Test
    void layerNormRowMatchesDoublePrecision() {
        SplittableRandom r = new SplittableRandom(3);
        for (int c : new int[]{1, 5, 16, 37, 384, 1030}) {
            for (boolean affine : new boolean[]{true, false}) {
                float[] a = new float[3 + c], o = new float[3 + c], g = new float[c], b = new float[c];
                float offset = c % 2 == 0 ? 10f : 1000f;   // a large mean must not cost the centred values accuracy
                for (int j = 0; j < a.length; j++) a[j] = (float) (r.nextGaussian() * 0.3 + offset);
                for (int j = 0; j < c; j++) { g[j] = (float) r.nextGaussian(); b[j] = (float) r.nextGaussian(); }
                double[] st = new double[2];
                int base = 3;   // a row that does not start at 0
                VectorNorms.layerNormRow(a, o, base, c, 1e-6f, affine ? g : null, affine ? b : null, st);
                double m = 0, v = 0;
                for (int j = 0; j < c; j++) m += a[base + j];
                m /= c;
                for (int j = 0; j < c; j++) v += (a[base + j] - m) * (a[base + j] - m);
                double rs = 1 / Math.sqrt(v / c + 1e-6);
                assertEquals(m, st[0], 1e-5 * Math.abs(m), "mean, c=" + c);
                assertEquals(rs, st[1], 1e-5 * rs, "rstd, c=" + c);
                for (int j = 0; j < c; j++) {
                    double want = (a[base + j] - m) * rs * (affine ? g[j] : 1) + (affine ? b[j] : 0);
                    assertEquals(want, o[base + j], 2e-5 * (1 + Math.abs(want)), "c=" + c + " affine=" + affine + " at " + j);
                }
                assertEquals(0f, o[0]);   // nothing written before the row
            }
        }
    }
}
