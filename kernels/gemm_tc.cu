// gemm_tc.cu — batched, strided GEMM on tensor cores with fp32 accumulation. gemm_bf16_tc: the arithmetic of
// PyTorch autocast(bfloat16) for matmul: operands rounded to bf16 (nearest even), products summed in
// fp32. Same contract as sgemm_batched in gemm.cu (row-major; op(A) MxK, stored KxM when transA;
// op(B) KxN, stored NxK when transB; C_i = alpha * op(A_i) op(B_i) + beta * C_i with i = blockIdx.z +
// zBase; C is never read when beta == 0), so the backend can pick either per precision; plus the linear
// epilogue of tc_epilogue (tc.cuh: bias, bf16 store, GELU with the pre-activation kept, LayerScale and
// residual) that makes one launch of Backend.linear / linearGelu / linearScaled.
//
// Tiling: a 256-thread block (8 warps as 2 x 4) computes a 128x128 tile of C; each warp a 64x32 tile as
// 4 x 4 mma tiles of 16 x 8 (64 fp32 accumulators per thread). K advances 16 per tile.
// Pipeline (operands are fp32 in global memory; the tensor cores take bf16/tf32):
//   1. cp.async copies each K tile's fp32 values into one of STAGES staging buffers, STAGES - 1 tiles
//      ahead of the tile being multiplied (commit/wait groups; 16-byte copies when the operand's base,
//      leading dimension and batch stride allow it, else 4-byte ones). Each thread copies two 4-float
//      chunks per operand and is the only one that reads them back, so a staging buffer needs no barrier.
//   2. After wait_group, each thread rounds its own chunks to bf16 (tf32) into one of two converted
//      tiles, laid out as stored: k-contiguous operands as S[row][k], the others as S[k][row].
//   3. One __syncthreads per K tile; then ldmatrix (.trans for the S[k][row] layout) and mma.sync.
//      The converted tiles alternate, so the next tile's conversion never overwrites one being read.
// Shared memory (dynamic, GEMM_TC_SMEM bytes; the host opts in above 48 KiB): staging STAGES x 16 KiB,
// converted tiles 2 x (A + B), each padded so that ldmatrix / fragment loads are free of bank conflicts.
// gemm_tf32_tc: the same with tf32 operands (cvt.rna) on mma.m16n8k8, as allow_tf32 in PyTorch.
#include "common.cuh"
#include "tc.cuh"

#define TC_BM 128
#define TC_BN 128
#define TC_BK 16
#define TC_STAGE 4096           // floats per staging buffer: A then B, 2048 each (128 x 16)
#define TC_LDK 24               // bf16 S[128][16 + 8]: 48-byte rows (16-byte aligned, 8 rows on 32 banks)
#define TC_LDM 136              // bf16 S[16][128 + 8]: 272-byte rows
#define TC_SLOT 3072            // bf16 elements per converted operand tile: max(128 x 24, 16 x 136)
#define TF_LDK 20               // tf32 words S[128][16 + 4]: fragment rows g = 0..7 on distinct banks
#define TF_LDM 136              // tf32 words S[16][128 + 8]: k = t rows 8 banks apart
#define TF_SLOT 2560            // tf32 words per converted operand tile: max(128 x 20, 16 x 136)
#define BF_STAGES 4
#define TF_STAGES 3
// 4 x 16 KiB + 2 x 2 x 6 KiB = 3 x 16 KiB + 2 x 2 x 10 KiB = 90112 bytes (CudaGemmOps.TC_SHARED_BYTES)
#define GEMM_TC_SMEM (BF_STAGES * TC_STAGE * 4 + 4 * TC_SLOT * 2)

// Whether an operand's chunks may be copied 16 bytes at a time: its base, leading dimension and batch
// stride keep every 4-element chunk 16-byte aligned.
__device__ __forceinline__ bool tc_vec_ok(const float* X, int ld, long long stride) {
    return ((uintptr_t)X & 15) == 0 && (ld & 3) == 0 && (stride & 3) == 0;
}

