// gemm.cu — batched, strided single-precision GEMM on row-major matrices:
//   C_i = alpha * op(A_i) * op(B_i) + beta * C_i,  i = blockIdx.z (+ zBase)
// op(A) is MxK (stored KxM when transA), op(B) is KxN (stored NxK when transB); lda/ldb/ldc are row
// strides, strideA/B/C the element distance between batch entries (0 reuses one matrix). Matrix
// offsets are applied on the host (pointer arithmetic). When beta == 0, C is never read.
// Tiling: 64x64 output tile per 256-thread block, K in steps of 16 through shared memory, each
// thread accumulating a 4x4 sub-tile (rows ty+16*i, cols tx+16*j: conflict-free, coalesced stores).
// Used when cuBLAS (libcublas.so.12) cannot be loaded.
#include "common.cuh"

#define GEMM_BM 64
#define GEMM_BN 64
#define GEMM_BK 16

extern "C" __global__ void sgemm_batched(int transA, int transB, int M, int N, int K, float alpha,
                                         const float* __restrict__ A, int lda, long long strideA,
                                         const float* __restrict__ B, int ldb, long long strideB,
                                         float beta, float* __restrict__ C, int ldc, long long strideC,
                                         long long zBase) {
    __shared__ float As[GEMM_BK][GEMM_BM + 4];
    __shared__ float Bs[GEMM_BK][GEMM_BN + 4];
    long long z = zBase + blockIdx.z;
    A += z * strideA;
    B += z * strideB;
    C += z * strideC;
    const int tid = threadIdx.x;
    const int tx = tid & 15, ty = tid >> 4;
    const int row0 = blockIdx.y * GEMM_BM, col0 = blockIdx.x * GEMM_BN;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.f;

    for (int k0 = 0; k0 < K; k0 += GEMM_BK) {
        for (int e = tid; e < GEMM_BM * GEMM_BK; e += 256) {
            int m, k;
            if (transA) { k = e / GEMM_BM; m = e % GEMM_BM; }   // stored KxM: contiguous along m
            else        { m = e / GEMM_BK; k = e % GEMM_BK; }   // stored MxK: contiguous along k
            int gm = row0 + m, gk = k0 + k;
            float v = 0.f;
            if (gm < M && gk < K) v = transA ? A[(long long)gk * lda + gm] : A[(long long)gm * lda + gk];
            As[k][m] = v;
        }
        for (int e = tid; e < GEMM_BN * GEMM_BK; e += 256) {
            int n, k;
            if (transB) { n = e / GEMM_BK; k = e % GEMM_BK; }   // stored NxK: contiguous along k
            else        { k = e / GEMM_BN; n = e % GEMM_BN; }   // stored KxN: contiguous along n
            int gn = col0 + n, gk = k0 + k;
            float v = 0.f;
            if (gn < N && gk < K) v = transB ? B[(long long)gn * ldb + gk] : B[(long long)gk * ldb + gn];
            Bs[k][n] = v;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < GEMM_BK; kk++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) a[i] = As[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; j++) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int r = row0 + ty + 16 * i;
        if (r >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int c = col0 + tx + 16 * j;
            if (c >= N) continue;
            float* p = C + (long long)r * ldc + c;
            float v = alpha * acc[i][j];
            *p = beta == 0.f ? v : fmaf(beta, *p, v);
        }
    }
}
