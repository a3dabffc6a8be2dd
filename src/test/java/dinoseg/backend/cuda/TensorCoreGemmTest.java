package dinoseg.backend.cuda;

import static dinoseg.backend.cuda.CudaTestSupport.assertClose;
import static dinoseg.backend.cuda.CudaTestSupport.gpu;
import static dinoseg.backend.cuda.CudaTestSupport.pair;
import static dinoseg.backend.cuda.CudaTestSupport.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dinoseg.backend.MatrixView;
import dinoseg.backend.Precision;
import dinoseg.backend.cpu.CpuBackend;
import dinoseg.backend.cuda.CudaTestSupport.Pair;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/**
 * gemm under {@link Precision#BF16} and {@link Precision#TF32}: the CUDA backend's tensor-core
 * kernels (gemm_bf16_tc, gemm_tf32_tc; on the emulated driver without a GPU) against the CPU
 * backend's rounded-operand GEMM, on odd shapes, every transpose, batches with padding and offsets,
 * alpha and beta. Both sum the same rounded products in fp32 in different orders, so the tolerance is
 * CudaOpsTest's GEMM tolerance; the rounded results differ from fp32 ones by far more, which the
 * test also asserts, so a kernel that skipped the rounding would fail.
 */
class TensorCoreGemmTest {

    @BeforeEach
    void gpuPresent() { CudaTestSupport.assumeGpu(); }

    private static float[] run(CpuBackend cpu, Precision p, boolean ta, boolean tb, int m, int n, int k, int batch,
                               float alpha, float beta, int pad, long off, float[][] cpuOut) {
        Random rnd = new Random(m * 31L + n * 7L + k + batch + (ta ? 1 : 0) + (tb ? 2 : 0));
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        long sa = (long) (ta ? k : m) * lda + pad, sb = (long) (tb ? n : k) * ldb, sc = (long) m * ldc + 3;
        float[] a = CudaTestSupport.randn(rnd, off + sa * batch), b = CudaTestSupport.randn(rnd, off + sb * batch);
        float[] c0 = CudaTestSupport.randn(rnd, off + sc * batch);
        if (beta == 0) java.util.Arrays.fill(c0, Float.NaN);   // must not be read
        Tensor ca = cpu.fromFloats(a, Shape.of(a.length)), cb = cpu.fromFloats(b, Shape.of(b.length)), cc = cpu.fromFloats(c0, Shape.of(c0.length));
        Pair g = pair(c0, Shape.of(c0.length));
        Tensor ga = gpu().fromFloats(a, Shape.of(a.length)), gb = gpu().fromFloats(b, Shape.of(b.length));
        cpu.setMatmulPrecision(p);
        gpu().setMatmulPrecision(p);
        try {
            cpu.gemm(m, n, k, alpha, MatrixView.of(ca, lda).at(off).batched(sa).t(ta), MatrixView.of(cb, ldb).at(off).batched(sb).t(tb),
                    beta, MatrixView.of(cc, ldc).at(off).batched(sc), batch);
            gpu().gemm(m, n, k, alpha, MatrixView.of(ga, lda).at(off).batched(sa).t(ta), MatrixView.of(gb, ldb).at(off).batched(sb).t(tb),
                    beta, MatrixView.of(g.gpu(), ldc).at(off).batched(sc), batch);
        } finally {
            gpu().setMatmulPrecision(Precision.FP32);
        }
        cpuOut[0] = cpu.toFloats(cc);
        return gpu().toFloats(g.gpu());
    }

    private static void check(Precision p, boolean ta, boolean tb, int m, int n, int k, int batch, float alpha, float beta, int pad, long off) {
        try (CpuBackend cpu = new CpuBackend()) {
            float[][] want = new float[1][];
            float[] got = run(cpu, p, ta, tb, m, n, k, batch, alpha, beta, pad, off, want);
            String what = p.flag() + " gemm ta=" + ta + " tb=" + tb + " " + m + "x" + n + "x" + k + " batch " + batch;
            assertClose(what, want[0], got, 1e-4, 1e-4 * Math.sqrt(k + 1));
            // the same product in fp32 on the CPU: the rounding must show
            float[][] plain = new float[1][];
            run(cpu, Precision.FP32, ta, tb, m, n, k, batch, alpha, beta, pad, off, plain);
            double maxDiff = 0;
            for (int i = 0; i < got.length; i++)
                if (!Float.isNaN(got[i])) maxDiff = Math.max(maxDiff, Math.abs(got[i] - plain[0][i]));
            assertTrue(maxDiff > (p == Precision.BF16 ? 1e-2 : 1e-3), what + ": no rounding visible (max |diff| vs fp32 " + maxDiff + ")");
        }
    }