// Issues the cp.async copies of one operand's K tile (k0 .. k0 + 15 of op rows r0 .. r0 + 127) into the
// staging buffer st (2048 floats): chunk c = tid + 256 j (j = 0, 1) holds 4 consecutive stored elements,
// kContig (k contiguous: A not transposed, B transposed): row c / 4, k 4 (c % 4) ..; otherwise k c / 32,
// rows 4 (c % 32) ... Chunk j of thread tid sits at st[(j * 256 + tid) * 4]. Out-of-range elements are
// zero-filled (src-size below the copy size).
__device__ __forceinline__ void tc_issue(float* st, const float* __restrict__ X, int ld, bool kContig, bool vec,
                                         int rows, int K, int r0, int k0, int tid) {
#pragma unroll
    for (int j = 0; j < 2; j++) {
        const int c = tid + 256 * j;
        const int r = kContig ? r0 + (c >> 2) : r0 + (c & 31) * 4;
        const int k = kContig ? k0 + (c & 3) * 4 : k0 + (c >> 5);
        float* d = st + (j * 256 + tid) * 4;
        if (vec) {
            int valid = kContig ? (r < rows ? K - k : 0) : (k < K ? rows - r : 0);
            valid = valid < 0 ? 0 : valid > 4 ? 4 : valid;
            const float* s = valid > 0 ? X + (kContig ? (long long)r * ld + k : (long long)k * ld + r) : X;
            tc_cp_async16(d, s, valid * 4);
        } else {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const bool ok = kContig ? (r < rows && k + e < K) : (k < K && r + e < rows);
                const float* s = ok ? X + (kContig ? (long long)r * ld + k + e : (long long)k * ld + r + e) : X;
                tc_cp_async4(d + e, s, ok ? 4 : 0);
            }
        }
    }
}

// Rounds this thread's two staged chunks of one operand to bf16 into the converted tile S (as stored:
// S[row][TC_LDK] when kContig, else S[k][TC_LDM]).
__device__ __forceinline__ void tc_convert_bf16(uint16_t* S, const float* st, bool kContig, int tid) {
#pragma unroll
    for (int j = 0; j < 2; j++) {
        const int c = tid + 256 * j;
        float v[4];
        tc_ld4(v, st + (j * 256 + tid) * 4);
        uint16_t* d = kContig ? S + (c >> 2) * TC_LDK + (c & 3) * 4 : S + (c >> 5) * TC_LDM + (c & 31) * 4;
        tc_st2(d, tc_pack_bf16x2(v[0], v[1]), tc_pack_bf16x2(v[2], v[3]));
    }
}

// The same for tf32 words: S[row][TF_LDK] or S[k][TF_LDM].
__device__ __forceinline__ void tc_convert_tf32(uint32_t* S, const float* st, bool kContig, int tid) {
#pragma unroll
    for (int j = 0; j < 2; j++) {
        const int c = tid + 256 * j;
        float v[4];
        tc_ld4(v, st + (j * 256 + tid) * 4);
        uint32_t* d = kContig ? S + (c >> 2) * TF_LDK + (c & 3) * 4 : S + (c >> 5) * TF_LDM + (c & 31) * 4;
        tc_st4(d, tc_tf32(v[0]), tc_tf32(v[1]), tc_tf32(v[2]), tc_tf32(v[3]));
    }
}

// A warp's 64x32 accumulator tile (4 x 4 mma tiles of 16 x 8) set to zero.
__device__ __forceinline__ void tc_zero(float (&acc)[4][4][4]) {
#pragma unroll
    for (int mi = 0; mi < 4; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int i = 0; i < 4; i++) acc[mi][ni][i] = 0.f;
}

