// attention.cu — fused multi-head scaled dot-product attention over DINOv2's packed qkv layout.
//   qkv [B, N, 3*H*D] with the last dim laid out (3, H, D); out [B, N, H*D] laid out (H, D);
//   lse [B, H, N] = log-sum-exp of each row of scaled scores (scale * q.k).
// Forward (flash-attention style): a block holds 16 query rows (4 warps x 4 rows) in shared memory
// and streams 32-key tiles of K and V through shared memory, keeping the running max, the running
// sum and the output accumulator per row (online softmax); no N x N matrix is ever stored.
// Inside a tile, lane j scores key j, the warp reduces max and sum with shuffles, and each lane
// accumulates output dims d = lane + 32*t (so D <= 128).
// Backward (FlashAttention-2 style, recomputing P from lse):
//   attention_bwd_dot:  Dv[b,h,i] = sum_d gout[i,d] * out[i,d]
//   attention_bwd_dq:   gq_i = scale * sum_j P_ij (dP_ij - Dv_i) k_j      (query tiles, key stream)
//   attention_bwd_dkdv: gk_j = scale * sum_i P_ij (dP_ij - Dv_i) q_i,
//                       gv_j = sum_i P_ij gout_i                         (key tiles, query stream)
// with P_ij = exp(scale q_i.k_j - lse_i), dP_ij = gout_i . v_j. Every gqkv element is written once:
// no atomics, deterministic results. Any N; shared-memory size is set by the host per launch.
#include "common.cuh"

#define ATT_ROWS 16       // query (or key) rows owned by one block: 4 warps x 4 rows
#define ATT_RPW 4         // rows per warp
#define ATT_TILE 32       // streamed tile (one key or query per lane)
#define ATT_DPL 4         // dims per lane: D <= 128

