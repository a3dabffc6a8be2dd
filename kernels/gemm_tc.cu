// gemm_tc.cu — batched, strided GEMM on tensor cores with fp32 accumulation. gemm_bf16_tc: the arithmetic of
// PyTorch autocast(bfloat16) for matmul: operands rounded to bf16 (nearest even), products summed in
// fp32. Same contract as sgemm_batched in gemm.cu (row-major; op(A) MxK, stored KxM when transA;
// op(B) KxN, stored NxK when transB; C_i = alpha * op(A_i) op(B_i) + beta * C_i with i = blockIdx.z +
// zBase; C is never read when beta == 0), so the backend can pick either per precision; plus an
// epilogue (bias: null or one value per column of C, added after alpha/beta; roundBf16: the result rounded
// to bf16) that makes one launch of PyTorch's F.linear under autocast (Backend.linear).
// Tiling: a 256-thread block (8 warps as 2 x 4) computes a 128x128 tile of C; each warp a 64x32 tile
// as 4 x 4 mma.m16n8k16 accumulators (64 floats per thread). K advances 32 at a time through two
// shared-memory stages of bf16 tiles, both stored k-contiguous (As[m][k], Bs[n][k]) with rows padded
// to 40 elements (80 bytes: 16-byte aligned for ldmatrix, consecutive rows on different banks), so
// A and B fragments are plain (non-.trans) ldmatrix.x4 loads whatever the transposes. The next
// tile's fp32 values are loaded into registers while the tensor cores work on the current stage,
// then rounded and stored into the other stage: one __syncthreads per K tile.
// gemm_tf32_tc (at the end): the same with tf32 operands (mma.m16n8k8), as allow_tf32 in PyTorch.
#include "common.cuh"
#include "tc.cuh"

#define TC_BM 128
#define TC_BN 128
#define TC_BK 32
#define TC_LDS 40   // TC_BK + 8 bf16 of padding per row

// One operand tile (128 rows of op rows x bk k, bk = 32 or 16) of fp32 values held in registers,
// bk/2 per thread (v holds 16, enough for bk = 32). kContig: the operand is stored with k contiguous (A not transposed, B transposed):
// thread t reads row t/2, k (t%2)*bk/2 ... Otherwise k is the stored row: 256/bk threads share a k,
// each reading bk/2 consecutive rows.
__device__ __forceinline__ void tc_load_tile(float (&v)[16], const float* __restrict__ X, int ld, bool kContig,
                                             int rows, int K, int r0, int k0, int tid, int bk) {
    const int e = bk / 2, tpk = 256 / bk;
    if (kContig) {
        const int r = r0 + (tid >> 1), k = k0 + (tid & 1) * e;
        const float* p = X + (long long)r * ld + k;
#pragma unroll
        for (int i = 0; i < e; i++) v[i] = (r < rows && k + i < K) ? p[i] : 0.f;
    } else {
        const int k = k0 + tid / tpk, r = r0 + (tid % tpk) * e;
        const float* p = X + (long long)k * ld + r;
#pragma unroll
        for (int i = 0; i < e; i++) v[i] = (k < K && r + i < rows) ? p[i] : 0.f;
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

// C = alpha * acc + beta * C (+ bias[column]) for a warp's tile at (r0, c0), by the accumulator layout
// (c0, c1 at row g, c2, c3 at row g + 8; columns 2t, 2t + 1), rounded to bf16 when roundBf16 (autocast's
// bf16 output: F.linear's addmm rounds once, after the bias); C is not read when beta == 0.
__device__ __forceinline__ void tc_store_c(const float (&acc)[4][4][4], float* __restrict__ C, int ldc, int M, int N,
                                           int r0, int c0, int lane, float alpha, float beta,
                                           const float* __restrict__ bias, int roundBf16) {
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
                    float* p = C + (long long)r * ldc + c;
                    float v = beta == 0.f ? alpha * acc[mi][ni][i] : alpha * acc[mi][ni][i] + beta * *p;
                    if (bias) v += bias[c];
                    *p = roundBf16 ? tc_round_bf16(v) : v;
                }
            }
}

// Rounds the registers of tc_load_tile to bf16 and stores them into a stage, S[row][k].
__device__ __forceinline__ void tc_store_tile(uint16_t (*S)[TC_LDS], const float* v, bool kContig, int tid) {
    if (kContig) {
        const int r = tid >> 1, k = (tid & 1) * 16;
        uint32_t* d = (uint32_t*)&S[r][k];   // 4-byte aligned: k is even
#pragma unroll
        for (int i = 0; i < 8; i++) d[i] = tc_pack_bf16x2(v[2 * i], v[2 * i + 1]);
    } else {
        const int k = tid >> 3, r = (tid & 7) * 16;
#pragma unroll
        for (int i = 0; i < 16; i++) S[r + i][k] = (uint16_t)(tc_pack_bf16x2(v[i], 0.f) & 0xffffu);
    }
}