// C = epilogue(alpha * acc + beta * C) for a warp's tile at (r0, c0), by the accumulator layout (c0, c1
// at row g, c2, c3 at row g + 8; columns 2t, 2t + 1); C is not read when beta == 0. aux and residual
// share C's leading dimension (the batch offset is applied by the caller).
__device__ __forceinline__ void tc_store_c(const float (&acc)[4][4][4], float* __restrict__ C, int ldc, int M, int N,
                                           int r0, int c0, int lane, float alpha, float beta, const TcEpilogue& ep) {
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int mi = 0; mi < 4; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int r = r0 + mi * 16 + g + (i >= 2 ? 8 : 0);
                const int c = c0 + ni * 8 + 2 * t + (i & 1);
                if (r < M && c < N) {
                    const long long o = (long long)r * ldc + c;
                    const float v = beta == 0.f ? alpha * acc[mi][ni][i] : alpha * acc[mi][ni][i] + beta * C[o];
                    C[o] = tc_epilogue(v, o, c, ep);
                }
            }
}

// The kernels' common arguments: sgemm_batched's, then the epilogue's (tc.cuh).
#define GEMM_TC_PARAMS                                                                                   \
    int transA, int transB, int M, int N, int K, float alpha, const float* __restrict__ A, int lda,    \
        long long strideA, const float* __restrict__ B, int ldb, long long strideB, float beta,        \
        float* __restrict__ C, int ldc, long long strideC, long long zBase, const float* __restrict__ bias, \
        int roundBf16, int act, float* __restrict__ aux, const float* __restrict__ gamma,              \
        const float* __restrict__ residual

extern "C" __global__ void gemm_bf16_tc(GEMM_TC_PARAMS) {
    extern __shared__ __align__(16) float gtc_smem[];
    float* stages = gtc_smem;                                     // [BF_STAGES][A 2048 | B 2048]
    uint16_t* conv = (uint16_t*)(gtc_smem + BF_STAGES * TC_STAGE);  // [2][A TC_SLOT | B TC_SLOT]
    const long long z = zBase + blockIdx.z;
    A += z * strideA;
    B += z * strideB;
    C += z * strideC;
    const TcEpilogue ep{bias, roundBf16, act, aux ? aux + z * strideC : nullptr, gamma, residual ? residual + z * strideC : nullptr};
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp >> 2, wn = warp & 3;             // warp tile: rows wm*64 .., columns wn*32 ..
    const int row0 = blockIdx.y * TC_BM, col0 = blockIdx.x * TC_BN;
    const bool aK = !transA, bK = transB;                // which operands are stored k-contiguous
    const bool vecA = tc_vec_ok(A, lda, strideA), vecB = tc_vec_ok(B, ldb, strideB);

    float acc[4][4][4];
    tc_zero(acc);
    const int tiles = (K + TC_BK - 1) / TC_BK;
#pragma unroll
    for (int s = 0; s < BF_STAGES - 1; s++) {            // the first STAGES - 1 tiles in flight (empty groups past K)
        if (s < tiles) {
            tc_issue(stages + s * TC_STAGE, A, lda, aK, vecA, M, K, row0, s * TC_BK, tid);
            tc_issue(stages + s * TC_STAGE + 2048, B, ldb, bK, vecB, N, K, col0, s * TC_BK, tid);
        }
        tc_cp_async_commit();
    }
    for (int kt = 0; kt < tiles; kt++) {
        tc_cp_async_wait<BF_STAGES - 2>();               // this thread's copies of tile kt have landed
        const float* st = stages + (kt % BF_STAGES) * TC_STAGE;
        uint16_t* As = conv + (kt & 1) * 2 * TC_SLOT;
        uint16_t* Bs = As + TC_SLOT;
        tc_convert_bf16(As, st, aK, tid);
        tc_convert_bf16(Bs, st + 2048, bK, tid);
        __syncthreads();   // tile kt converted by all; all are past tile kt - 1 (whose staging buffer is refilled next)
        const int nt = kt + BF_STAGES - 1;
        if (nt < tiles) {
            tc_issue(stages + (nt % BF_STAGES) * TC_STAGE, A, lda, aK, vecA, M, K, row0, nt * TC_BK, tid);
            tc_issue(stages + (nt % BF_STAGES) * TC_STAGE + 2048, B, ldb, bK, vecB, N, K, col0, nt * TC_BK, tid);
        }
        tc_cp_async_commit();

        uint32_t af[4][4], bf[4][2];
#pragma unroll
        for (int mi = 0; mi < 4; mi++) {   // matrices: rows 0-7 | 8-15 at k 0-7, then at k 8-15
            const int m = wm * 64 + mi * 16;
            if (aK) tc_ldmatrix_x4(af[mi], &As[(m + (lane & 15)) * TC_LDK + (lane >> 4) * 8]);
            else tc_ldmatrix_x4_trans(af[mi], &As[((lane >> 4) * 8 + (lane & 7)) * TC_LDM + m + ((lane >> 3) & 1) * 8]);
        }
#pragma unroll
        for (int nj = 0; nj < 2; nj++) {   // matrices: n 0-7 at k 0-7 | k 8-15, then n 8-15
            const int n = wn * 32 + nj * 16;
            uint32_t r[4];
            if (bK) tc_ldmatrix_x4(r, &Bs[(n + (lane & 7) + ((lane >> 4) << 3)) * TC_LDK + ((lane >> 3) & 1) * 8]);
            else tc_ldmatrix_x4_trans(r, &Bs[(((lane >> 3) & 1) * 8 + (lane & 7)) * TC_LDM + n + (lane >> 4) * 8]);
            bf[2 * nj][0] = r[0]; bf[2 * nj][1] = r[1];
            bf[2 * nj + 1][0] = r[2]; bf[2 * nj + 1][1] = r[3];
        }
#pragma unroll
        for (int mi = 0; mi < 4; mi++)
#pragma unroll
            for (int ni = 0; ni < 4; ni++) tc_mma_bf16_m16n8k16(acc[mi][ni], af[mi], bf[ni], acc[mi][ni]);
    }
    tc_cp_async_wait<0>();   // no copy may be left in flight when the block exits

    tc_store_c(acc, C, ldc, M, N, row0 + wm * 64, col0 + wn * 32, lane, alpha, beta, ep);
}

