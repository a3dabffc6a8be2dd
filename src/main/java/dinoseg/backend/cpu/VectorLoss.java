package dinoseg.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link CpuLoss}'s softmax cross-entropy on the Vector API for {@link #L} neighbouring pixels at a
 * time (logits [B, K, inner]: a pixel's K logits are {@code inner} apart, neighbouring pixels are
 * adjacent), used when {@link CpuGemm#VECTOR_AVAILABLE}; only loaded after that check. Per class one
 * contiguous load of L pixels: the max, exp(x - max) with {@link FastExp}'s algorithm (within 3e-7
 * relative of {@code Math.exp}) and its sum stay in registers, log-sum-exp and the loss are taken
 * per pixel in double, the gradient f·softmax is written per class with the label's −f added after.
 * The scalar loop of CpuLoss (double exp) does the rest of a row and the pixels without the module.
 */
final class VectorLoss {
    private VectorLoss() { }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Pixels per block. */
    static final int L = S.length();

    /** Floats of scratch a block needs for k classes. */
    static int scratch(int k) { return (k + 4) * L; }

    /**
     * Pixels [t, t + L) of one image, whose first logit is at {@code base} (class j of pixel t + l
     * at base + j·inner + l), labels at y[t..]. Writes the gradient (when gr is not null) and returns
     * the block's summed weighted loss; ignored pixels add nothing and get a zero gradient.
     */
    static double block(float[] x, int[] y, int t, float[] cw, float[] gr, double norm, int base, int inner, int k,
                        int ignoreIndex, float[] scr) {
        FloatVector mx = FloatVector.fromArray(S, x, base);
        for (int j = 1; j < k; j++) mx = mx.max(FloatVector.fromArray(S, x, base + j * inner));
        FloatVector se = FloatVector.zero(S);
        for (int j = 0; j < k; j++) {
            // FastExp lane-wise, written out here so C2 keeps the vectors in registers
            FloatVector v = FloatVector.fromArray(S, x, base + j * inner).sub(mx);
            FloatVector shifted = v.mul(1.44269504f).add(12582912f);
            IntVector kk = shifted.reinterpretAsInts().sub(0x4B400000);
            FloatVector kf = (FloatVector) kk.convert(VectorOperators.I2F, 0);
            FloatVector r = v.sub(kf.mul(0.693145751953125f)).sub(kf.mul(1.42860682e-6f));
            FloatVector p = r.fma(1f / 5040, 1f / 720).fma(r, FloatVector.broadcast(S, 1f / 120))
                    .fma(r, FloatVector.broadcast(S, 1f / 24)).fma(r, FloatVector.broadcast(S, 1f / 6))
                    .fma(r, FloatVector.broadcast(S, 0.5f)).fma(r, FloatVector.broadcast(S, 1f))
                    .fma(r, FloatVector.broadcast(S, 1f));
            FloatVector e = p.mul(kk.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats());
            VectorMask<Float> low = v.compare(VectorOperators.LT, -87.3f);
            e = e.blend(0f, low);   // v <= 0: never above 88.7
            e.intoArray(scr, j * L);
            se = se.add(e);
        }
        int fo = k * L, io = fo + L, so = io + L, mo = so + L;
        se.intoArray(scr, so);
        mx.intoArray(scr, mo);
        double acc = 0;
        for (int l = 0; l < L; l++) {
            int lab = y[t + l];
            boolean kept = lab != ignoreIndex && lab >= 0 && lab < k && norm != 0;
            if (!kept) {
                scr[fo + l] = 0f;
                scr[io + l] = 0f;
                continue;
            }
            double s = scr[so + l], wy = cw == null ? 1.0 : cw[lab];
            acc += wy * (scr[mo + l] + Math.log(s) - x[base + lab * inner + l]);
            scr[fo + l] = (float) (wy * norm);
            scr[io + l] = (float) (1.0 / s);
        }
        if (gr != null) {
            FloatVector f = FloatVector.fromArray(S, scr, fo).mul(FloatVector.fromArray(S, scr, io));
            for (int j = 0; j < k; j++) FloatVector.fromArray(S, scr, j * L).mul(f).intoArray(gr, base + j * inner);
            for (int l = 0; l < L; l++) {
                int lab = y[t + l];
                if (scr[fo + l] != 0f) gr[base + lab * inner + l] -= scr[fo + l];
            }
        }
        return acc;
    }
}
