package dinoseg.backend.cuda;

import static dinoseg.backend.cuda.CudaMemory.ptr;

import java.util.concurrent.atomic.AtomicBoolean;

import dinoseg.backend.MatrixView;
import dinoseg.backend.Precision;
import jcuda.driver.CUdeviceptr;

/**
 * GEMM on the GPU: cuBLAS (cublasSgemmStridedBatched) when libcublas.so.12 loads, else the tiled
 * {@code sgemm_batched} kernel of kernels/gemm.cu (128×128 tiles, 256 threads, batches split into
 * grid z-slices of at most 65535). Arguments are checked by the backend (OpContract.gemm) first.
 */
final class CudaGemmOps {
    private static final AtomicBoolean GEMM_LOGGED = new AtomicBoolean();

    private final CudaContext ctx;
    private final CudaMemory mem;
    private final CublasGemm cublas;

    CudaGemmOps(CudaContext ctx, CudaMemory mem) {
        this.ctx = ctx;
        this.mem = mem;
        this.cublas = CublasGemm.tryCreate(ctx.stream);
        String path = cublas != null ? "cuBLAS" : "dinoseg sgemm kernel (cuBLAS unavailable: " + CublasGemm.failure() + ")";
        if (GEMM_LOGGED.compareAndSet(false, true)) System.err.println("dinoseg: CUDA GEMM path: " + path);
    }

    /** "cuBLAS" or "kernel". */
    String path() { return cublas != null ? "cuBLAS" : "kernel"; }

    private volatile Precision precision = Precision.FP32;

    Precision precision() { return precision; }

    void setPrecision(Precision p) { precision = p; }

    /**
     * C = alpha op(A) op(B) + beta C. FP32: on cuBLAS when it loaded and k &gt; 0, else on the
     * sgemm_batched kernel. BF16 / TF32: on the tensor-core kernels gemm_bf16_tc / gemm_tf32_tc
     * (kernels/gemm_tc.cu, same arguments and tiles), never cuBLAS, so the rounding is ours.
     */
    void gemm(int m, int n, int k, float alpha, MatrixView a, MatrixView b, float beta, MatrixView c, int batch) {
        if (m == 0 || n == 0 || batch == 0) return;
        ctx.bind();
        Precision p = precision;
        if (p != Precision.FP32) {
            tensorCoreGemm(p, m, n, k, alpha, a, b, beta, c, batch, Epilogue.NONE);
            return;
        }
        if (cublas != null && k > 0) {   // cuBLAS rejects the leading dimensions of empty operands
            cublas.sgemm(a.transposed(), b.transposed(), m, n, k, alpha, ptr(a.tensor(), a.offset()), a.ld(), a.stride(),
                    ptr(b.tensor(), b.offset()), b.ld(), b.stride(), beta, ptr(c.tensor(), c.offset()), c.ld(), c.stride(), batch);
            return;
        }
        kernelGemm(m, n, k, alpha, a, b, beta, c, batch);
    }

    /**
     * The linear epilogue of the GEMM kernels (kernels/tc.cuh, TcEpilogue), in cuBLASLt's terms BIAS and
     * GELU_AUX_BIAS plus DINOv2's LayerScale and residual, applied in this order to each output value v:
     * {@code v += bias[col]}; v rounded to bf16 when {@code roundBf16}; {@code aux = v} (the pre-activation)
     * when aux is not null; {@code v = gelu(v)} when {@code gelu}; {@code v = residual + v * gamma[col]}
     * (each rounded, no FMA). Null pointers skip a step; aux and residual have C's layout.
     */
    record Epilogue(CUdeviceptr bias, boolean roundBf16, boolean gelu, CUdeviceptr aux, CUdeviceptr gamma, CUdeviceptr residual) {
        static final Epilogue NONE = new Epilogue(null, false, false, null, null, null);

        KernelArgs append(KernelArgs args) {
            return args.ptr(bias).i(roundBf16 ? 1 : 0).i(gelu ? 1 : 0).ptr(aux).ptr(gamma).ptr(residual);
        }
    }

