// adamw.cu — one AdamW step (torch.optim.AdamW) in place, elementwise:
//   p -= lr*wd*p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
//   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),  bc1 = 1 - b1^step, bc2 = 1 - b2^step
// (the bias corrections are computed on the host in double precision).
#include "common.cuh"

extern "C" __global__ void adamw_step(float* __restrict__ p, const float* __restrict__ g,
                                      float* __restrict__ m, float* __restrict__ v, long long n,
                                      float lr, float beta1, float beta2, float eps, float weightDecay,
                                      float stepSize, float sqrtBc2) {
    DS_GRID_LOOP(i, n) {
        float gi = g[i];
        float pi = p[i] * (1.f - lr * weightDecay);
        float mi = beta1 * m[i] + (1.f - beta1) * gi;
        float vi = beta2 * v[i] + (1.f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - stepSize * mi / (sqrtf(vi) / sqrtBc2 + eps);
    }
}
