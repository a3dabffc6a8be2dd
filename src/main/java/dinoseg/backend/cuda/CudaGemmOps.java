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
    private final CublasGemm cublas;

    CudaGemmOps(CudaContext ctx) {
        this.ctx = ctx;
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
            kernelGemm(p == Precision.BF16 ? "gemm_bf16_tc" : "gemm_tf32_tc", a.transposed(), b.transposed(), m, n, k, alpha,
                    ptr(a.tensor(), a.offset()), a.ld(), a.stride(), ptr(b.tensor(), b.offset()), b.ld(), b.stride(),
                    beta, ptr(c.tensor(), c.offset()), c.ld(), c.stride(), batch);
            return;
        }
        if (cublas != null && k > 0) {   // cuBLAS rejects the leading dimensions of empty operands
            cublas.sgemm(a.transposed(), b.transposed(), m, n, k, alpha, ptr(a.tensor(), a.offset()), a.ld(), a.stride(),
                    ptr(b.tensor(), b.offset()), b.ld(), b.stride(), beta, ptr(c.tensor(), c.offset()), c.ld(), c.stride(), batch);
            return;
        }
        kernelGemm(m, n, k, alpha, a, b, beta, c, batch);
    }

    /** The kernel path regardless of cuBLAS. */
    void kernelGemm(int m, int n, int k, float alpha, MatrixView a, MatrixView b, float beta, MatrixView c, int batch) {
        if (m == 0 || n == 0 || batch == 0) return;
        ctx.bind();
        kernelGemm(a.transposed(), b.transposed(), m, n, k, alpha, ptr(a.tensor(), a.offset()), a.ld(), a.stride(),
                ptr(b.tensor(), b.offset()), b.ld(), b.stride(), beta, ptr(c.tensor(), c.offset()), c.ld(), c.stride(), batch);
    }

    /** The fp32 kernel on raw device pointers (BLAS argument order). */
    void kernelGemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                    CUdeviceptr pa, int lda, long strideA, CUdeviceptr pb, int ldb, long strideB,
                    float beta, CUdeviceptr pc, int ldc, long strideC, int batch) {
        kernelGemm("sgemm_batched", transA, transB, m, n, k, alpha, pa, lda, strideA, pb, ldb, strideB, beta, pc, ldc, strideC, batch);
    }

    /** One of the GEMM kernels sharing sgemm_batched's arguments and 128x128 tiles of 256 threads. */
    private void kernelGemm(String kernel, boolean transA, boolean transB, int m, int n, int k, float alpha,
                            CUdeviceptr pa, int lda, long strideA, CUdeviceptr pb, int ldb, long strideB,
                            float beta, CUdeviceptr pc, int ldc, long strideC, int batch) {
        int gx = (n + 127) / 128, gy = (m + 127) / 128;   // 128x128 tiles (gemm.cu, gemm_tc.cu)
        for (int z0 = 0; z0 < batch; z0 += 65535) {
            int nz = Math.min(65535, batch - z0);
            ctx.launch(kernel, gx, gy, nz, 256, 0, new KernelArgs()
                    .i(transA ? 1 : 0).i(transB ? 1 : 0).i(m).i(n).i(k).f(alpha)
                    .ptr(pa).i(lda).l(strideA).ptr(pb).i(ldb).l(strideB)
                    .f(beta).ptr(pc).i(ldc).l(strideC).l(z0));
        }
    }

    void close() { if (cublas != null) cublas.close(); }
}
