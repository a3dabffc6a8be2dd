// elementwise.cu — pointwise ops, broadcasting, layout copies and reductions on float tensors.
//   add_bcast / mul_bcast: out[i] = a[i] + alpha*b[bcast(i)] / a[i]*b[bcast(i)], with b's offset
//     computed from a's (collapsed) dims and b's right-aligned strides (0 on broadcast dims);
//     add_same / mul_same are the equal-shape fast paths.
//   scale_f, axpy_f, fill_f; gelu (exact erf) and its backward; relu (+bwd);
//   swiglu: out[r,h] = silu(x12[r,h]) * x12[r,H+h] (+bwd); flip_last_dim;
//   permute_u32: out[i] = x[offset(i)] for any permutation (rank <= 6, works for f32 and i32);
//   copy_blocks_u32 / copy_blocks_add: row-block copies (concat/slice), copy or accumulate;
//   sum_to_thread / sum_to_block: sums x over broadcast dims into out (thread or block per output);
//   sum_partial_d + reduce_partials_d: deterministic double-precision sum / sum of squares;
//   softmax_axis and argmax_axis over the middle dim of a [outer, K, inner] view.
#include "common.cuh"

extern "C" __global__ void add_same(const float* __restrict__ a, const float* __restrict__ b, float alpha,
                                    float* out, long long n) {
    DS_GRID_LOOP(i, n) out[i] = a[i] + alpha * b[i];
}

extern "C" __global__ void add_bcast(const float* __restrict__ a, const float* __restrict__ b, float alpha,
                                     float* out, long long n, DsDims bd) {
    DS_GRID_LOOP_FAST(i, n, out[i] = a[i] + alpha * b[ds_offset(bd, i)];)
}

extern "C" __global__ void mul_same(const float* __restrict__ a, const float* __restrict__ b,
                                    float* out, long long n) {
    DS_GRID_LOOP(i, n) out[i] = a[i] * b[i];
}

extern "C" __global__ void mul_bcast(const float* __restrict__ a, const float* __restrict__ b,
                                     float* out, long long n, DsDims bd) {
    DS_GRID_LOOP_FAST(i, n, out[i] = a[i] * b[ds_offset(bd, i)];)
}

// out = input + t1 * t2[i % len] (t2 a per-channel factor or t1's shape): LayerScale and the residual add
// in one pass. __fmul_rn/__fadd_rn keep nvcc from contracting to an FMA, so the result is add(mul()).
// out may alias input or t1 (each element is read before it is written, by the same thread).
extern "C" __global__ void addcmul_trailing(const float* input, const float* t1, const float* __restrict__ t2,
                                            float* out, long long n, long long len) {
    DS_GRID_LOOP(i, n) out[i] = __fadd_rn(input[i], __fmul_rn(t1[i], t2[i % len]));
}

extern "C" __global__ void scale_f(const float* x, float alpha, float* out, long long n) {
    DS_GRID_LOOP(i, n) out[i] = alpha * x[i];
}

extern "C" __global__ void axpy_f(float alpha, const float* __restrict__ x, float* y, long long n) {
    DS_GRID_LOOP(i, n) y[i] = fmaf(alpha, x[i], y[i]);
}

extern "C" __global__ void fill_f(float* out, float value, long long n) {
    DS_GRID_LOOP(i, n) out[i] = value;
}

extern "C" __global__ void gelu_fwd(const float* x, float* out, long long n) {
    DS_GRID_LOOP(i, n) out[i] = ds_gelu(x[i]);
}

// GELU'(x) = Phi(x) + x * phi(x)
extern "C" __global__ void gelu_bwd(const float* x, const float* gy, float* gx, long long n) {
    DS_GRID_LOOP(i, n) {
        float v = x[i];
        float cdf = 0.5f * (1.f + erff(v * 0.70710678118654752f));
        float pdf = 0.39894228040143268f * expf(-0.5f * v * v);
        gx[i] = gy[i] * (cdf + v * pdf);
    }
}

extern "C" __global__ void relu_fwd(const float* x, float* out, long long n) {
    DS_GRID_LOOP(i, n) out[i] = x[i] > 0.f ? x[i] : 0.f;
}

extern "C" __global__ void relu_bwd(const float* x, const float* gy, float* gx, long long n) {
    DS_GRID_LOOP(i, n) gx[i] = x[i] > 0.f ? gy[i] : 0.f;
}

