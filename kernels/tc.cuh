// tc.cuh — the tensor-core instructions of sm_80+ that kernels use, one spelling for both builds:
// under nvcc inline PTX; under g++ the CPU emulator's implementations (kernels/test/emu.h), which
// follow the PTX ISA's fragment layouts, so a kernel that maps fragments wrongly fails on the CPU.
//   tc_mma_bf16_m16n8k16(d, a, b, c)  mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
//                                     d[4], c[4] f32; a[4], b[2] .b32 holding bf16 pairs (low half first)
//   tc_mma_tf32_m16n8k8(d, a, b, c)   mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32; a[4], b[2] tf32
//   tc_ldmatrix_x1/x2/x4(r, p)        ldmatrix.sync.aligned.m8n8.x{1,2,4}.shared.b16 (p: this lane's row)
//   tc_ldmatrix_x2_trans/x4_trans     ... .trans
//   tc_cp_async16(dst, src, n)        cp.async.cg.shared.global, 16 bytes, the last 16-n zero-filled
//   tc_cp_async_commit(), tc_cp_async_wait<N>()   commit_group, wait_group N
//   tc_pack_bf16x2(lo, hi)            two floats rounded to nearest-even bf16, lo in the low half
//   tc_tf32(x)                        cvt.rna.tf32.f32
//   tc_round_bf16(x)                  x rounded to nearest-even bf16, as a float
// Fragment layouts (groupID g = lane >> 2, t = lane & 3), PTX ISA "Matrix Fragments for mma.m16n8k16":
//   A 16x16: a_i at row g (i in 0,1,4,5) or g+8, col 2t + (i&1) (+8 for i >= 4)
//   B 16x8:  b_i at row 2t + (i&1) (+8 for i >= 2), col g;  C/D 16x8: c_i at row g (i < 2) or g+8, col 2t + (i&1)
#pragma once
#include <stdint.h>

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
inline void tc_cp_async_commit() { emu_cp_async_commit(); }
template <int N> inline void tc_cp_async_wait() { emu_cp_async_wait(N); }

#endif