extern "C" __global__ void gemm_tf32_tc(GEMM_TC_PARAMS) {
    extern __shared__ __align__(16) float gtc_smem[];
    float* stages = gtc_smem;                                     // [TF_STAGES][A 2048 | B 2048]
    uint32_t* conv = (uint32_t*)(gtc_smem + TF_STAGES * TC_STAGE);  // [2][A TF_SLOT | B TF_SLOT]
    const long long z = zBase + blockIdx.z;
    A += z * strideA;
    B += z * strideB;
    C += z * strideC;
    const TcEpilogue ep{bias, roundBf16, act, aux ? aux + z * strideC : nullptr, gamma, residual ? residual + z * strideC : nullptr};
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp >> 2, wn = warp & 3;
    const int g = lane >> 2, t = lane & 3;
    const int row0 = blockIdx.y * TC_BM, col0 = blockIdx.x * TC_BN;
    const bool aK = !transA, bK = transB;
    const bool vecA = tc_vec_ok(A, lda, strideA), vecB = tc_vec_ok(B, ldb, strideB);

    float acc[4][4][4];
    tc_zero(acc);
    const int tiles = (K + TC_BK - 1) / TC_BK;
#pragma unroll
    for (int s = 0; s < TF_STAGES - 1; s++) {
        if (s < tiles) {
            tc_issue(stages + s * TC_STAGE, A, lda, aK, vecA, M, K, row0, s * TC_BK, tid);
            tc_issue(stages + s * TC_STAGE + 2048, B, ldb, bK, vecB, N, K, col0, s * TC_BK, tid);
        }
        tc_cp_async_commit();
    }
    for (int kt = 0; kt < tiles; kt++) {
        tc_cp_async_wait<TF_STAGES - 2>();
        const float* st = stages + (kt % TF_STAGES) * TC_STAGE;
        uint32_t* At = conv + (kt & 1) * 2 * TF_SLOT;
        uint32_t* Bt = At + TF_SLOT;
        tc_convert_tf32(At, st, aK, tid);
        tc_convert_tf32(Bt, st + 2048, bK, tid);
        __syncthreads();
        const int nt = kt + TF_STAGES - 1;
        if (nt < tiles) {
            tc_issue(stages + (nt % TF_STAGES) * TC_STAGE, A, lda, aK, vecA, M, K, row0, nt * TC_BK, tid);
            tc_issue(stages + (nt % TF_STAGES) * TC_STAGE + 2048, B, ldb, bK, vecB, N, K, col0, nt * TC_BK, tid);
        }
        tc_cp_async_commit();
#pragma unroll
        for (int ks = 0; ks < TC_BK; ks += 8) {
            uint32_t af[4][4], bf[4][2];
#pragma unroll
            for (int mi = 0; mi < 4; mi++) {   // a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4)
                const int r = wm * 64 + mi * 16 + g;
                if (aK) {
                    af[mi][0] = At[r * TF_LDK + ks + t];
                    af[mi][1] = At[(r + 8) * TF_LDK + ks + t];
                    af[mi][2] = At[r * TF_LDK + ks + t + 4];
                    af[mi][3] = At[(r + 8) * TF_LDK + ks + t + 4];
                } else {
                    af[mi][0] = At[(ks + t) * TF_LDM + r];
                    af[mi][1] = At[(ks + t) * TF_LDM + r + 8];
                    af[mi][2] = At[(ks + t + 4) * TF_LDM + r];
                    af[mi][3] = At[(ks + t + 4) * TF_LDM + r + 8];
                }
            }
#pragma unroll
            for (int ni = 0; ni < 4; ni++) {   // b0 (k t, n g), b1 (k t+4, n g)
                const int n = wn * 32 + ni * 8 + g;
                if (bK) {
                    bf[ni][0] = Bt[n * TF_LDK + ks + t];
                    bf[ni][1] = Bt[n * TF_LDK + ks + t + 4];
                } else {
                    bf[ni][0] = Bt[(ks + t) * TF_LDM + n];
                    bf[ni][1] = Bt[(ks + t + 4) * TF_LDM + n];
                }
            }
#pragma unroll
            for (int mi = 0; mi < 4; mi++)
#pragma unroll
                for (int ni = 0; ni < 4; ni++) tc_mma_tf32_m16n8k8(acc[mi][ni], af[mi], bf[ni], acc[mi][ni]);
        }
    }
    tc_cp_async_wait<0>();

    tc_store_c(acc, C, ldc, M, N, row0 + wm * 64, col0 + wn * 32, lane, alpha, beta, ep);
}