// x12 [rows, 2H], out [rows, H]
extern "C" __global__ void swiglu_fwd(const float* __restrict__ x12, float* __restrict__ out, long long rows, int H) {
    long long n = rows * H;
    DS_GRID_LOOP(i, n) {
        long long r = i / H;
        int h = (int)(i % H);
        float x1 = x12[r * 2 * H + h], x2 = x12[r * 2 * H + H + h];
        float sig = 1.f / (1.f + expf(-x1));
        out[i] = x1 * sig * x2;
    }
}

extern "C" __global__ void swiglu_bwd(const float* __restrict__ x12, const float* __restrict__ gy,
                                      float* __restrict__ gx12, long long rows, int H) {
    long long n = rows * H;
    DS_GRID_LOOP(i, n) {
        long long r = i / H;
        int h = (int)(i % H);
        float x1 = x12[r * 2 * H + h], x2 = x12[r * 2 * H + H + h];
        float sig = 1.f / (1.f + expf(-x1));
        float g = gy[i];
        gx12[r * 2 * H + h] = g * x2 * (sig + x1 * sig * (1.f - sig));
        gx12[r * 2 * H + H + h] = g * x1 * sig;
    }
}

extern "C" __global__ void flip_last_dim(const unsigned int* __restrict__ x, unsigned int* __restrict__ out,
                                         long long n, int W) {
    DS_GRID_LOOP(i, n) {
        long long r = i / W;
        int w = (int)(i % W);
        out[i] = x[r * W + (W - 1 - w)];
    }
}

// d.dims = output dims, d.stride = input strides of the permuted dims.
extern "C" __global__ void permute_u32(const unsigned int* __restrict__ x, unsigned int* __restrict__ out,
                                       long long n, DsDims d) {
    DS_GRID_LOOP_FAST(i, n, out[i] = x[ds_offset(d, i)];)
}

extern "C" __global__ void copy_blocks_u32(const unsigned int* __restrict__ src, long long srcStride,
                                           unsigned int* __restrict__ dst, long long dstStride,
                                           long long rows, long long rowLen) {
    long long n = rows * rowLen;
    DS_GRID_LOOP(i, n) {
        long long r = i / rowLen, c = i % rowLen;
        dst[r * dstStride + c] = src[r * srcStride + c];
    }
}

extern "C" __global__ void copy_blocks_add(const float* __restrict__ src, long long srcStride,
                                           float* __restrict__ dst, long long dstStride,
                                           long long rows, long long rowLen) {
    long long n = rows * rowLen;
    DS_GRID_LOOP(i, n) {
        long long r = i / rowLen, c = i % rowLen;
        dst[r * dstStride + c] += src[r * srcStride + c];
    }
}

// out[o] = sum_r x[offset(kept, o) + offset(red, r)]; one thread per output element.
extern "C" __global__ void sum_to_thread(const float* __restrict__ x, float* __restrict__ out,
                                         long long nOut, long long R, DsDims kept, DsDims red) {
    if (nOut * R <= 0x7fffffffLL) {   // x fits 32-bit offsets
        for (unsigned o = blockIdx.x * blockDim.x + threadIdx.x; o < (unsigned)nOut; o += blockDim.x * gridDim.x) {
            unsigned base = ds_offset(kept, o);
            float s = 0.f;
            for (unsigned r = 0; r < (unsigned)R; r++) s += x[base + ds_offset(red, r)];
            out[o] = s;
        }
        return;
    }
    DS_GRID_LOOP(o, nOut) {
        long long base = ds_offset(kept, o);
        float s = 0.f;
        for (long long r = 0; r < R; r++) s += x[base + ds_offset(red, r)];
        out[o] = s;
    }
}

