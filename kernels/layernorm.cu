// layernorm.cu — LayerNorm over the last dimension C of x [rows, C]:
//   y = (x - mean) * rstd * gamma + beta,  rstd = 1/sqrt(var + eps), var biased;
// mean/rstd [rows] are saved for the backward. One warp per row (two passes over the row for an
// accurate variance). gamma/beta may be null (1 and 0).
// Backward: gx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)) with g = gy * gamma, one warp per
// row; ggamma = sum_rows gy * xhat and gbeta = sum_rows gy by a deterministic two-stage column
// reduction (layernorm_bwd_params_partial over row chunks, then column_sum_finalize), or for C <= 768
// all in one pass per row (layernorm_bwd_fused_V, V = values per lane) and column_sum_finalize.
#include "common.cuh"

extern "C" __global__ void layernorm_fwd(const float* __restrict__ x, const float* __restrict__ gamma,
                                         const float* __restrict__ beta, float* __restrict__ y,
                                         float* __restrict__ mean, float* __restrict__ rstd,
                                         int rows, int C, float eps) {
    long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (row >= rows) return;
    const float* xr = x + row * C;
    float s = 0.f;
    for (int c = lane; c < C; c += 32) s += xr[c];
    float mu = ds_warp_sum(s) / C;
    float v = 0.f;
    for (int c = lane; c < C; c += 32) { float d = xr[c] - mu; v = fmaf(d, d, v); }
    float rs = rsqrtf(ds_warp_sum(v) / C + eps);
    float* yr = y + row * C;
    for (int c = lane; c < C; c += 32) {
        float h = (xr[c] - mu) * rs;
        yr[c] = (gamma ? h * gamma[c] : h) + (beta ? beta[c] : 0.f);
    }
    if (lane == 0) {
        if (mean) mean[row] = mu;
        if (rstd) rstd[row] = rs;
    }
}

extern "C" __global__ void layernorm_bwd_dx(const float* __restrict__ gy, const float* __restrict__ x,
                                            const float* __restrict__ gamma, const float* __restrict__ mean,
                                            const float* __restrict__ rstd, float* __restrict__ gx,
                                            int rows, int C) {
    long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (row >= rows) return;
    const float* xr = x + row * C;
    const float* gr = gy + row * C;
    float mu = mean[row], rs = rstd[row];
    float sg = 0.f, sgx = 0.f;
    for (int c = lane; c < C; c += 32) {
        float g = gamma ? gr[c] * gamma[c] : gr[c];
        float h = (xr[c] - mu) * rs;
        sg += g;
        sgx = fmaf(g, h, sgx);
    }
    sg = ds_warp_sum(sg) / C;
    sgx = ds_warp_sum(sgx) / C;
    float* o = gx + row * C;
    for (int c = lane; c < C; c += 32) {
        float g = gamma ? gr[c] * gamma[c] : gr[c];
        float h = (xr[c] - mu) * rs;
        o[c] = rs * (g - sg - h * sgx);
    }
}

// Partial column sums over a chunk of rows: block (32 x 8) covers 32 columns; blockIdx.y picks the
// chunk. partial layout [2][chunks][C]: first ggamma (gy * xhat) then gbeta (gy).
extern "C" __global__ void layernorm_bwd_params_partial(const float* __restrict__ gy, const float* __restrict__ x,
                                                        const float* __restrict__ mean, const float* __restrict__ rstd,
                                                        float* __restrict__ partial, int rows, int C, int rowsPerChunk) {
    __shared__ float sg[8][33];
    __shared__ float sb[8][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    int chunk = blockIdx.y, chunks = gridDim.y;
    int r0 = chunk * rowsPerChunk, r1 = min(rows, r0 + rowsPerChunk);
    float ag = 0.f, ab = 0.f;
    if (c < C) {
        for (int r = r0 + threadIdx.y; r < r1; r += 8) {
            float g = gy[(long long)r * C + c];
            float h = (x[(long long)r * C + c] - mean[r]) * rstd[r];
            ag = fmaf(g, h, ag);
            ab += g;
        }
    }
    sg[threadIdx.y][threadIdx.x] = ag;
    sb[threadIdx.y][threadIdx.x] = ab;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float tg = 0.f, tb = 0.f;
        for (int k = 0; k < 8; k++) { tg += sg[k][threadIdx.x]; tb += sb[k][threadIdx.x]; }
        partial[(long long)chunk * C + c] = tg;
        partial[(long long)(chunks + chunk) * C + c] = tb;
    }
}

// out[c] = sum_k partial[k*C + c] for k < chunks (one thread per column; null out is skipped).
extern "C" __global__ void column_sum_finalize(const float* __restrict__ partial, float* __restrict__ out,
                                               int chunks, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C || out == nullptr) return;
    float s = 0.f;
    for (int k = 0; k < chunks; k++) s += partial[(long long)k * C + c];
    out[c] = s;
}