    /**
     * Dynamic shared memory of gemm_bf16_tc and gemm_tf32_tc (GEMM_TC_SMEM in kernels/gemm_tc.cu): the
     * cp.async staging buffers and the converted bf16/tf32 tiles. Above the 48 KiB default, so the
     * backend opts in per kernel; within the 99 KiB that sm_86/sm_89 allow.
     */
    static final int TC_SHARED_BYTES = 90112;

    /**
     * The tensor-core GEMM (precision BF16 or TF32) with the linear epilogue (see {@link Epilogue}).
     * Split-K when few tiles share a long K (batch 1); the epilogue then runs in the reduction.
     */
    void tensorCoreGemm(Precision p, int m, int n, int k, float alpha, MatrixView a, MatrixView b, float beta, MatrixView c, int batch,
                        Epilogue ep) {
        if (m == 0 || n == 0 || batch == 0) return;
        ctx.bind();
        String kernel = p == Precision.BF16 ? "gemm_bf16_tc" : "gemm_tf32_tc";
        int slices = batch == 1 ? splitK(m, n, k, ctx.smCount) : 1;
        if (slices > 1) { splitKGemm(kernel, slices, m, n, k, alpha, a, b, beta, c, ep); return; }
        launchGemm(kernel, a.transposed(), b.transposed(), m, n, k, alpha,
                ptr(a.tensor(), a.offset()), a.ld(), a.stride(), ptr(b.tensor(), b.offset()), b.ld(), b.stride(),
                beta, ptr(c.tensor(), c.offset()), c.ld(), c.stride(), batch, ep);
    }

    /**
     * C = epilogue(op(A) op(B)) on the fp32 path for a linear layer (batch 1, alpha 1, beta 0): one
     * sgemm_batched launch with the epilogue when cuBLAS is not in use, and false (nothing done) when it
     * is, so the caller composes cuBLAS's product with the separate ops.
     */
    boolean fp32LinearKernel(int m, int n, int k, MatrixView a, MatrixView b, MatrixView c, Epilogue ep) {
        if (cublas != null && k > 0) return false;
        if (m == 0 || n == 0) return true;
        ctx.bind();
        launchGemm("sgemm_batched", a.transposed(), b.transposed(), m, n, k, 1f, ptr(a.tensor(), a.offset()), a.ld(), a.stride(),
                ptr(b.tensor(), b.offset()), b.ld(), b.stride(), 0f, ptr(c.tensor(), c.offset()), c.ld(), c.stride(), 1, ep);
        return true;
    }

    /** The kernel path regardless of cuBLAS. */
    void kernelGemm(int m, int n, int k, float alpha, MatrixView a, MatrixView b, float beta, MatrixView c, int batch) {
        if (m == 0 || n == 0 || batch == 0) return;
        ctx.bind();
        kernelGemm(a.transposed(), b.transposed(), m, n, k, alpha, ptr(a.tensor(), a.offset()), a.ld(), a.stride(),
                ptr(b.tensor(), b.offset()), b.ld(), b.stride(), beta, ptr(c.tensor(), c.offset()), c.ld(), c.stride(), batch);
    }

    /** K per split-K slice: a multiple of both tensor-core kernels' K tile (32, 16). */
    static final int SPLIT_K_MIN = 1024;

    /**
     * How many K slices a single GEMM is split into: 1 unless its 128x128 tiles leave most of the
     * SMs idle and K is long (the weight gradients: m x n at most 1536 x 384 over K = batch x tokens);
     * then enough slices of at least {@value #SPLIT_K_MIN} to give every SM about two tiles, at most 32.
     */
    static int splitK(int m, int n, int k, int sms) {
        long tiles = (long) ((m + 127) / 128) * ((n + 127) / 128);
        if (tiles >= sms || k < 2 * SPLIT_K_MIN) return 1;
        long want = Math.max(1, 2L * sms / tiles);
        return (int) Math.max(1, Math.min(Math.min(want, 32), k / SPLIT_K_MIN));
    }