// Column sums of x [R, C] (the bias gradient: a sum over leading dims) read coalesced: block (32 x 8)
// covers 32 adjacent columns, its threadIdx.y rows step by 8 over a chunk of rowsPerChunk rows
// (blockIdx.y), a shared-memory sum of the 8 makes partial[chunk][C]; column_sum_finalize
// (layernorm.cu) adds the chunks in order. Deterministic. sum_to_block instead had one block per
// column whose threads read x[r * C + c] C floats apart.
extern "C" __global__ void sum_rows_partial(const float* __restrict__ x, float* __restrict__ partial,
                                            long long R, int C, int rowsPerChunk) {
    __shared__ float s8[8][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    long long r0 = (long long)blockIdx.y * rowsPerChunk, r1 = r0 + rowsPerChunk < R ? r0 + rowsPerChunk : R;
    float a = 0.f;
    if (c < C)
        for (long long r = r0 + threadIdx.y; r < r1; r += 8) a += x[r * C + c];
    s8[threadIdx.y][threadIdx.x] = a;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float t = 0.f;
        for (int k = 0; k < 8; k++) t += s8[k][threadIdx.x];
        partial[(long long)blockIdx.y * C + c] = t;
    }
}

// Same sum with one block per output element (many reduced elements per output).
extern "C" __global__ void sum_to_block(const float* __restrict__ x, float* __restrict__ out,
                                        long long nOut, long long R, DsDims kept, DsDims red) {
    for (long long o = blockIdx.x; o < nOut; o += gridDim.x) {
        long long base = ds_offset(kept, o);
        float s = 0.f;
        for (long long r = threadIdx.x; r < R; r += blockDim.x) s += x[base + ds_offset(red, r)];
        s = ds_block_sum(s);
        if (threadIdx.x == 0) out[o] = s;
    }
}

// partial[blockIdx.x] = sum over this block's grid-stride share of x (or of x^2 when squares).
extern "C" __global__ void sum_partial_d(const float* __restrict__ x, long long n, int squares,
                                         double* __restrict__ partial) {
    double s = 0.0;
    DS_GRID_LOOP(i, n) {
        double v = x[i];
        s += squares ? v * v : v;
    }
    s = ds_block_sum_d(s);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// One block: total = sum of count partials; written to outD[0] (double) and/or outF[0] (float).
extern "C" __global__ void reduce_partials_d(const double* __restrict__ partial, int count,
                                             double* outD, float* outF) {
    double s = 0.0;
    for (int i = threadIdx.x; i < count; i += blockDim.x) s += partial[i];
    s = ds_block_sum_d(s);
    if (threadIdx.x == 0) {
        if (outD) outD[0] = s;
        if (outF) outF[0] = (float)s;
    }
}

// Softmax over the middle dim of [outer, K, inner]; one thread per (outer, inner). out may be x.
extern "C" __global__ void softmax_axis(const float* x, float* out, long long outer, int K, long long inner) {
    long long n = outer * inner;
    DS_GRID_LOOP(i, n) {
        long long o = i / inner, in = i % inner;
        long long base = o * K * inner + in;
        float mx = -INFINITY;
        for (int k = 0; k < K; k++) mx = fmaxf(mx, x[base + k * inner]);
        float s = 0.f;
        for (int k = 0; k < K; k++) s += expf(x[base + k * inner] - mx);
        float inv = 1.f / s;
        for (int k = 0; k < K; k++) out[base + k * inner] = expf(x[base + k * inner] - mx) * inv;
    }
}

// Softmax over the last dim (inner == 1): one warp per row.
extern "C" __global__ void softmax_lastdim(const float* x, float* out, long long rows, int K) {
    long long row = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (row >= rows) return;
    const float* xr = x + row * K;
    float mx = -INFINITY;
    for (int k = lane; k < K; k += 32) mx = fmaxf(mx, xr[k]);
    mx = ds_warp_max(mx);
    float s = 0.f;
    for (int k = lane; k < K; k += 32) s += expf(xr[k] - mx);
    float inv = 1.f / ds_warp_sum(s);
    float* o = out + row * K;
    for (int k = lane; k < K; k += 32) o[k] = expf(xr[k] - mx) * inv;
}

// out[o, in] = first k maximising x[o, k, in].
extern "C" __global__ void argmax_axis(const float* __restrict__ x, int* __restrict__ out,
                                       long long outer, int K, long long inner) {
    long long n = outer * inner;
    DS_GRID_LOOP(i, n) {
        long long o = i / inner, in = i % inner;
        long long base = o * K * inner + in;
        float best = x[base];
        int arg = 0;
        for (int k = 1; k < K; k++) {
            float v = x[base + k * inner];
            if (v > best || (isnan(v) && !isnan(best))) { best = v; arg = k; }
        }
        out[i] = arg;
    }
}
