// Helpers shared by every kernel family: launch-geometry loops, warp/block reductions and the
// packed dimension descriptor used by the broadcasting and permutation kernels.
// build.sh compiles all families as one translation unit, so this header is guarded.
#pragma once
#include <cstdint>

#define DS_MAX_RANK 6

// Dimension descriptor passed by value: everything is a 64-bit integer so the host packs it as a
// plain long[] (no padding rules). dims: sizes of the iterated (output) index space; stride: the
// element stride of the other operand along each dim (0 where it is broadcast).
struct DsDims {
    long long rank;
    long long dims[DS_MAX_RANK];
    long long stride[DS_MAX_RANK];
};

// Offset into the strided operand of linear index i of the dense index space described by d.
__device__ __forceinline__ long long ds_offset(const DsDims& d, long long i) {
    long long off = 0;
    for (int k = (int)d.rank - 1; k >= 0; k--) {
        long long dim = d.dims[k];
        long long c = i % dim;
        i /= dim;
        off += c * d.stride[k];
    }
    return off;
}

// The same offset with 32-bit arithmetic, for index spaces of at most 2^31 - 1 elements (then every
// dim, stride and offset fits): a 64-bit integer division is a long instruction sequence on the GPU,
// a 32-bit one a few instructions, and the broadcast/permute/sum kernels divide per element and dim.
__device__ __forceinline__ unsigned ds_offset(const DsDims& d, unsigned i) {
    unsigned off = 0;
    for (int k = (int)d.rank - 1; k >= 0; k--) {
        unsigned dim = (unsigned)d.dims[k];
        unsigned c = i % dim;
        i /= dim;
        off += c * (unsigned)d.stride[k];
    }
    return off;
}

// Exact GELU, 0.5 x (1 + erf(x / sqrt 2)) (PyTorch's approximate="none"): one spelling for the
// elementwise kernel and the GEMM epilogues, so a fused GELU gives the bits of the separate one.
__device__ __forceinline__ float ds_gelu(float v) { return 0.5f * v * (1.f + erff(v * 0.70710678118654752f)); }

#define DS_GRID_LOOP(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long)blockDim.x * gridDim.x)

// Grid-stride loop whose index i is a 32-bit unsigned when n < 2^31 and a 64-bit one otherwise; the
// body is written once, and ds_offset(d, i) picks its 32- or 64-bit overload from i's type. Every
// offset the body computes from i must then fit in 32 bits (true for n < 2^31 elements).
#define DS_GRID_LOOP_FAST(i, n, ...)                                                                   \
    if ((long long)(n) <= 0x7fffffffLL) {                                                             \
        for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)(n); i += blockDim.x * gridDim.x) { \
            __VA_ARGS__                                                                                \
        }                                                                                              \
    } else {                                                                                           \
        DS_GRID_LOOP(i, n) { __VA_ARGS__ }                                                             \
    }

__device__ __forceinline__ float ds_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float ds_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ double ds_warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ __forceinline__ double ds_block_sum_d(double v) {
    __shared__ double ds_partial_d[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = ds_warp_sum_d(v);
    __syncthreads();
    if (lane == 0) ds_partial_d[warp] = v;
    __syncthreads();
    double t = lane < nw ? ds_partial_d[lane] : 0.0;
    t = ds_warp_sum_d(t);
    return t;
}

__device__ __forceinline__ float ds_block_sum(float v) {
    __shared__ float ds_partial_f[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = ds_warp_sum(v);
    __syncthreads();
    if (lane == 0) ds_partial_f[warp] = v;
    __syncthreads();
    float t = lane < nw ? ds_partial_f[lane] : 0.f;
    t = ds_warp_sum(t);
    return t;
}