    /**
     * C = alpha op(A) op(B) + beta C as {@code slices} tensor-core GEMMs over consecutive K ranges
     * into partials [slices][m][n] (one launch for the equal slices, one for the last), then
     * splitk_reduce sums them in slice order into C: deterministic, no atomics.
     */
    private void splitKGemm(String kernel, int slices, int m, int n, int k, float alpha, MatrixView a, MatrixView b, float beta, MatrixView c,
                            Epilogue ep) {
        int kc = (k + slices - 1) / slices;
        kc = (kc + 31) / 32 * 32;
        int full = Math.min(slices, k / kc), rest = k - full * kc, s = full + (rest > 0 ? 1 : 0);
        // moving one slice along K: A's columns (stored m x k) or rows (stored k x m), B's rows (k x n) or columns (n x k)
        long stepA = a.transposed() ? (long) kc * a.ld() : kc, stepB = b.transposed() ? kc : (long) kc * b.ld();
        long mn = (long) m * n;
        try (dinoseg.tensor.Tensor part = mem.empty(dinoseg.tensor.Shape.of(Math.toIntExact(s * mn)), dinoseg.tensor.DType.F32)) {
            CUdeviceptr pp = ptr(part);
            launchGemm(kernel, a.transposed(), b.transposed(), m, n, kc, 1f, ptr(a.tensor(), a.offset()), a.ld(), stepA,
                    ptr(b.tensor(), b.offset()), b.ld(), stepB, 0f, pp, n, mn, full, Epilogue.NONE);
            if (rest > 0)
                launchGemm(kernel, a.transposed(), b.transposed(), m, n, rest, 1f, ptr(a.tensor(), a.offset() + full * stepA), a.ld(), 0,
                        ptr(b.tensor(), b.offset() + full * stepB), b.ld(), 0, 0f, ptr(part, full * mn), n, 0, 1, Epilogue.NONE);
            ctx.launchN("splitk_reduce", mn, ep.append(new KernelArgs().ptr(pp).ptr(ptr(c.tensor(), c.offset())).i(c.ld()).i(m).i(n).i(s)
                    .f(alpha).f(beta)));
        }
    }

    /** The fp32 kernel on raw device pointers (BLAS argument order). */
    void kernelGemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                    CUdeviceptr pa, int lda, long strideA, CUdeviceptr pb, int ldb, long strideB,
                    float beta, CUdeviceptr pc, int ldc, long strideC, int batch) {
        kernelGemm("sgemm_batched", transA, transB, m, n, k, alpha, pa, lda, strideA, pb, ldb, strideB, beta, pc, ldc, strideC, batch);
    }

    /**
     * One of the GEMM kernels sharing sgemm_batched's arguments, 128x128 tiles of 256 threads and the
     * linear epilogue; the tensor-core kernels with their {@value #TC_SHARED_BYTES} bytes of dynamic shared memory.
     */
    private void kernelGemm(String kernel, boolean transA, boolean transB, int m, int n, int k, float alpha,
                            CUdeviceptr pa, int lda, long strideA, CUdeviceptr pb, int ldb, long strideB,
                            float beta, CUdeviceptr pc, int ldc, long strideC, int batch) {
        launchGemm(kernel, transA, transB, m, n, k, alpha, pa, lda, strideA, pb, ldb, strideB, beta, pc, ldc, strideC, batch, Epilogue.NONE);
    }

    private void launchGemm(String kernel, boolean transA, boolean transB, int m, int n, int k, float alpha,
                            CUdeviceptr pa, int lda, long strideA, CUdeviceptr pb, int ldb, long strideB,
                            float beta, CUdeviceptr pc, int ldc, long strideC, int batch, Epilogue ep) {
        int gx = (n + 127) / 128, gy = (m + 127) / 128;   // 128x128 tiles (gemm.cu, gemm_tc.cu)
        int shared = kernel.startsWith("sgemm") ? 0 : TC_SHARED_BYTES;
        for (int z0 = 0; z0 < batch; z0 += 65535) {
            int nz = Math.min(65535, batch - z0);
            KernelArgs args = new KernelArgs()
                    .i(transA ? 1 : 0).i(transB ? 1 : 0).i(m).i(n).i(k).f(alpha)
                    .ptr(pa).i(lda).l(strideA).ptr(pb).i(ldb).l(strideB)
                    .f(beta).ptr(pc).i(ldc).l(strideC).l(z0);
            ctx.launch(kernel, gx, gy, nz, 256, shared, ep.append(args));
        }
    }

    void close() { if (cublas != null) cublas.close(); }
}