extern "C" __global__ void gemm_bf16_tc(int transA, int transB, int M, int N, int K, float alpha,
                                        const float* __restrict__ A, int lda, long long strideA,
                                        const float* __restrict__ B, int ldb, long long strideB,
                                        float beta, float* __restrict__ C, int ldc, long long strideC,
                                        long long zBase,
                                        const float* __restrict__ bias, int roundBf16) {
    __shared__ __align__(16) uint16_t As[2][TC_BM][TC_LDS];
    __shared__ __align__(16) uint16_t Bs[2][TC_BN][TC_LDS];
    const long long z = zBase + blockIdx.z;
    A += z * strideA;
    B += z * strideB;
    C += z * strideC;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp >> 2, wn = warp & 3;             // warp tile: rows wm*64 .., columns wn*32 ..
    const int row0 = blockIdx.y * TC_BM, col0 = blockIdx.x * TC_BN;
    const bool aK = !transA, bK = transB;                // which operands are stored k-contiguous

    float acc[4][4][4];
    tc_zero(acc);

    float va[16], vb[16];
    const int tiles = (K + TC_BK - 1) / TC_BK;
    tc_load_tile(va, A, lda, aK, M, K, row0, 0, tid, TC_BK);
    tc_load_tile(vb, B, ldb, bK, N, K, col0, 0, tid, TC_BK);
    tc_store_tile(As[0], va, aK, tid);
    tc_store_tile(Bs[0], vb, bK, tid);
    __syncthreads();
    for (int kt = 0; kt < tiles; kt++) {
        const int cur = kt & 1;
        const bool more = kt + 1 < tiles;
        if (more) {   // global loads of the next tile overlap the tensor-core work below
            tc_load_tile(va, A, lda, aK, M, K, row0, (kt + 1) * TC_BK, tid, TC_BK);
            tc_load_tile(vb, B, ldb, bK, N, K, col0, (kt + 1) * TC_BK, tid, TC_BK);
        }
#pragma unroll
        for (int ks = 0; ks < TC_BK; ks += 16) {
            uint32_t af[4][4], bf[4][2];
#pragma unroll
            for (int mi = 0; mi < 4; mi++)   // matrices: rows 0-7 | 8-15 at k 0-7, then at k 8-15
                tc_ldmatrix_x4(af[mi], &As[cur][wm * 64 + mi * 16 + (lane & 15)][ks + (lane >> 4) * 8]);
#pragma unroll
            for (int nj = 0; nj < 2; nj++) {   // matrices: n 0-7 at k 0-7 | k 8-15, then n 8-15
                uint32_t r[4];
                tc_ldmatrix_x4(r, &Bs[cur][wn * 32 + nj * 16 + (lane & 7) + ((lane >> 4) << 3)][ks + ((lane >> 3) & 1) * 8]);
                bf[2 * nj][0] = r[0]; bf[2 * nj][1] = r[1];
                bf[2 * nj + 1][0] = r[2]; bf[2 * nj + 1][1] = r[3];
            }
#pragma unroll
            for (int mi = 0; mi < 4; mi++)
#pragma unroll
                for (int ni = 0; ni < 4; ni++) tc_mma_bf16_m16n8k16(acc[mi][ni], af[mi], bf[ni], acc[mi][ni]);
        }
        if (more) {   // the other stage was last read before the previous barrier
            tc_store_tile(As[cur ^ 1], va, aK, tid);
            tc_store_tile(Bs[cur ^ 1], vb, bK, tid);
        }
        __syncthreads();
    }

    tc_store_c(acc, C, ldc, M, N, row0 + wm * 64, col0 + wn * 32, lane, alpha, beta, bias, roundBf16);
}

// The same GEMM on tf32 tensor cores (mma.m16n8k8): operands rounded to tf32 (cvt.rna, 10 mantissa
// bits), fp32 accumulation, as torch.backends.cuda.matmul.allow_tf32 = True. Stages hold 16 k of
// 32-bit values, rows padded to 20 words (fragment loads by 8 row groups x 4 lanes hit 32 different
// banks); fragments are read with plain shared loads (ldmatrix moves 16-bit elements).
#define TF_BK 16
#define TF_LDS 20

__device__ __forceinline__ void tf_store_tile(uint32_t (*S)[TF_LDS], const float* v, bool kContig, int tid) {
    if (kContig) {
        const int r = tid >> 1, k = (tid & 1) * 8;
#pragma unroll
        for (int i = 0; i < 8; i++) S[r][k + i] = tc_tf32(v[i]);
    } else {
        const int k = tid >> 4, r = (tid & 15) * 8;
#pragma unroll
        for (int i = 0; i < 8; i++) S[r + i][k] = tc_tf32(v[i]);
    }
}

