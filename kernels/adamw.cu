// adamw.cu — one AdamW step (torch.optim.AdamW) in place, elementwise:
//   p -= lr*wd*p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
//   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),  bc1 = 1 - b1^step, bc2 = 1 - b2^step
// (the bias corrections are computed on the host in double precision). adamw_step takes lr, lr/bc1
// and sqrt(bc2) as arguments; adamw_step_scalars reads them from device memory when it runs, so a
// captured CUDA graph steps with the values the host wrote before each replay (AdamW capturable=True).
#include "common.cuh"

__device__ __forceinline__ void adamw_element(float* __restrict__ p, const float* __restrict__ g,
                                              float* __restrict__ m, float* __restrict__ v, long long i,
                                              float lr, float beta1, float beta2, float eps, float weightDecay,
                                              float stepSize, float sqrtBc2) {
    float gi = g[i];
    float pi = p[i] * (1.f - lr * weightDecay);
    float mi = beta1 * m[i] + (1.f - beta1) * gi;
    float vi = beta2 * v[i] + (1.f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - stepSize * mi / (sqrtf(vi) / sqrtBc2 + eps);
}

extern "C" __global__ void adamw_step(float* __restrict__ p, const float* __restrict__ g,
                                      float* __restrict__ m, float* __restrict__ v, long long n,
                                      float lr, float beta1, float beta2, float eps, float weightDecay,
                                      float stepSize, float sqrtBc2) {
    DS_GRID_LOOP(i, n) adamw_element(p, g, m, v, i, lr, beta1, beta2, eps, weightDecay, stepSize, sqrtBc2);
}

// scalars: lr, lr / bc1, sqrt(bc2) of this parameter's step.
extern "C" __global__ void adamw_step_scalars(float* __restrict__ p, const float* __restrict__ g,
                                              float* __restrict__ m, float* __restrict__ v, long long n,
                                              const float* __restrict__ scalars, float beta1, float beta2,
                                              float eps, float weightDecay) {
    const float lr = scalars[0], stepSize = scalars[1], sqrtBc2 = scalars[2];
    DS_GRID_LOOP(i, n) adamw_element(p, g, m, v, i, lr, beta1, beta2, eps, weightDecay, stepSize, sqrtBc2);
}