extern "C" __global__ void attention_fwd(const float* __restrict__ qkv, float* __restrict__ out,
                                         float* __restrict__ lse, int N, int H, int D, float scale) {
    extern __shared__ float att_smem[];
    float* Qs = att_smem;                       // [ATT_ROWS][D], pre-scaled
    float* Ks = Qs + ATT_ROWS * D;              // [ATT_TILE][D+1]
    float* Vs = Ks + ATT_TILE * (D + 1);        // [ATT_TILE][D]
    const int bh = blockIdx.y, b = bh / H, h = bh % H;
    const int q0 = blockIdx.x * ATT_ROWS;
    const long long rs = 3LL * H * D;
    const float* base = qkv + (long long)b * N * rs;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

    for (int e = tid; e < ATT_ROWS * D; e += blockDim.x) {
        int r = e / D, d = e % D, i = q0 + r;
        Qs[e] = i < N ? scale * base[i * rs + h * D + d] : 0.f;
    }
    float m[ATT_RPW], l[ATT_RPW], acc[ATT_RPW][ATT_DPL];
#pragma unroll
    for (int r = 0; r < ATT_RPW; r++) {
        m[r] = -INFINITY; l[r] = 0.f;
#pragma unroll
        for (int t = 0; t < ATT_DPL; t++) acc[r][t] = 0.f;
    }
    for (int j0 = 0; j0 < N; j0 += ATT_TILE) {
        __syncthreads();
        for (int e = tid; e < ATT_TILE * D; e += blockDim.x) {
            int j = e / D, d = e % D;
            bool ok = j0 + j < N;
            const float* row = base + (long long)(j0 + j) * rs + h * D + d;
            Ks[j * (D + 1) + d] = ok ? row[(long long)H * D] : 0.f;
            Vs[j * D + d] = ok ? row[2LL * H * D] : 0.f;
        }
        __syncthreads();
        const int nk = min(ATT_TILE, N - j0);
#pragma unroll
        for (int rr = 0; rr < ATT_RPW; rr++) {
            const int r = warp * ATT_RPW + rr;
            if (q0 + r >= N) break;
            float s = -INFINITY;
            if (lane < nk) {
                float dot = 0.f;
                const float* q = Qs + r * D;
                const float* k = Ks + lane * (D + 1);
                for (int d = 0; d < D; d++) dot = fmaf(q[d], k[d], dot);
                s = dot;
            }
            float mnew = fmaxf(m[rr], ds_warp_max(s));
            float corr = expf(m[rr] - mnew);
            float p = lane < nk ? expf(s - mnew) : 0.f;
            l[rr] = l[rr] * corr + ds_warp_sum(p);
            m[rr] = mnew;
#pragma unroll
            for (int t = 0; t < ATT_DPL; t++) acc[rr][t] *= corr;
            for (int j = 0; j < nk; j++) {
                float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
                for (int t = 0; t < ATT_DPL; t++) {
                    int d = lane + 32 * t;
                    if (d < D) acc[rr][t] = fmaf(pj, Vs[j * D + d], acc[rr][t]);
                }
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < ATT_RPW; rr++) {
        const int i = q0 + warp * ATT_RPW + rr;
        if (i >= N) break;
        float inv = 1.f / l[rr];
        float* o = out + ((long long)b * N + i) * H * D + h * D;
#pragma unroll
        for (int t = 0; t < ATT_DPL; t++) {
            int d = lane + 32 * t;
            if (d < D) o[d] = acc[rr][t] * inv;
        }
        if (lane == 0) lse[(long long)bh * N + i] = m[rr] + logf(l[rr]);
    }
}

// Dv[b,h,i] = sum_d gout[b,i,h*D+d] * out[b,i,h*D+d]; one warp per (b,h,i).
extern "C" __global__ void attention_bwd_dot(const float* __restrict__ out, const float* __restrict__ gout,
                                             float* __restrict__ dv, int B, int N, int H, int D) {
    long long w = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    long long total = (long long)B * H * N;
    if (w >= total) return;
    int i = (int)(w % N);
    long long bh = w / N;
    int h = (int)(bh % H), b = (int)(bh / H);
    long long off = ((long long)b * N + i) * H * D + (long long)h * D;
    float s = 0.f;
    for (int d = lane; d < D; d += 32) s = fmaf(gout[off + d], out[off + d], s);
    s = ds_warp_sum(s);
    if (lane == 0) dv[w] = s;
}

extern "C" __global__ void attention_bwd_dq(const float* __restrict__ qkv, const float* __restrict__ gout,
                                            const float* __restrict__ lse, const float* __restrict__ dv,
                                            float* __restrict__ gqkv, int N, int H, int D, float scale) {
    extern __shared__ float att_smem[];
    float* Qs = att_smem;                       // [ATT_ROWS][D], pre-scaled
    float* Gs = Qs + ATT_ROWS * D;              // [ATT_ROWS][D]  gout rows
    float* Ks = Gs + ATT_ROWS * D;              // [ATT_TILE][D+1]
    float* Vs = Ks + ATT_TILE * (D + 1);        // [ATT_TILE][D+1]
    const int bh = blockIdx.y, b = bh / H, h = bh % H;
    const int q0 = blockIdx.x * ATT_ROWS;
    const long long rs = 3LL * H * D, os = (long long)H * D;
    const float* base = qkv + (long long)b * N * rs;
    const float* gbase = gout + (long long)b * N * os;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

    for (int e = tid; e < ATT_ROWS * D; e += blockDim.x) {
        int r = e / D, d = e % D, i = q0 + r;
        Qs[e] = i < N ? scale * base[i * rs + h * D + d] : 0.f;
        Gs[e] = i < N ? gbase[i * os + h * D + d] : 0.f;
    }
    float li[ATT_RPW], di[ATT_RPW], acc[ATT_RPW][ATT_DPL];
#pragma unroll
    for (int r = 0; r < ATT_RPW; r++) {
        int i = q0 + warp * ATT_RPW + r;
        li[r] = i < N ? lse[(long long)bh * N + i] : 0.f;
        di[r] = i < N ? dv[(long long)bh * N + i] : 0.f;
#pragma unroll
        for (int t = 0; t < ATT_DPL; t++) acc[r][t] = 0.f;
    }
    for (int j0 = 0; j0 < N; j0 += ATT_TILE) {
        __syncthreads();
        for (int e = tid; e < ATT_TILE * D; e += blockDim.x) {
            int j = e / D, d = e % D;
            bool ok = j0 + j < N;
            const float* row = base + (long long)(j0 + j) * rs + h * D + d;
            Ks[j * (D + 1) + d] = ok ? row[(long long)H * D] : 0.f;
            Vs[j * (D + 1) + d] = ok ? row[2LL * H * D] : 0.f;
        }
        __syncthreads();
        const int nk = min(ATT_TILE, N - j0);
#pragma unroll
        for (int rr = 0; rr < ATT_RPW; rr++) {
            const int r = warp * ATT_RPW + rr;
            if (q0 + r >= N) break;
            float ds = 0.f;
            if (lane < nk) {
                float s = 0.f, dp = 0.f;
                const float* q = Qs + r * D;
                const float* g = Gs + r * D;
                const float* k = Ks + lane * (D + 1);
                const float* v = Vs + lane * (D + 1);
                for (int d = 0; d < D; d++) { s = fmaf(q[d], k[d], s); dp = fmaf(g[d], v[d], dp); }
                float p = expf(s - li[rr]);
                ds = p * (dp - di[rr]);
            }
            for (int j = 0; j < nk; j++) {
                float dsj = __shfl_sync(0xffffffffu, ds, j);
#pragma unroll
                for (int t = 0; t < ATT_DPL; t++) {
                    int d = lane + 32 * t;
                    if (d < D) acc[rr][t] = fmaf(dsj, Ks[j * (D + 1) + d], acc[rr][t]);
                }
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < ATT_RPW; rr++) {
        const int i = q0 + warp * ATT_RPW + rr;
        if (i >= N) break;
        float* gq = gqkv + ((long long)b * N + i) * rs + h * D;
#pragma unroll
        for (int t = 0; t < ATT_DPL; t++) {
            int d = lane + 32 * t;
            if (d < D) gq[d] = scale * acc[rr][t];
        }
    }
}

extern "C" __global__ void attention_bwd_dkdv(const float* __restrict__ qkv, const float* __restrict__ gout,
                                              const float* __restrict__ lse, const float* __restrict__ dv,
                                              float* __restrict__ gqkv, int N, int H, int D, float scale) {
    extern __shared__ float att_smem[];
    float* Ks = att_smem;                       // [ATT_ROWS][D]  this block's keys
    float* Vs = Ks + ATT_ROWS * D;              // [ATT_ROWS][D]
    float* Qs = Vs + ATT_ROWS * D;              // [ATT_TILE][D+1] pre-scaled queries
    float* Gs = Qs + ATT_TILE * (D + 1);        // [ATT_TILE][D+1] gout rows
    float* Ls = Gs + ATT_TILE * (D + 1);        // [ATT_TILE] lse
    float* Ds = Ls + ATT_TILE;                  // [ATT_TILE] Dv
    const int bh = blockIdx.y, b = bh / H, h = bh % H;
    const int k0 = blockIdx.x * ATT_ROWS;
    const long long rs = 3LL * H * D, os = (long long)H * D;
    const float* base = qkv + (long long)b * N * rs;
    const float* gbase = gout + (long long)b * N * os;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

    for (int e = tid; e < ATT_ROWS * D; e += blockDim.x) {
        int r = e / D, d = e % D, j = k0 + r;
        const float* row = base + (long long)j * rs + h * D + d;
        Ks[e] = j < N ? row[(long long)H * D] : 0.f;
        Vs[e] = j < N ? row[2LL * H * D] : 0.f;
    }
    float gk[ATT_RPW][ATT_DPL], gv[ATT_RPW][ATT_DPL];
#pragma unroll
    for (int r = 0; r < ATT_RPW; r++)
#pragma unroll
        for (int t = 0; t < ATT_DPL; t++) { gk[r][t] = 0.f; gv[r][t] = 0.f; }

    for (int i0 = 0; i0 < N; i0 += ATT_TILE) {
        __syncthreads();
        for (int e = tid; e < ATT_TILE * D; e += blockDim.x) {
            int i = e / D, d = e % D;
            bool ok = i0 + i < N;
            Qs[i * (D + 1) + d] = ok ? scale * base[(long long)(i0 + i) * rs + h * D + d] : 0.f;
            Gs[i * (D + 1) + d] = ok ? gbase[(long long)(i0 + i) * os + h * D + d] : 0.f;
        }
        if (tid < ATT_TILE) {
            bool ok = i0 + tid < N;
            Ls[tid] = ok ? lse[(long long)bh * N + i0 + tid] : 0.f;
            Ds[tid] = ok ? dv[(long long)bh * N + i0 + tid] : 0.f;
        }
        __syncthreads();
        const int nq = min(ATT_TILE, N - i0);
#pragma unroll
        for (int rr = 0; rr < ATT_RPW; rr++) {
            const int r = warp * ATT_RPW + rr;
            if (k0 + r >= N) break;
            float p = 0.f, ds = 0.f;
            if (lane < nq) {
                float s = 0.f, dp = 0.f;
                const float* k = Ks + r * D;
                const float* v = Vs + r * D;
                const float* q = Qs + lane * (D + 1);
                const float* g = Gs + lane * (D + 1);
                for (int d = 0; d < D; d++) { s = fmaf(q[d], k[d], s); dp = fmaf(g[d], v[d], dp); }
                p = expf(s - Ls[lane]);
                ds = p * (dp - Ds[lane]);
            }
            for (int i = 0; i < nq; i++) {
                float pi = __shfl_sync(0xffffffffu, p, i);
                float dsi = __shfl_sync(0xffffffffu, ds, i);
#pragma unroll
                for (int t = 0; t < ATT_DPL; t++) {
                    int d = lane + 32 * t;
                    if (d < D) {
                        gv[rr][t] = fmaf(pi, Gs[i * (D + 1) + d], gv[rr][t]);
                        gk[rr][t] = fmaf(dsi, Qs[i * (D + 1) + d], gk[rr][t]);
                    }
                }
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < ATT_RPW; rr++) {
        const int j = k0 + warp * ATT_RPW + rr;
        if (j >= N) break;
        float* g = gqkv + ((long long)b * N + j) * rs + h * D;
#pragma unroll
        for (int t = 0; t < ATT_DPL; t++) {
            int d = lane + 32 * t;
            if (d < D) { g[(long long)H * D + d] = gk[rr][t]; g[2LL * H * D + d] = gv[rr][t]; }
        }
    }
}