    @Test
    void bf16KernelMatchesTheCpuOnEveryTranspose() {
        for (boolean ta : new boolean[]{false, true})
            for (boolean tb : new boolean[]{false, true}) check(Precision.BF16, ta, tb, 67, 45, 130, 2, 1f, 0f, 3, 11);
        check(Precision.BF16, false, true, 130, 260, 33, 1, -2f, 1.5f, 0, 0);   // several blocks, beta
    }

    /** Few output tiles over a long K (a weight gradient): split into K slices and reduced in order. */
    @Test
    void splitKWeightGradientsMatchTheCpu() {
        assertEquals(4, CudaGemmOps.splitK(70, 50, 4200, 132), "one tile over K = 4200: four slices");
        assertEquals(1, CudaGemmOps.splitK(16936, 1152, 384, 132), "the forward GEMMs fill the GPU: no split");
        assertEquals(1, CudaGemmOps.splitK(70, 50, 1500, 132), "K too short to split");
        check(Precision.BF16, true, false, 70, 50, 4200, 1, 1f, 0f, 0, 0);     // dW = gy^T x: A stored k x m
        check(Precision.TF32, false, true, 70, 50, 4200, 1, -2f, 0.5f, 2, 3);  // beta reads C through the reduction
        if (EmulatedDriver.active()) {   // the split really ran: the equal slices, the last one, the reduction
            Tensor a = gpu().zeros(Shape.of(4200 * 70)), b = gpu().zeros(Shape.of(4200 * 50)), c = gpu().empty(Shape.of(70 * 50));
            gpu().setMatmulPrecision(Precision.BF16);
            try {
                int before = EmulatedDriver.count(EmulatedDriver.LAUNCHES);
                gpu().gemm(70, 50, 4200, 1f, MatrixView.of(a, 70).t(), MatrixView.of(b, 50), 0f, MatrixView.of(c, 50), 1);
                gpu().synchronize();
                assertEquals(3, EmulatedDriver.count(EmulatedDriver.LAUNCHES) - before, "launches of a split-K GEMM");
            } finally {
                gpu().setMatmulPrecision(Precision.FP32);
            }
        }
    }

    @Test
    void tf32KernelMatchesTheCpuOnEveryTranspose() {
        for (boolean ta : new boolean[]{false, true})
            for (boolean tb : new boolean[]{false, true}) check(Precision.TF32, ta, tb, 37, 70, 45, 2, 0.5f, 0f, 1, 5);
    }

    /**
     * roundTo (autocast's storage point, kernels round_bf16_f and round_tf32_f) is bit-equal to
     * {@link Precision#round} on values that exercise ties, carries into the exponent, overflow to
     * infinity, subnormals, NaN and signed zeros, in place and into another tensor.
     */
    @Test
    void roundToIsBitEqualToTheCpu() {
        float[] special = {0f, -0f, 1f + 0x1p-8f, 1f + 0x3p-8f, 1f + 0x1p-11f, 1f + 0x3p-11f, 0x1.ffffp127f, -0x1.ffffp127f,
                Float.MIN_VALUE, 0x1.8p-130f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1.00390625f, -2.5f};
        float[] x = java.util.Arrays.copyOf(special, special.length + 1000);
        Random rnd = new Random(5);
        for (int i = special.length; i < x.length; i++) x[i] = Float.intBitsToFloat(rnd.nextInt());
        for (Precision p : Precision.values()) {
            Tensor in = gpu().fromFloats(x, Shape.of(x.length)), out = gpu().empty(Shape.of(x.length));
            gpu().roundTo(in, p, out);
            float[] got = gpu().toFloats(out);
            gpu().roundTo(in, p, in);
            float[] inPlace = gpu().toFloats(in);
            for (int i = 0; i < x.length; i++) {
                float want = p.round(x[i]);
                assertEquals(Float.floatToRawIntBits(want) & (Float.isNaN(want) ? 0 : -1), Float.floatToRawIntBits(got[i]) & (Float.isNaN(got[i]) ? 0 : -1),
                        p + " of " + Float.toHexString(x[i]) + ": " + Float.toHexString(got[i]) + " != " + Float.toHexString(want));
                assertEquals(Float.isNaN(want), Float.isNaN(got[i]), p + " NaN of " + Float.toHexString(x[i]));
                assertEquals(Float.floatToRawIntBits(got[i]), Float.floatToRawIntBits(inPlace[i]), p + " in place");
            }
        }
    }

