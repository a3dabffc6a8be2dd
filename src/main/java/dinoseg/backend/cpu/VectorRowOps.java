package dinoseg.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link RowOps#maddRows}/{@link RowOps#setRows} on the Vector API, used by them (and so by the
 * attention products) when {@link CpuGemm#VECTOR_AVAILABLE}; like {@link VectorGemm}, only loaded
 * after that check. A strip of four vectors of acc stays in registers while all {@code count} rows
 * stream by (one load, one broadcast-FMA per vector and row), instead of acc being reloaded and
 * stored for every four rows. The softmax loops of the attention kernels are here too, with
 * {@link FastExp}'s algorithm in vector form.
 */
final class VectorRowOps {
    private VectorRowOps() { }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /** acc[j] (set ? = : +=) sum_{i < count} coef[coefOff + i] * rows[rowOff + i][j] for j < n. */
    static void rows(float[] acc, float[][] rows, int rowOff, float[] coef, int coefOff, int count, int n, boolean set) {
        int j = 0;
        for (; j + 4 * L <= n; j += 4 * L) {
            FloatVector a0, a1, a2, a3;
            if (set) {
                a0 = a1 = a2 = a3 = FloatVector.zero(S);
            } else {
                a0 = FloatVector.fromArray(S, acc, j);
                a1 = FloatVector.fromArray(S, acc, j + L);
                a2 = FloatVector.fromArray(S, acc, j + 2 * L);
                a3 = FloatVector.fromArray(S, acc, j + 3 * L);
            }
            for (int i = 0; i < count; i++) {
                float[] r = rows[rowOff + i];
                FloatVector x = FloatVector.broadcast(S, coef[coefOff + i]);
                a0 = FloatVector.fromArray(S, r, j).fma(x, a0);
                a1 = FloatVector.fromArray(S, r, j + L).fma(x, a1);
                a2 = FloatVector.fromArray(S, r, j + 2 * L).fma(x, a2);
                a3 = FloatVector.fromArray(S, r, j + 3 * L).fma(x, a3);
            }
            a0.intoArray(acc, j);
            a1.intoArray(acc, j + L);
            a2.intoArray(acc, j + 2 * L);
            a3.intoArray(acc, j + 3 * L);
        }
        for (; j + L <= n; j += L) {
            FloatVector a0 = set ? FloatVector.zero(S) : FloatVector.fromArray(S, acc, j);
            for (int i = 0; i < count; i++)
                a0 = FloatVector.fromArray(S, rows[rowOff + i], j).fma(FloatVector.broadcast(S, coef[coefOff + i]), a0);
            a0.intoArray(acc, j);
        }
        for (; j < n; j++) {
            float s = set ? 0f : acc[j];
            for (int i = 0; i < count; i++) s = Math.fma(coef[coefOff + i], rows[rowOff + i][j], s);
            acc[j] = s;
        }
    }

    /** {@link FastExp#exp} lane-wise: same range reduction, polynomial and limits. */
    static FloatVector exp(FloatVector x) {
        FloatVector shifted = x.mul(1.44269504f).add(12582912f);
        IntVector k = shifted.reinterpretAsInts().sub(0x4B400000);
        FloatVector kf = (FloatVector) k.convert(VectorOperators.I2F, 0);
        FloatVector r = x.sub(kf.mul(0.693145751953125f)).sub(kf.mul(1.42860682e-6f));
        FloatVector p = r.fma(1f / 5040, 1f / 720).fma(r, FloatVector.broadcast(S, 1f / 120))
                .fma(r, FloatVector.broadcast(S, 1f / 24)).fma(r, FloatVector.broadcast(S, 1f / 6))
                .fma(r, FloatVector.broadcast(S, 0.5f)).fma(r, FloatVector.broadcast(S, 1f))
                .fma(r, FloatVector.broadcast(S, 1f));
        FloatVector scale = k.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector y = p.mul(scale);
        VectorMask<Float> low = x.compare(VectorOperators.LT, -87.3f), high = x.compare(VectorOperators.GT, 88.7f);
        return y.blend(0f, low).blend(Float.POSITIVE_INFINITY, high);
    }

    /** m[r] = max(m[r], s[r]) for r < n. */
    static void maxInto(float[] m, float[] s, int n) {
        int r = 0;
        for (; r + L <= n; r += L) FloatVector.fromArray(S, m, r).max(FloatVector.fromArray(S, s, r)).intoArray(m, r);
        for (; r < n; r++) m[r] = Math.max(m[r], s[r]);
    }

    /** s[r] = exp(s[r] - m[r]); sum[r] += s[r] for r < n. */
    static void expSubSum(float[] s, float[] m, float[] sum, int n) {
        int r = 0;
        for (; r + L <= n; r += L) {
            FloatVector p = exp(FloatVector.fromArray(S, s, r).sub(FloatVector.fromArray(S, m, r)));
            p.intoArray(s, r);
            FloatVector.fromArray(S, sum, r).add(p).intoArray(sum, r);
        }
        for (; r < n; r++) {
            float p = FastExp.exp(s[r] - m[r]);
            s[r] = p;
            sum[r] += p;
        }
    }

    /** p = exp(s[c]·scale - lse); s[c] = p; dp[c] = p·(dp[c] - di)·scale for c < n. */
    static void probsAndGrads(float[] s, float[] dp, float scale, float lse, float di, int n) {
        int c = 0;
        for (; c + L <= n; c += L) {
            FloatVector p = exp(FloatVector.fromArray(S, s, c).mul(scale).sub(lse));
            p.intoArray(s, c);
            p.mul(FloatVector.fromArray(S, dp, c).sub(di)).mul(scale).intoArray(dp, c);
        }
        for (; c < n; c++) {
            float p = FastExp.exp(s[c] * scale - lse);
            s[c] = p;
            dp[c] = p * (dp[c] - di) * scale;
        }
    }
}