// Split-K for GEMMs with few output tiles and a long K (the weight gradients: M x N <= 1536 x 384,
// K = batch x tokens): the host runs a tensor-core GEMM per K slice into partials P[S][M][N], then
// C = epilogue(alpha * (P[0] + P[1] + ... + P[S-1]) + beta * C), summed in slice order (deterministic;
// C is not read when beta == 0); aux and residual share C's leading dimension.
extern "C" __global__ void splitk_reduce(const float* __restrict__ P, float* __restrict__ C, int ldc, int M, int N, int S,
                                         float alpha, float beta, const float* __restrict__ bias, int roundBf16,
                                         int act, float* __restrict__ aux, const float* __restrict__ gamma,
                                         const float* __restrict__ residual) {
    const TcEpilogue ep{bias, roundBf16, act, aux, gamma, residual};
    const long long n = (long long)M * N;
    DS_GRID_LOOP(i, n) {
        float s = 0.f;
        for (int k = 0; k < S; k++) s += P[k * n + i];
        const int c = (int)(i % N);
        const long long o = (i / N) * (long long)ldc + c;
        const float v = beta == 0.f ? alpha * s : alpha * s + beta * C[o];
        C[o] = tc_epilogue(v, o, c, ep);
    }
}

// round_tf32_f: y = x rounded to tf32 (cvt.rna, as the operands of gemm_tf32_tc), as floats (Backend.roundTo).
extern "C" __global__ void round_tf32_f(const float* __restrict__ x, float* __restrict__ y, long long n) {
    DS_GRID_LOOP(i, n) y[i] = __uint_as_float(tc_tf32(x[i]) & 0xffffe000u);   // the low 13 bits: zero, whatever cvt left
}