// One-pass backward for C <= 32*V (V values per lane): a warp per row reads gy and x once for the
// row sums and the parameter partials (kept per lane in registers over the warp's rows), a second time
// from L1 for gx; gx may be gy (each lane reads its elements before writing them). The block's 8
// warps add their partials into shared memory one warp after another (deterministic), and the block
// writes partial[blockIdx.x][C] (ggamma) and partial[gridDim.x + blockIdx.x][C] (gbeta) for
// column_sum_finalize. Rows are dealt as row = (blockIdx.x * 8 + warp) + k * gridDim.x * 8. Where the
// two-kernel path reads gy and x three times and launches twice, this reads them twice, once.
template <int V>
__device__ __forceinline__ void ln_bwd_fused(const float* gy, const float* __restrict__ x,
                                             const float* __restrict__ gamma, const float* __restrict__ mean,
                                             const float* __restrict__ rstd, float* gx, float* __restrict__ partial,
                                             int rows, int C) {
    extern __shared__ float ln_acc[];   // [2][C]: ggamma, gbeta partials of the block
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    float ag[V], ab[V];
#pragma unroll
    for (int j = 0; j < V; j++) { ag[j] = 0.f; ab[j] = 0.f; }
    for (long long row = (long long)blockIdx.x * warps + warp; row < rows; row += (long long)gridDim.x * warps) {
        const float* xr = x + row * C;
        const float* gr = gy + row * C;
        float mu = mean[row], rs = rstd[row];
        float sg = 0.f, sgx = 0.f;
#pragma unroll
        for (int j = 0; j < V; j++) {
            int c = lane + 32 * j;
            if (c < C) {
                float gv = gr[c], h = (xr[c] - mu) * rs;
                float g = gamma ? gv * gamma[c] : gv;
                sg += g;
                sgx = fmaf(g, h, sgx);
                ag[j] = fmaf(gv, h, ag[j]);
                ab[j] += gv;
            }
        }
        sg = ds_warp_sum(sg) / C;
        sgx = ds_warp_sum(sgx) / C;
        float* o = gx + row * C;
#pragma unroll
        for (int j = 0; j < V; j++) {
            int c = lane + 32 * j;
            if (c < C) {
                float g = gamma ? gr[c] * gamma[c] : gr[c];
                float h = (xr[c] - mu) * rs;
                o[c] = rs * (g - sg - h * sgx);
            }
        }
    }
    for (int w = 0; w < warps; w++) {
        if (warp == w) {
#pragma unroll
            for (int j = 0; j < V; j++) {
                int c = lane + 32 * j;
                if (c < C) {
                    ln_acc[c] = w == 0 ? ag[j] : ln_acc[c] + ag[j];
                    ln_acc[C + c] = w == 0 ? ab[j] : ln_acc[C + c] + ab[j];
                }
            }
        }
        __syncthreads();
    }
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        partial[(long long)blockIdx.x * C + c] = ln_acc[c];
        partial[(long long)(gridDim.x + blockIdx.x) * C + c] = ln_acc[C + c];
    }
}

extern "C" __global__ void layernorm_bwd_fused_4(const float* gy, const float* __restrict__ x, const float* __restrict__ gamma,
                                              const float* __restrict__ mean, const float* __restrict__ rstd, float* gx,
                                              float* __restrict__ partial, int rows, int C) {
    ln_bwd_fused<4>(gy, x, gamma, mean, rstd, gx, partial, rows, C);
}
extern "C" __global__ void layernorm_bwd_fused_8(const float* gy, const float* __restrict__ x, const float* __restrict__ gamma,
                                              const float* __restrict__ mean, const float* __restrict__ rstd, float* gx,
                                              float* __restrict__ partial, int rows, int C) {
    ln_bwd_fused<8>(gy, x, gamma, mean, rstd, gx, partial, rows, C);
}
extern "C" __global__ void layernorm_bwd_fused_12(const float* gy, const float* __restrict__ x, const float* __restrict__ gamma,
                                              const float* __restrict__ mean, const float* __restrict__ rstd, float* gx,
                                              float* __restrict__ partial, int rows, int C) {
    ln_bwd_fused<12>(gy, x, gamma, mean, rstd, gx, partial, rows, C);
}
extern "C" __global__ void layernorm_bwd_fused_16(const float* gy, const float* __restrict__ x, const float* __restrict__ gamma,
                                              const float* __restrict__ mean, const float* __restrict__ rstd, float* gx,
                                              float* __restrict__ partial, int rows, int C) {
    ln_bwd_fused<16>(gy, x, gamma, mean, rstd, gx, partial, rows, C);
}
extern "C" __global__ void layernorm_bwd_fused_24(const float* gy, const float* __restrict__ x, const float* __restrict__ gamma,
                                              const float* __restrict__ mean, const float* __restrict__ rstd, float* gx,
                                              float* __restrict__ partial, int rows, int C) {
    ln_bwd_fused<24>(gy, x, gamma, mean, rstd, gx, partial, rows, C);
}