    /**
     * Backend.linear under BF16 and TF32 (F.linear: x·wᵀ + bias, bf16 output under BF16): the CUDA backend's
     * one tensor-core launch with the epilogue (emulated driver: exactly one launch) against the CPU's
     * gemm + add + roundTo. BF16 outputs are bf16 values and may differ by one bf16 unit where the fp32
     * sums straddle a rounding boundary; the shape with K = 2304 and few tiles takes the split-K path.
     */
    @Test
    void linearFusesBiasAndTheBf16StoreIntoOneLaunch() {
        int[][] shapes = {{37, 70, 45}, {96, 40, 2304}};
        for (Precision p : new Precision[]{Precision.BF16, Precision.TF32})
            for (int[] sh : shapes) {
                int rows = sh[0], n = sh[1], k = sh[2];
                Random rnd = new Random(rows + n + k);
                float[] x = CudaTestSupport.randn(rnd, (long) rows * k), w = CudaTestSupport.randn(rnd, (long) n * k), b = CudaTestSupport.randn(rnd, n);
                float[] want;
                try (CpuBackend cpu = new CpuBackend()) {
                    cpu.setMatmulPrecision(p);
                    Tensor y = cpu.empty(Shape.of(rows, n));
                    cpu.linear(cpu.fromFloats(x, Shape.of(rows, k)), cpu.fromFloats(w, Shape.of(n, k)), cpu.fromFloats(b, Shape.of(n)), rows, n, k, y);
                    want = cpu.toFloats(y);
                }
                Tensor gx = gpu().fromFloats(x, Shape.of(rows, k)), gw = gpu().fromFloats(w, Shape.of(n, k)), gb = gpu().fromFloats(b, Shape.of(n));
                Tensor gy = gpu().empty(Shape.of(rows, n));
                gpu().setMatmulPrecision(p);
                int before = EmulatedDriver.active() ? EmulatedDriver.count(EmulatedDriver.LAUNCHES) : 0;
                try {
                    gpu().linear(gx, gw, gb, rows, n, k, gy);
                } finally {
                    gpu().setMatmulPrecision(Precision.FP32);
                }
                int launches = EmulatedDriver.active() ? EmulatedDriver.count(EmulatedDriver.LAUNCHES) - before : -1;
                float[] got = gpu().toFloats(gy);
                String what = p + " linear " + rows + "x" + n + "x" + k;
                if (EmulatedDriver.active())
                    assertEquals(k >= 2048 ? 2 : 1, launches, what + ": launches (split-K: one launch for the equal K slices, one reduction)");
                for (int i = 0; i < got.length; i++) {
                    if (p == Precision.BF16)
                        assertEquals(0, Float.floatToRawIntBits(got[i]) & 0xffff, what + ": element " + i + " = " + got[i] + " is not a bf16 value");
                    double tol = (p == Precision.BF16 ? Math.abs(want[i]) / 128 : Math.abs(want[i]) * 1e-4) + 1e-4 * Math.sqrt(k);
                    assertEquals(want[i], got[i], tol, what + ": element " + i);
                }
            }
    }

