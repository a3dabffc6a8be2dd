package dinoseg.backend.cuda;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;
import jcuda.jcublas.cublasOperation;
import jcuda.runtime.cudaStream_t;

/**
 * GEMM through cuBLAS (used only when JCublas2's native library and libcublas.so.12 load).
 * cuBLAS is column-major: a row-major C = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T,
 * so the operands are swapped and m/n exchanged; leading dimensions and strides carry over as-is.
 */
final class CublasGemm {
    private static volatile String failure = "not tried";

    private final cublasHandle handle;

    private CublasGemm(cublasHandle handle) { this.handle = handle; }

    /** A cuBLAS handle on {@code stream}, or null (with {@link #failure()} saying why) when cuBLAS cannot load. */
    static CublasGemm tryCreate(CUstream stream) {
        if (Boolean.getBoolean("dinoseg.cuda.noCublas")) {
            failure = "disabled by -Ddinoseg.cuda.noCublas=true";
            return null;
        }
        try {
            JCublas2.setExceptionsEnabled(true);
            cublasHandle h = new cublasHandle();
            JCublas2.cublasCreate(h);
            JCublas2.cublasSetStream(h, new cudaStream_t(stream));
            failure = null;
            return new CublasGemm(h);
        } catch (Throwable t) {   // UnsatisfiedLinkError (no libcublas.so.12), CudaException, class-init errors
            StringBuilder all = new StringBuilder();
            for (Throwable c = t; c != null; c = c.getCause()) all.append(c).append(' ');
            failure = all.toString().contains("libcublas") ? "libcublas.so.12 not found"
                    : CudaContext.oneLine(t.toString());
            return null;
        }
    }

    static String failure() { return failure; }

    void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
               CUdeviceptr a, int lda, long strideA, CUdeviceptr b, int ldb, long strideB,
               float beta, CUdeviceptr c, int ldc, long strideC, int batch) {
        JCublas2.cublasSgemmStridedBatched(handle,
                transB ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N,
                transA ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N,
                n, m, k, Pointer.to(new float[]{alpha}),
                b, ldb, strideB,
                a, lda, strideA,
                Pointer.to(new float[]{beta}),
                c, ldc, strideC, batch);
    }

    void close() { JCublas2.cublasDestroy(handle); }
}
