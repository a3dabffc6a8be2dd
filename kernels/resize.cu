// resize.cu — bilinear resize of x [B, C, H, W] -> out [B, C, OH, OW], align_corners=false, matching
// PyTorch's F.interpolate(mode="bilinear"): src = max((dst + 0.5) * in/out - 0.5, 0), i0 = floor(src),
// i1 = min(i0 + 1, in - 1), weight of i1 = src - i0.
//   resize_bilinear_fwd: one thread per output element (gather of 4 taps)
//   resize_bilinear_bwd: one thread per gout element scattering its 4 weighted taps into gx with
//                        atomicAdd (gx is zeroed by the host first)
#include "common.cuh"

__device__ __forceinline__ void rs_src(int dst, int in, float scale, int& i0, int& i1, float& w1) {
    float s = ((float)dst + 0.5f) * scale - 0.5f;
    if (s < 0.f) s = 0.f;
    i0 = (int)s;
    if (i0 > in - 1) i0 = in - 1;
    i1 = i0 + 1 < in ? i0 + 1 : in - 1;
    w1 = s - (float)i0;
}

extern "C" __global__ void resize_bilinear_fwd(const float* __restrict__ x, float* __restrict__ out,
                                               long long planes, int H, int W, int OH, int OW) {
    long long n = planes * OH * OW;
    float sy = (float)H / (float)OH, sx = (float)W / (float)OW;
    DS_GRID_LOOP(i, n) {
        int ox = (int)(i % OW), oy = (int)((i / OW) % OH);
        long long pl = i / ((long long)OW * OH);
        int y0, y1, x0, x1;
        float wy, wx;
        rs_src(oy, H, sy, y0, y1, wy);
        rs_src(ox, W, sx, x0, x1, wx);
        const float* p = x + pl * H * W;
        float top = (1.f - wx) * p[(long long)y0 * W + x0] + wx * p[(long long)y0 * W + x1];
        float bot = (1.f - wx) * p[(long long)y1 * W + x0] + wx * p[(long long)y1 * W + x1];
        out[i] = (1.f - wy) * top + wy * bot;
    }
}

extern "C" __global__ void resize_bilinear_bwd(const float* __restrict__ gout, float* __restrict__ gx,
                                               long long planes, int H, int W, int OH, int OW) {
    long long n = planes * OH * OW;
    float sy = (float)H / (float)OH, sx = (float)W / (float)OW;
    DS_GRID_LOOP(i, n) {
        int ox = (int)(i % OW), oy = (int)((i / OW) % OH);
        long long pl = i / ((long long)OW * OH);
        int y0, y1, x0, x1;
        float wy, wx;
        rs_src(oy, H, sy, y0, y1, wy);
        rs_src(ox, W, sx, x0, x1, wx);
        float g = gout[i];
        float* p = gx + pl * H * W;
        atomicAdd(p + (long long)y0 * W + x0, (1.f - wy) * (1.f - wx) * g);
        atomicAdd(p + (long long)y0 * W + x1, (1.f - wy) * wx * g);
        atomicAdd(p + (long long)y1 * W + x0, wy * (1.f - wx) * g);
        atomicAdd(p + (long long)y1 * W + x1, wy * wx * g);
    }
}