    /**
     * linearGelu and linearScaled (the GEMM epilogues of kernels/tc.cuh) under FP32 (sgemm_batched:
     * cuBLAS is not loaded here), BF16 and TF32: one launch each on the emulated driver (two with split-K),
     * and the same bits as the backend's own unfused ops (linear, then gelu / addcmul / mul / add), which
     * use the same GELU and the same rounding order; plus the CPU backend's values within the GEMM tolerance.
     */
    @Test
    void linearEpiloguesAreOneLaunchWithTheBitsOfTheSeparateOps() {
        int[][] shapes = {{37, 70, 45}, {96, 40, 2304}};
        for (Precision p : new Precision[]{Precision.FP32, Precision.BF16, Precision.TF32})
            for (int[] sh : shapes)
                for (int variant = 0; variant < 4; variant++) {   // gelu+aux, gelu, gamma+residual, residual only
                    int rows = sh[0], n = sh[1], k = sh[2];
                    Random rnd = new Random(rows + n + k + variant);
                    float[] x = CudaTestSupport.randn(rnd, (long) rows * k), w = CudaTestSupport.randn(rnd, (long) n * k), b = CudaTestSupport.randn(rnd, n);
                    float[] gamma = CudaTestSupport.randn(rnd, n), res = CudaTestSupport.randn(rnd, (long) rows * n);
                    boolean gelu = variant < 2;
                    String what = p + " " + (gelu ? "linearGelu" + (variant == 0 ? " + aux" : "") : "linearScaled" + (variant == 2 ? " gamma +" : "") + " residual")
                            + " " + rows + "x" + n + "x" + k;
                    Shape ys = Shape.of(rows, n);
                    float[][] cpuOut = new float[2][];
                    try (CpuBackend cpu = new CpuBackend()) {
                        cpu.setMatmulPrecision(p);
                        Tensor cx = cpu.fromFloats(x, Shape.of(rows, k)), cw = cpu.fromFloats(w, Shape.of(n, k)), cb = cpu.fromFloats(b, Shape.of(n));
                        Tensor cy = cpu.empty(ys), caux = cpu.empty(ys);
                        if (gelu) cpu.linearGelu(cx, cw, cb, rows, n, k, variant == 0 ? caux : null, cy);
                        else cpu.linearScaled(cx, cw, cb, variant == 2 ? cpu.fromFloats(gamma, Shape.of(n)) : null, cpu.fromFloats(res, ys), rows, n, k, cy);
                        cpuOut[0] = cpu.toFloats(cy);
                        cpuOut[1] = cpu.toFloats(caux);
                    }
                    Tensor gx = gpu().fromFloats(x, Shape.of(rows, k)), gw = gpu().fromFloats(w, Shape.of(n, k)), gb = gpu().fromFloats(b, Shape.of(n));
                    Tensor gg = gpu().fromFloats(gamma, Shape.of(n)), gr = gpu().fromFloats(res, ys);
                    Tensor fused = gpu().empty(ys), aux = gpu().empty(ys), sep = gpu().empty(ys), pre = gpu().empty(ys);
                    gpu().setMatmulPrecision(p);
                    int launches;
                    try {
                        int before = EmulatedDriver.active() ? EmulatedDriver.count(EmulatedDriver.LAUNCHES) : 0;
                        if (gelu) gpu().linearGelu(gx, gw, gb, rows, n, k, variant == 0 ? aux : null, fused);
                        else gpu().linearScaled(gx, gw, gb, variant == 2 ? gg : null, gr, rows, n, k, fused);
                        launches = EmulatedDriver.active() ? EmulatedDriver.count(EmulatedDriver.LAUNCHES) - before : -1;
                        gpu().linear(gx, gw, gb, rows, n, k, pre);   // the separate ops
                        if (gelu) gpu().gelu(pre, sep);
                        else if (variant == 2) gpu().addcmul(gr, pre, gg, sep);
                        else gpu().add(gr, pre, 1f, sep);
                    } finally {
                        gpu().setMatmulPrecision(Precision.FP32);
                    }
                    boolean splitK = p != Precision.FP32 && k >= 2048;
                    if (EmulatedDriver.active()) assertEquals(splitK ? 2 : 1, launches, what + ": launches");
                    float[] got = gpu().toFloats(fused), want = gpu().toFloats(sep);
                    for (int i = 0; i < got.length; i++)
                        assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]),
                                what + ": element " + i + " fused " + got[i] + " separate " + want[i]);
                    if (variant == 0) {
                        float[] a = gpu().toFloats(aux), pr = gpu().toFloats(pre);
                        for (int i = 0; i < a.length; i++)
                            assertEquals(Float.floatToRawIntBits(pr[i]), Float.floatToRawIntBits(a[i]), what + ": aux element " + i);
                        assertClose(what + " aux vs CPU", cpuOut[1], a, p == Precision.BF16 ? 1.0 / 128 : 1e-4, 1e-4 * Math.sqrt(k));
                    }
                    // GELU flattens the bf16 unit's relative error; the residual adds an absolute one
                    assertClose(what + " vs CPU", cpuOut[0], got, p == Precision.BF16 ? 1.0 / 64 : 1e-3, (p == Precision.BF16 ? 0.1 : 1e-3) * Math.sqrt(k) / 8);
                }
    }

    @Test
    void precisionIsASettingOfTheBackend() {
        assertEquals(Precision.FP32, gpu().matmulPrecision());
        gpu().setMatmulPrecision(Precision.BF16);
        try {
            assertEquals(Precision.BF16, gpu().matmulPrecision());
        } finally {
            gpu().setMatmulPrecision(Precision.FP32);
        }
    }
}
