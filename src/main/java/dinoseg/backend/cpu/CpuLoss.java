package dinoseg.backend.cpu;

import dinoseg.tensor.Tensor;

import static dinoseg.backend.cpu.CpuStorage.floats;
import static dinoseg.backend.cpu.CpuStorage.ints;

/**
 * Softmax cross-entropy on the CPU (PyTorch's reduction="mean" with class weights and an ignore
 * index): per pixel max, log-sum-exp and the gradient softmax − one-hot, scaled by the pixel's weight
 * over the kept pixels' total. With the Vector API, runs of {@link VectorLoss#L} pixels go to
 * {@link VectorLoss} (float exp, 3e-7 relative), the rest to the scalar loop below (double exp).
 */
final class CpuLoss {
    private CpuLoss() { }

    /** Whether the Vector API blocks ({@link VectorLoss}) run when available (tests compare both paths). */
    static volatile boolean vectorBlocks = true;

    static void softmaxCrossEntropy(Tensor logits, Tensor labels, Tensor classWeights, int ignoreIndex,
                                              Tensor loss, Tensor glogits) {
        int b = logits.dim(0), k = logits.dim(1), inner = (int) logits.shape().prod(2, logits.rank());
        float[] x = floats(logits), lossA = floats(loss);
        int[] y = ints(labels);
        float[] cw = classWeights == null ? null : floats(classWeights);
        float[] gr = glogits == null ? null : floats(glogits);
        int pixels = b * inner;
        // total weight of the kept pixels (needed to normalise the gradient in the same pass)
        double wsum = 0;
        for (int i = 0; i < pixels; i++) {
            int lab = y[i];
            if (lab == ignoreIndex || lab < 0 || lab >= k) continue;
            wsum += cw == null ? 1.0 : cw[lab];
        }
        final double norm = wsum == 0 ? 0.0 : 1.0 / wsum;
        int chunks = (int) Math.max(1, Math.min(Parallel.THREADS * 4L, (long) pixels * k * 8 / Parallel.MIN_WORK));
        double[] part = new double[chunks];
        boolean vector = CpuGemm.VECTOR_AVAILABLE && vectorBlocks;
        Parallel.forChunks(pixels, chunks, (Parallel.Chunk) (id, s, e) -> {
            double acc = 0;
            double[] ex = new double[k];
            float[] scr = vector ? new float[VectorLoss.scratch(k)] : null;
            for (int t = s; t < e; t++) {
                int bi = t / inner, i = t % inner;
                if (vector && i + VectorLoss.L <= inner && t + VectorLoss.L <= e) {
                    // L neighbouring pixels of one image at once
                    acc += VectorLoss.block(x, y, t, cw, gr, norm, bi * k * inner + i, inner, k, ignoreIndex, scr);
                    t += VectorLoss.L - 1;
                    continue;
                }
                int base = bi * k * inner + i;
                int lab = y[t];
                boolean kept = lab != ignoreIndex && lab >= 0 && lab < k && norm != 0;
                if (!kept) {
                    if (gr != null) for (int j = 0; j < k; j++) gr[base + j * inner] = 0f;
                    continue;
                }
                float mx = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < k; j++) mx = Math.max(mx, x[base + j * inner]);
                double se = 0;
                for (int j = 0; j < k; j++) {
                    double ej = Math.exp(x[base + j * inner] - mx);   // kept: one exp per class, not two
                    ex[j] = ej;
                    se += ej;
                }
                double lse = mx + Math.log(se);
                double wy = cw == null ? 1.0 : cw[lab];
                acc += wy * (lse - x[base + lab * inner]);
                if (gr != null) {
                    double f = wy * norm, inv = 1.0 / se;
                    for (int j = 0; j < k; j++)
                        gr[base + j * inner] = (float) (f * (ex[j] * inv - (j == lab ? 1.0 : 0.0)));
                }
            }
            part[id] = acc;
        });
        double total = 0;
        for (double p : part) total += p;
        lossA[0] = (float) (total * norm);
    }
}
