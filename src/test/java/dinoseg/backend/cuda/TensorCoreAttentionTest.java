package dinoseg.backend.cuda;

import static dinoseg.backend.cuda.CudaTestSupport.assertClose;
import static dinoseg.backend.cuda.CudaTestSupport.gpu;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dinoseg.backend.Precision;
import dinoseg.backend.cpu.CpuBackend;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/**
 * Attention under {@link Precision#BF16}: the CUDA backend's FlashAttention-2 forward and backward on
 * bf16 tensor cores (attention_fwd_bf16_tc_*, attention_bwd_dkdv_bf16_tc_*, attention_bwd_dq_bf16_tc_*;
 * on the emulated driver without a GPU) against the CPU backend's bf16 attention, which rounds the same
 * values (q, k, v, gout; P per 64-key tile forward; P and dS backward). The two differ only in fp32
 * summation order, which can flip a bf16 rounding now and then: tolerance 1e-3. Output and gradients
 * must also differ from the fp32 ones by more than that, so a path that skipped the rounding would fail.
 */
class TensorCoreAttentionTest {

    @BeforeEach
    void gpuPresent() { CudaTestSupport.assumeGpu(); }

    private static void check(int b, int n, int h, int d, long seed) {
        Random rnd = new Random(seed);
        Shape sq = Shape.of(b, n, 3 * h * d), so = Shape.of(b, n, h * d), sl = Shape.of(b, h, n);
        float[] qkv = CudaTestSupport.randn(rnd, sq.numel()), gout = CudaTestSupport.randn(rnd, so.numel());
        float scale = (float) (1 / Math.sqrt(d));
        String what = "bf16 attention B" + b + " N" + n + " H" + h + " D" + d;
        try (CpuBackend cpu = new CpuBackend()) {
            float[][] c = run(cpu, Precision.BF16, qkv, gout, sq, so, sl, h, scale);
            float[][] f = run(cpu, Precision.FP32, qkv, gout, sq, so, sl, h, scale);
            gpu().setMatmulPrecision(Precision.BF16);
            float[][] g;
            try {
                g = run(gpu(), null, qkv, gout, sq, so, sl, h, scale);
            } finally {
                gpu().setMatmulPrecision(Precision.FP32);
            }
            assertClose(what + " out", c[0], g[0], 1e-3, 1e-3);
            assertClose(what + " lse", c[1], g[1], 1e-5, 1e-5);
            assertClose(what + " gqkv", c[2], g[2], 1e-3, 1e-3);
            for (int k : new int[]{0, 2}) {
                double diff = 0;
                for (int i = 0; i < c[k].length; i++) diff = Math.max(diff, Math.abs(c[k][i] - f[k][i]));
                assertTrue(diff > 2e-3, what + (k == 0 ? " out" : " gqkv") + ": no bf16 rounding visible against fp32 (max |diff| " + diff + ")");
            }
        }
    }

    /** out, lse and gqkv of one forward and backward; precision null: the backend's own setting. */
    private static float[][] run(dinoseg.backend.Backend be, Precision p, float[] qkv, float[] gout, Shape sq, Shape so, Shape sl,
                                 int heads, float scale) {
        if (p != null) be.setMatmulPrecision(p);
        Tensor x = be.fromFloats(qkv, sq), go = be.fromFloats(gout, so);
        Tensor out = be.empty(so), lse = be.empty(sl), gx = be.empty(sq);
        be.attention(x, heads, scale, out, lse);
        be.attentionBackward(x, out, lse, go, heads, scale, gx);
        return new float[][]{be.toFloats(out), be.toFloats(lse), be.toFloats(gx)};
    }

    @Test
    void bf16AttentionMatchesTheCpuOnOddShapes() {
        check(2, 37, 2, 16, 1);    // one partial key tile, head dim padded to 64
        check(1, 130, 3, 64, 2);   // DINOv2 head dim, three key tiles, three query blocks
        check(1, 70, 1, 100, 3);   // head dim padded to 128 (opt-in shared memory)
    }
}