extern "C" __global__ void gemm_tf32_tc(int transA, int transB, int M, int N, int K, float alpha,
                                        const float* __restrict__ A, int lda, long long strideA,
                                        const float* __restrict__ B, int ldb, long long strideB,
                                        float beta, float* __restrict__ C, int ldc, long long strideC,
                                        long long zBase,
                                        const float* __restrict__ bias, int roundBf16) {
    __shared__ __align__(16) uint32_t Ats[2][TC_BM][TF_LDS];
    __shared__ __align__(16) uint32_t Bts[2][TC_BN][TF_LDS];
    const long long z = zBase + blockIdx.z;
    A += z * strideA;
    B += z * strideB;
    C += z * strideC;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp >> 2, wn = warp & 3;
    const int g = lane >> 2, t = lane & 3;
    const int row0 = blockIdx.y * TC_BM, col0 = blockIdx.x * TC_BN;
    const bool aK = !transA, bK = transB;

    float acc[4][4][4];
    tc_zero(acc);

    float va[16], vb[16];   // the first 8 used (bk/2)
    const int tiles = (K + TF_BK - 1) / TF_BK;
    tc_load_tile(va, A, lda, aK, M, K, row0, 0, tid, TF_BK);
    tc_load_tile(vb, B, ldb, bK, N, K, col0, 0, tid, TF_BK);
    tf_store_tile(Ats[0], va, aK, tid);
    tf_store_tile(Bts[0], vb, bK, tid);
    __syncthreads();
    for (int kt = 0; kt < tiles; kt++) {
        const int cur = kt & 1;
        const bool more = kt + 1 < tiles;
        if (more) {
            tc_load_tile(va, A, lda, aK, M, K, row0, (kt + 1) * TF_BK, tid, TF_BK);
            tc_load_tile(vb, B, ldb, bK, N, K, col0, (kt + 1) * TF_BK, tid, TF_BK);
        }
#pragma unroll
        for (int ks = 0; ks < TF_BK; ks += 8) {
            uint32_t af[4][4], bf[4][2];
#pragma unroll
            for (int mi = 0; mi < 4; mi++) {   // a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4)
                const int r = wm * 64 + mi * 16 + g;
                af[mi][0] = Ats[cur][r][ks + t];
                af[mi][1] = Ats[cur][r + 8][ks + t];
                af[mi][2] = Ats[cur][r][ks + t + 4];
                af[mi][3] = Ats[cur][r + 8][ks + t + 4];
            }
#pragma unroll
            for (int ni = 0; ni < 4; ni++) {   // b0 (k t, n g), b1 (k t+4, n g)
                const int n = wn * 32 + ni * 8 + g;
                bf[ni][0] = Bts[cur][n][ks + t];
                bf[ni][1] = Bts[cur][n][ks + t + 4];
            }
#pragma unroll
            for (int mi = 0; mi < 4; mi++)
#pragma unroll
                for (int ni = 0; ni < 4; ni++) tc_mma_tf32_m16n8k8(acc[mi][ni], af[mi], bf[ni], acc[mi][ni]);
        }
        if (more) {
            tf_store_tile(Ats[cur ^ 1], va, aK, tid);
            tf_store_tile(Bts[cur ^ 1], vb, bK, tid);
        }
        __syncthreads();
    }

    tc_store_c(acc, C, ldc, M, N, row0 + wm * 64, col0 + wn * 32, lane, alpha, beta, bias, roundBf16);
}

// Split-K for GEMMs with few output tiles and a long K (the weight gradients: M x N <= 1536 x 384,
// K = batch x tokens): the host runs a tensor-core GEMM per K slice into partials P[S][M][N], then
// C = alpha * (P[0] + P[1] + ... + P[S-1]) + beta * C, summed in slice order (deterministic; C is not
// read when beta == 0), plus the epilogue of tc_store_c (bias, bf16 rounding).
extern "C" __global__ void splitk_reduce(const float* __restrict__ P, float* __restrict__ C, int ldc, int M, int N, int S,
                                         float alpha, float beta, const float* __restrict__ bias, int roundBf16) {
    const long long n = (long long)M * N;
    DS_GRID_LOOP(i, n) {
        float s = 0.f;
        for (int k = 0; k < S; k++) s += P[k * n + i];
        float* p = C + (i / N) * (long long)ldc + i % N;
        float v = beta == 0.f ? alpha * s : alpha * s + beta * *p;
        if (bias) v += bias[i % N];
        *p = roundBf16 ? tc_round_bf16(v) : v;
    }
}

// round_tf32_f: y = x rounded to tf32 (cvt.rna, as the operands of gemm_tf32_tc), as floats (Backend.roundTo).
extern "C" __global__ void round_tf32_f(const float* __restrict__ x, float* __restrict__ y, long long n) {
    DS_GRID_LOOP(i, n) y[i] = __uint_as_float(tc_tf32(x[i]) & 0xffffe000u);   // the low 13 bits: zero, whatever cvt left
}
