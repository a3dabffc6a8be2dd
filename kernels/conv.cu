// conv.cu — convolution as GEMM helpers.
//   im2col: x [B, C, H, W] -> cols [B, OH*OW, C*kh*kw], row = output position (oy, ox), column
//           ordered (c, ky, kx) like a flattened PyTorch weight [Cout, C, kh, kw]; zero padding.
//   col2im: the adjoint, gx [B, C, H, W] = folded sum of cols; one thread per input pixel gathers
//           every (output position, tap) that reads it — deterministic, no atomics.
#include "common.cuh"

extern "C" __global__ void im2col_f(const float* __restrict__ x, float* __restrict__ cols,
                                    int B, int C, int H, int W, int kh, int kw, int stride, int pad,
                                    int OH, int OW) {
    long long K = (long long)C * kh * kw;
    long long n = (long long)B * OH * OW * K;
    DS_GRID_LOOP(i, n) {
        long long col = i % K, rowg = i / K;
        int p = (int)(rowg % ((long long)OH * OW));
        int b = (int)(rowg / ((long long)OH * OW));
        int kx = (int)(col % kw), ky = (int)((col / kw) % kh), c = (int)(col / ((long long)kw * kh));
        int oy = p / OW, ox = p % OW;
        int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
        float v = 0.f;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W) v = x[(((long long)b * C + c) * H + iy) * W + ix];
        cols[i] = v;
    }
}

extern "C" __global__ void col2im_f(const float* __restrict__ cols, float* __restrict__ gx,
                                    int B, int C, int H, int W, int kh, int kw, int stride, int pad,
                                    int OH, int OW) {
    long long K = (long long)C * kh * kw;
    long long n = (long long)B * C * H * W;
    DS_GRID_LOOP(i, n) {
        int ix = (int)(i % W), iy = (int)((i / W) % H);
        int c = (int)((i / ((long long)W * H)) % C);
        int b = (int)(i / ((long long)W * H * C));
        float s = 0.f;
        for (int ky = 0; ky < kh; ky++) {
            int ty = iy + pad - ky;
            if (ty < 0 || ty % stride != 0) continue;
            int oy = ty / stride;
            if (oy >= OH) continue;
            for (int kx = 0; kx < kw; kx++) {
                int tx = ix + pad - kx;
                if (tx < 0 || tx % stride != 0) continue;
                int ox = tx / stride;
                if (ox >= OW) continue;
                long long row = (long long)b * OH * OW + (long long)oy * OW + ox;
                s += cols[row * K + ((long long)c * kh + ky) * kw + kx];
            }
        }
        gx[i] = s;
    }
}
