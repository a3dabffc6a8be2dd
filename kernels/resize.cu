// resize.cu — bilinear resize of x [B, C, H, W] -> out [B, C, OH, OW], align_corners=false, matching
// PyTorch's F.interpolate(mode="bilinear"): src = max((dst + 0.5) * in/out - 0.5, 0), i0 = floor(src),
// i1 = min(i0 + 1, in - 1), weight of i1 = src - i0.
//   resize_bilinear_fwd: one thread per output element (gather of 4 taps)
//   resize_bilinear_bwd: one thread per gx element gathering the weighted gout values of the output
//                        pixels that read it (the rows oy with i0(oy) in {iy-1, iy}, likewise columns),
//                        in ascending (oy, ox) order: deterministic, no atomics, gx fully written
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

// First output index whose source row i0 is >= lo (i0 is non-decreasing in the output index): from
// the real solution of (o + 0.5) * scale - 0.5 >= lo, less 2 for float rounding, walked forward.
__device__ __forceinline__ int rs_first(int lo, int in, int out, float scale) {
    int o = (int)floorf(((float)lo + 0.5f) / scale - 0.5f) - 2;
    if (o < 0) o = 0;
    int i0, i1;
    float w;
    while (o < out) { rs_src(o, in, scale, i0, i1, w); if (i0 >= lo) break; o++; }
    return o;
}

extern "C" __global__ void resize_bilinear_bwd(const float* __restrict__ gout, float* __restrict__ gx,
                                               long long planes, int H, int W, int OH, int OW) {
    long long n = planes * H * W;
    float sy = (float)H / (float)OH, sx = (float)W / (float)OW;
    DS_GRID_LOOP(i, n) {
        int ix = (int)(i % W), iy = (int)((i / W) % H);
        long long pl = i / ((long long)W * H);
        const float* g = gout + pl * OH * OW;
        int oy0 = rs_first(iy - 1, H, OH, sy), ox0 = rs_first(ix - 1, W, OW, sx);
        float s = 0.f;
        for (int oy = oy0; oy < OH; oy++) {
            int y0, y1;
            float wy;
            rs_src(oy, H, sy, y0, y1, wy);
            if (y0 > iy) break;
            float hy = (y0 == iy ? 1.f - wy : 0.f) + (y1 == iy ? wy : 0.f);
            if (hy == 0.f) continue;
            const float* gr = g + (long long)oy * OW;
            for (int ox = ox0; ox < OW; ox++) {
                int x0, x1;
                float wx;
                rs_src(ox, W, sx, x0, x1, wx);
                if (x0 > ix) break;
                float hx = (x0 == ix ? 1.f - wx : 0.f) + (x1 == ix ? wx : 0.f);
                s += hy * hx * gr[ox];
            }
        }
        gx[i] = s;
    }
}
