// batchnorm.cu — BatchNorm2d over x [B, C, H, W], statistics per channel over (B, H, W).
//   bn_stats:    one block per channel: batch mean and biased variance (two passes, double sums)
//   bn_finalize: per channel: training -> saveMean/saveRstd from the batch, running stats updated
//                with momentum and the unbiased variance (PyTorch); eval -> from the running stats
//   bn_apply:    y = (x - mean) * rstd * gamma + beta (gamma/beta may be null)
//   bn_bwd_reduce: per channel sum(gy) and sum(gy * xhat) -> sums [2C], ggamma/gbeta (or null)
//   bn_bwd_dx:   training gx = gamma*rstd*(gy - sum(gy)/n - xhat*sum(gy*xhat)/n); eval gx = gy*gamma*rstd
#include "common.cuh"

extern "C" __global__ void bn_stats(const float* __restrict__ x, int B, int C, long long HW,
                                    float* __restrict__ mean, float* __restrict__ var) {
    int c = blockIdx.x;
    long long n = (long long)B * HW;
    double s = 0.0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        long long b = i / HW, p = i % HW;
        s += x[(b * C + c) * HW + p];
    }
    double mu = ds_block_sum_d(s) / (double)n;
    double v = 0.0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        long long b = i / HW, p = i % HW;
        double d = x[(b * C + c) * HW + p] - mu;
        v += d * d;
    }
    v = ds_block_sum_d(v) / (double)n;
    if (threadIdx.x == 0) { mean[c] = (float)mu; var[c] = (float)v; }
}

extern "C" __global__ void bn_finalize(const float* __restrict__ bmean, const float* __restrict__ bvar,
                                       float* runMean, float* runVar, float* saveMean, float* saveRstd,
                                       int C, int training, float momentum, float eps, long long count) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    if (training) {
        float mu = bmean[c], v = bvar[c];
        saveMean[c] = mu;
        saveRstd[c] = rsqrtf(v + eps);
        float unbiased = count > 1 ? v * (float)count / (float)(count - 1) : v;
        if (runMean) runMean[c] = (1.f - momentum) * runMean[c] + momentum * mu;
        if (runVar) runVar[c] = (1.f - momentum) * runVar[c] + momentum * unbiased;
    } else {
        saveMean[c] = runMean[c];
        saveRstd[c] = rsqrtf(runVar[c] + eps);
    }
}

extern "C" __global__ void bn_apply(const float* x, const float* __restrict__ gamma, const float* __restrict__ beta,
                                    const float* __restrict__ mean, const float* __restrict__ rstd,
                                    float* y, int C, long long HW, long long n) {
    DS_GRID_LOOP(i, n) {
        int c = (int)((i / HW) % C);
        float h = (x[i] - mean[c]) * rstd[c];
        y[i] = (gamma ? h * gamma[c] : h) + (beta ? beta[c] : 0.f);
    }
}

extern "C" __global__ void bn_bwd_reduce(const float* __restrict__ gy, const float* __restrict__ x,
                                         const float* __restrict__ mean, const float* __restrict__ rstd,
                                         int B, int C, long long HW, float* __restrict__ sums,
                                         float* ggamma, float* gbeta) {
    int c = blockIdx.x;
    long long n = (long long)B * HW;
    float mu = mean[c], rs = rstd[c];
    double sg = 0.0, sgx = 0.0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        long long b = i / HW, p = i % HW;
        long long k = (b * C + c) * HW + p;
        double g = gy[k];
        sg += g;
        sgx += g * (double)((x[k] - mu) * rs);
    }
    sg = ds_block_sum_d(sg);
    sgx = ds_block_sum_d(sgx);
    if (threadIdx.x == 0) {
        sums[c] = (float)sg;
        sums[C + c] = (float)sgx;
        if (gbeta) gbeta[c] = (float)sg;
        if (ggamma) ggamma[c] = (float)sgx;
    }
}

extern "C" __global__ void bn_bwd_dx(const float* __restrict__ gy, const float* __restrict__ x,
                                     const float* __restrict__ gamma, const float* __restrict__ mean,
                                     const float* __restrict__ rstd, const float* __restrict__ sums,
                                     float* __restrict__ gx, int training, int B, int C, long long HW) {
    long long n = (long long)B * C * HW;
    float inv = 1.f / (float)((long long)B * HW);
    DS_GRID_LOOP(i, n) {
        int c = (int)((i / HW) % C);
        float k = (gamma ? gamma[c] : 1.f) * rstd[c];
        if (training) {
            float h = (x[i] - mean[c]) * rstd[c];
            gx[i] = k * (gy[i] - sums[c] * inv - h * sums[C + c] * inv);
        } else {
            gx[i] = k * gy[i];
        }
    }
}
