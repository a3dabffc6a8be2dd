// tc.cuh — the tensor-core instructions of sm_80+ that kernels use, one spelling for both builds:
// under nvcc inline PTX; under g++ the CPU emulator's implementations (kernels/test/emu.h), which
// follow the PTX ISA's fragment layouts, so a kernel that maps fragments wrongly fails on the CPU.
//   tc_mma_bf16_m16n8k16(d, a, b, c)  mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
//                                     d[4], c[4] f32; a[4], b[2] .b32 holding bf16 pairs (low half first)
//   tc_mma_tf32_m16n8k8(d, a, b, c)   mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32; a[4], b[2] tf32
//   tc_ldmatrix_x1/x2/x4(r, p)        ldmatrix.sync.aligned.m8n8.x{1,2,4}.shared.b16 (p: this lane's row)
//   tc_ldmatrix_x2_trans/x4_trans     ... .trans
//   tc_cp_async16(dst, src, n)        cp.async.cg.shared.global, 16 bytes, the last 16-n zero-filled
//   tc_cp_async4(dst, src, n)         cp.async.ca.shared.global, 4 bytes (n = 0: zero-filled)
//   tc_cp_async_commit(), tc_cp_async_wait<N>()   commit_group, wait_group N
//   tc_pack_bf16x2(lo, hi)            two floats rounded to nearest-even bf16, lo in the low half
//   tc_tf32(x)                        cvt.rna.tf32.f32
//   tc_round_bf16(x)                  x rounded to nearest-even bf16, as a float
//   tc_ld4(v, p) / tc_st2(p, a, b) / tc_st4(p, a, b, c, d)   one 16-byte load of 4 floats, one 8- or 16-byte
//                                     store of 32-bit words (ld/st.v4.f32, st.v2/v4.b32: p must be aligned)
// Fragment layouts (groupID g = lane >> 2, t = lane & 3), PTX ISA "Matrix Fragments for mma.m16n8k16":
//   A 16x16: a_i at row g (i in 0,1,4,5) or g+8, col 2t + (i&1) (+8 for i >= 4)
//   B 16x8:  b_i at row 2t + (i&1) (+8 for i >= 2), col g;  C/D 16x8: c_i at row g (i < 2) or g+8, col 2t + (i&1)
#pragma once
#include <stdint.h>
#include "common.cuh"

#ifdef __CUDACC__
#include <cuda_bf16.h>

__device__ __forceinline__ uint32_t tc_pack_bf16x2(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);   // .x (low 16 bits) = lo
    return *reinterpret_cast<uint32_t*>(&v);
}
__device__ __forceinline__ float tc_round_bf16(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }
__device__ __forceinline__ uint32_t tc_tf32(float x) {
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
}
__device__ __forceinline__ void tc_mma_bf16_m16n8k16(float* d, const uint32_t* a, const uint32_t* b, const float* c) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};"
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]),
                   "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}
__device__ __forceinline__ void tc_mma_tf32_m16n8k8(float* d, const uint32_t* a, const uint32_t* b, const float* c) {
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};"
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]),
                   "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}
__device__ __forceinline__ uint32_t tc_smem(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void tc_ldmatrix_x1(uint32_t* r, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];" : "=r"(r[0]) : "r"(tc_smem(p)));
}
__device__ __forceinline__ void tc_ldmatrix_x2(uint32_t* r, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];" : "=r"(r[0]), "=r"(r[1]) : "r"(tc_smem(p)));
}
__device__ __forceinline__ void tc_ldmatrix_x4(uint32_t* r, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(tc_smem(p)));
}
__device__ __forceinline__ void tc_ldmatrix_x2_trans(uint32_t* r, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];" : "=r"(r[0]), "=r"(r[1]) : "r"(tc_smem(p)));
}
__device__ __forceinline__ void tc_ldmatrix_x4_trans(uint32_t* r, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(tc_smem(p)));
}
__device__ __forceinline__ void tc_cp_async16(void* dst, const void* src, int srcBytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(tc_smem(dst)), "l"(src), "r"(srcBytes));
}
__device__ __forceinline__ void tc_cp_async_commit() { asm volatile("cp.async.commit_group;"); }
template <int N> __device__ __forceinline__ void tc_cp_async_wait() { asm volatile("cp.async.wait_group %0;" :: "n"(N)); }
__device__ __forceinline__ void tc_cp_async4(void* dst, const void* src, int srcBytes) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" :: "r"(tc_smem(dst)), "l"(src), "r"(srcBytes));
}
__device__ __forceinline__ void tc_ld4(float* v, const float* p) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
}
__device__ __forceinline__ void tc_st2(void* p, uint32_t a, uint32_t b) { *reinterpret_cast<uint2*>(p) = make_uint2(a, b); }
__device__ __forceinline__ void tc_st4(void* p, uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
    *reinterpret_cast<uint4*>(p) = make_uint4(a, b, c, d);
}

