package dinoseg.backend.cpu;

import dinoseg.tensor.Tensor;

import static dinoseg.backend.cpu.CpuStorage.floats;
import static dinoseg.backend.cpu.CpuStorage.ints;

/** The AdamW step on the CPU (torch.optim.AdamW, one parameter tensor in place). */
final class CpuAdamW {
    private CpuAdamW() { }

    static void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
                                float eps, float weightDecay, int step) {
        double bc1 = 1.0 - Math.pow(beta1, step), bc2 = 1.0 - Math.pow(beta2, step);
        update(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, (float) (lr / bc1), (float) Math.sqrt(bc2));
    }

    /** The step with its scalars from row {@code row} of scalars [R, 3]: lr, lr / bc1, sqrt(bc2). */
    static void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor scalars, int row, float beta1, float beta2,
                      float eps, float weightDecay) {
        float[] s = floats(scalars);
        int o = 3 * row;
        update(param, grad, m, v, s[o], beta1, beta2, eps, weightDecay, s[o + 1], s[o + 2]);
    }

    private static void update(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
                               float eps, float weightDecay, float stepSize, float bc2Sqrt) {
        float[] p = floats(param), g = floats(grad), fm = floats(m), fv = floats(v);
        final float decay = 1f - lr * weightDecay;
        final float ob1 = 1f - beta1, ob2 = 1f - beta2;
        Parallel.forRange(p.length, 12, (s, e) -> {
            for (int i = s; i < e; i++) {
                float gi = g[i];
                float pi = p[i] * decay;
                float mi = fm[i] + ob1 * (gi - fm[i]);
                float vi = fv[i] * beta2 + ob2 * gi * gi;
                fm[i] = mi;
                fv[i] = vi;
                float denom = (float) Math.sqrt(vi) / bc2Sqrt + eps;
                p[i] = pi - stepSize * (mi / denom);
            }
        });
    }
}
