// gemm.cu — batched, strided single-precision GEMM on row-major matrices:
//   C_i = alpha * op(A_i) * op(B_i) + beta * C_i,  i = blockIdx.z + zBase
// op(A) is MxK (stored KxM when transA), op(B) is KxN (stored NxK when transB); lda/ldb/ldc are row
// strides, strideA/B/C the element distance between batch entries (0 reuses one matrix). Matrix
// offsets are applied on the host (pointer arithmetic). When beta == 0, C is never read.
// Tiling: a 256-thread block computes a 128x128 tile of C, stepping K by 8 through shared memory
// (both tiles stored k-major); each thread accumulates an 8x8 register tile at rows ty + 16*i and
// columns tx + 16*j, so shared-memory reads are broadcast or conflict-free and stores coalesce in
// runs of 16. Global loads take 4 consecutive elements per thread along the stored rows.
// Used when cuBLAS (libcublas.so.12) cannot be loaded. The last six arguments are the linear epilogue of
// tc.cuh (bias, bf16 store, GELU with its pre-activation in aux, LayerScale and residual; aux and
// residual share C's leading dimension and batch stride), so Backend.linear / linearGelu / linearScaled
// are one launch on this path too.
#include "common.cuh"
#include "tc.cuh"

#define GEMM_BM 128
#define GEMM_BN 128
#define GEMM_BK 8
#define GEMM_TM 8
#define GEMM_TN 8

extern "C" __global__ void sgemm_batched(int transA, int transB, int M, int N, int K, float alpha,
                                         const float* __restrict__ A, int lda, long long strideA,
                                         const float* __restrict__ B, int ldb, long long strideB,
                                         float beta, float* __restrict__ C, int ldc, long long strideC,
                                         long long zBase, const float* __restrict__ bias, int roundBf16, int act,
                                         float* __restrict__ aux, const float* __restrict__ gamma,
                                         const float* __restrict__ residual) {
    __shared__ float As[GEMM_BK][GEMM_BM];
    __shared__ float Bs[GEMM_BK][GEMM_BN];
    long long z = zBase + blockIdx.z;
    A += z * strideA;
    B += z * strideB;
    C += z * strideC;
    const TcEpilogue ep{bias, roundBf16, act, aux ? aux + z * strideC : nullptr, gamma, residual ? residual + z * strideC : nullptr};
    const int tid = threadIdx.x;
    const int tx = tid & 15, ty = tid >> 4;
    const int row0 = blockIdx.y * GEMM_BM, col0 = blockIdx.x * GEMM_BN;

    // What this thread loads: 4 consecutive elements of one stored row, for each operand.
    // A stored MxK: row m = tid/2, k = 4*(tid%2) ..;  A stored KxM: k = tid/32, m = 4*(tid%32) ..
    const int aRow = transA ? tid >> 5 : tid >> 1;          // k (transA) or m
    const int aCol = transA ? (tid & 31) * 4 : (tid & 1) * 4;  // m (transA) or k
    // B stored KxN: k = tid/32, n = 4*(tid%32) ..;  B stored NxK: n = tid/2, k = 4*(tid%2) ..
    const int bRow = transB ? tid >> 1 : tid >> 5;          // n (transB) or k
    const int bCol = transB ? (tid & 1) * 4 : (tid & 31) * 4;  // k (transB) or n

    float acc[GEMM_TM][GEMM_TN];
#pragma unroll
    for (int i = 0; i < GEMM_TM; i++)
#pragma unroll
        for (int j = 0; j < GEMM_TN; j++) acc[i][j] = 0.f;

    for (int k0 = 0; k0 < K; k0 += GEMM_BK) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            if (transA) {
                int k = aRow, m = aCol + e, gk = k0 + k, gm = row0 + m;
                As[k][m] = (gk < K && gm < M) ? A[(long long)gk * lda + gm] : 0.f;
            } else {
                int m = aRow, k = aCol + e, gk = k0 + k, gm = row0 + m;
                As[k][m] = (gk < K && gm < M) ? A[(long long)gm * lda + gk] : 0.f;
            }
            if (transB) {
                int n = bRow, k = bCol + e, gk = k0 + k, gn = col0 + n;
                Bs[k][n] = (gk < K && gn < N) ? B[(long long)gn * ldb + gk] : 0.f;
            } else {
                int k = bRow, n = bCol + e, gk = k0 + k, gn = col0 + n;
                Bs[k][n] = (gk < K && gn < N) ? B[(long long)gk * ldb + gn] : 0.f;
            }
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < GEMM_BK; kk++) {
            float a[GEMM_TM], b[GEMM_TN];
#pragma unroll
            for (int i = 0; i < GEMM_TM; i++) a[i] = As[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < GEMM_TN; j++) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < GEMM_TM; i++)
#pragma unroll
                for (int j = 0; j < GEMM_TN; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < GEMM_TM; i++) {
        int r = row0 + ty + 16 * i;
        if (r >= M) continue;
#pragma unroll
        for (int j = 0; j < GEMM_TN; j++) {
            int c = col0 + tx + 16 * j;
            if (c >= N) continue;
            const long long o = (long long)r * ldc + c;
            const float v = alpha * acc[i][j];
            C[o] = tc_epilogue(beta == 0.f ? v : fmaf(beta, C[o], v), o, c, ep);
        }
    }
}
