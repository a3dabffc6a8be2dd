// cross_entropy.cu — softmax cross-entropy over classes (axis 1) of logits [B, K, inner] with int
// labels [B, inner]. A pixel is kept when its label is in [0, K) and != ignoreIndex. With class
// weights w (or null for ones): loss = sum(w[y] * nll) / sum(w[y]) over kept pixels, 0 when none is
// kept. Three steps, deterministic:
//   ce_partial:  per block, double sums of w[y]*nll and w[y] over a grid-stride share of pixels
//   ce_finalize: one block sums the partials -> loss[0] and stats[0..1] = (sum w*nll, sum w)
//   ce_grad:     glogits[b,k,p] = kept ? w[y] * (softmax_k - [k == y]) / sum w : 0; glogits may be
//                logits itself (each thread reads its pixel's K logits before writing them)
// and, for the metrics, confusion_update: counts[y*K + argmax_k] += 1 over kept pixels (argmax as
// argmax_axis: first maximum, NaN largest), through a per-block shared histogram when useShared.
#include "common.cuh"

__device__ __forceinline__ bool ce_kept(int y, int K, int ignoreIndex) {
    return y != ignoreIndex && y >= 0 && y < K;
}

extern "C" __global__ void ce_partial(const float* __restrict__ logits, const int* __restrict__ labels,
                                      const float* __restrict__ weights, long long B, int K, long long inner,
                                      int ignoreIndex, double* __restrict__ partial) {
    long long n = B * inner;
    double sl = 0.0, sw = 0.0;
    DS_GRID_LOOP(i, n) {
        int y = labels[i];
        if (!ce_kept(y, K, ignoreIndex)) continue;
        long long b = i / inner, p = i % inner;
        const float* l = logits + b * K * inner + p;
        float mx = -INFINITY;
        for (int k = 0; k < K; k++) mx = fmaxf(mx, l[k * inner]);
        float s = 0.f;
        for (int k = 0; k < K; k++) s += expf(l[k * inner] - mx);
        float nll = logf(s) + mx - l[(long long)y * inner];
        double w = weights ? weights[y] : 1.f;
        sl += w * nll;
        sw += w;
    }
    sl = ds_block_sum_d(sl);
    sw = ds_block_sum_d(sw);
    if (threadIdx.x == 0) {
        partial[2 * blockIdx.x] = sl;
        partial[2 * blockIdx.x + 1] = sw;
    }
}

extern "C" __global__ void ce_finalize(const double* __restrict__ partial, int count,
                                       float* __restrict__ loss, double* __restrict__ stats) {
    double sl = 0.0, sw = 0.0;
    for (int i = threadIdx.x; i < count; i += blockDim.x) { sl += partial[2 * i]; sw += partial[2 * i + 1]; }
    sl = ds_block_sum_d(sl);
    sw = ds_block_sum_d(sw);
    if (threadIdx.x == 0) {
        stats[0] = sl;
        stats[1] = sw;
        if (loss) loss[0] = sw > 0.0 ? (float)(sl / sw) : 0.f;
    }
}

extern "C" __global__ void ce_grad(const float* logits, const int* __restrict__ labels,
                                   const float* __restrict__ weights, long long B, int K, long long inner,
                                   int ignoreIndex, const double* __restrict__ stats, float* glogits) {
    long long n = B * inner;
    double sw = stats[1];
    DS_GRID_LOOP(i, n) {
        long long b = i / inner, p = i % inner;
        const float* l = logits + b * K * inner + p;
        float* g = glogits + b * K * inner + p;
        int y = labels[i];
        if (!ce_kept(y, K, ignoreIndex) || !(sw > 0.0)) {
            for (int k = 0; k < K; k++) g[k * inner] = 0.f;
            continue;
        }
        float mx = -INFINITY;
        for (int k = 0; k < K; k++) mx = fmaxf(mx, l[k * inner]);
        float s = 0.f;
        for (int k = 0; k < K; k++) s += expf(l[k * inner] - mx);
        float f = (float)((weights ? weights[y] : 1.f) / sw) / s;
        for (int k = 0; k < K; k++) {
            float pk = expf(l[k * inner] - mx) * f;
            g[k * inner] = k == y ? pk - (float)((weights ? weights[y] : 1.f) / sw) : pk;
        }
    }
}

extern "C" __global__ void confusion_update(const float* __restrict__ logits, const int* __restrict__ labels,
                                            long long B, int K, long long inner, int ignoreIndex, int useShared,
                                            unsigned int* __restrict__ counts) {
    extern __shared__ unsigned int hist[];
    int cells = K * K;
    if (useShared) {
        for (int i = threadIdx.x; i < cells; i += blockDim.x) hist[i] = 0u;
        __syncthreads();
    }
    long long n = B * inner;
    DS_GRID_LOOP(i, n) {
        int y = labels[i];
        if (!ce_kept(y, K, ignoreIndex)) continue;
        const float* l = logits + (i / inner) * K * inner + i % inner;
        float best = l[0];
        int arg = 0;
        for (int k = 1; k < K; k++) {
            float v = l[(long long)k * inner];
            if (v > best || (isnan(v) && !isnan(best))) { best = v; arg = k; }
        }
        atomicAdd(useShared ? &hist[y * K + arg] : &counts[y * K + arg], 1u);
    }
    if (useShared) {
        __syncthreads();
        for (int i = threadIdx.x; i < cells; i += blockDim.x)
            if (hist[i]) atomicAdd(&counts[i], hist[i]);
    }
}