#else   // the CPU emulator (kernels/test/emu.h is included first)

inline uint32_t tc_pack_bf16x2(float lo, float hi) { return (uint32_t)emu_f2bf16_rn(lo) | (uint32_t)emu_f2bf16_rn(hi) << 16; }
inline uint32_t tc_tf32(float x) { return emu_f2tf32_rna(x); }
inline float tc_round_bf16(float x) { return emu_bf162f(emu_f2bf16_rn(x)); }
#define tc_mma_bf16_m16n8k16(d, a, b, c) emu_mma_bf16_m16n8k16(__FILE__, __LINE__, d, a, b, c)
#define tc_mma_tf32_m16n8k8(d, a, b, c) emu_mma_tf32_m16n8k8(__FILE__, __LINE__, d, a, b, c)
#define tc_ldmatrix_x1(r, p) emu_ldmatrix(__FILE__, __LINE__, 1, false, r, p)
#define tc_ldmatrix_x2(r, p) emu_ldmatrix(__FILE__, __LINE__, 2, false, r, p)
#define tc_ldmatrix_x4(r, p) emu_ldmatrix(__FILE__, __LINE__, 4, false, r, p)
#define tc_ldmatrix_x2_trans(r, p) emu_ldmatrix(__FILE__, __LINE__, 2, true, r, p)
#define tc_ldmatrix_x4_trans(r, p) emu_ldmatrix(__FILE__, __LINE__, 4, true, r, p)
#define tc_cp_async16(dst, src, n) emu_cp_async(__FILE__, __LINE__, dst, src, 16, n)
#define tc_cp_async4(dst, src, n) emu_cp_async(__FILE__, __LINE__, dst, src, 4, n)
#define tc_ld4(v, p) emu_vec_access(__FILE__, __LINE__, v, p, 16, false)
#define tc_st2(p, a, b) do { const uint32_t emu_w2_[2] = {a, b}; emu_vec_access(__FILE__, __LINE__, emu_w2_, p, 8, true); } while (0)
#define tc_st4(p, a, b, c, d) do { const uint32_t emu_w4_[4] = {a, b, c, d}; emu_vec_access(__FILE__, __LINE__, emu_w4_, p, 16, true); } while (0)
inline void tc_cp_async_commit() { emu_cp_async_commit(); }
template <int N> inline void tc_cp_async_wait() { emu_cp_async_wait(N); }

#endif

// The linear epilogue of the GEMM kernels (Backend.linear, linearGelu, linearScaled), in cuBLASLt's terms
// BIAS and GELU_AUX_BIAS plus DINOv2's LayerScale and residual, applied to v = alpha * acc + beta * C at
// offset o (column c) of C, in this order, each step optional:
//   v += bias[c];  v = bf16(v) when roundBf16 (autocast's bf16 store of the product and its bias);
//   aux[o] = v (the pre-activation, which GELU's backward needs);  v = gelu(v) when act (ds_gelu);
//   v = residual[o] + v * gamma[c], each rounded (no FMA), as Backend.addcmul: the same bits as the separate ops.
struct TcEpilogue {
    const float* bias;
    int roundBf16;
    int act;
    float* aux;
    const float* gamma;
    const float* residual;
};
__device__ __forceinline__ float tc_epilogue(float v, long long o, int c, const TcEpilogue& e) {
    if (e.bias) v += e.bias[c];
    if (e.roundBf16) v = tc_round_bf16(v);
    if (e.aux) e.aux[o] = v;
    if (e.act) v = ds_gelu(v);
    if (e.gamma) v = __fmul_rn(v, e.gamma[c]);
    if (e.residual) v = __fadd_rn(e.residual[o], v);
    return v;
}
