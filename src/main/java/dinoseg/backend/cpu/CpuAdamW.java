package dinoseg.backend.cpu;

import dinoseg.tensor.Tensor;

import static dinoseg.backend.cpu.CpuStorage.floats;
import static dinoseg.backend.cpu.CpuStorage.ints;

/** The AdamW step on the CPU (torch.optim.AdamW, one parameter tensor in place). */
final class CpuAdamW {
    private CpuAdamW() { }

    static void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
                                float eps, float weightDecay, int step) {
        float[] p = floats(param), g = floats(grad), fm = floats(m), fv = floats(v);
        double bc1 = 1.0 - Math.pow(beta1, step), bc2 = 1.0 - Math.pow(beta2, step);
        final float decay = 1f - lr * weightDecay;
        final float stepSize = (float) (lr / bc1);
        final float bc2Sqrt = (float) Math.sqrt(bc2);
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
