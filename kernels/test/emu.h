// emu.h — runs the CUDA kernels of kernels/*.cu on the CPU, for checking them on machines without a
// GPU (kernels/test/run.sh). Blocks run one after another; the threads of a block run as OS threads,
// so __syncthreads (a block barrier), warp shuffles (a warp barrier around a slot exchange) and
// static shared memory behave as on a device. Slow, meant for small inputs.
#pragma once
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <math.h>
#include <memory>
#include <thread>
#include <vector>

struct EmuDim { unsigned x = 1, y = 1, z = 1; };

inline thread_local EmuDim threadIdx, blockIdx;
inline EmuDim blockDim, gridDim;

#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
#define __shared__ static

struct EmuWarp {
    std::unique_ptr<std::barrier<>> bar;
    uint64_t slots[32];
};

inline std::barrier<>* emu_block_barrier;
inline thread_local EmuWarp* emu_warp;
inline thread_local int emu_lane;
inline std::vector<float> emu_dynamic_shared;

inline void __syncthreads() { emu_block_barrier->arrive_and_wait(); }

template <class T>
inline T emu_exchange(T v, int src) {
    EmuWarp* w = emu_warp;
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    w->slots[emu_lane] = bits;
    w->bar->arrive_and_wait();
    uint64_t got = w->slots[src & 31];
    w->bar->arrive_and_wait();
    T r;
    std::memcpy(&r, &got, sizeof(T));
    return r;
}

template <class T> inline T __shfl_sync(unsigned, T v, int src) { return emu_exchange(v, src); }
template <class T> inline T __shfl_xor_sync(unsigned, T v, int mask) { return emu_exchange(v, emu_lane ^ mask); }

inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
inline int min(int a, int b) { return a < b ? a : b; }
inline float atomicAdd(float* p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }

// Launches kernel<<<grid, block, sharedBytes>>>(args...).
template <class... P, class... A>
void emu_launch(void (*kernel)(P...), EmuDim grid, EmuDim block, size_t sharedBytes, A... args) {
    gridDim = grid;
    blockDim = block;
    const int nt = (int)(block.x * block.y * block.z);
    emu_dynamic_shared.assign(sharedBytes / sizeof(float) + 1, NAN);
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                std::barrier<> blockBar(nt);
                emu_block_barrier = &blockBar;
                int nw = (nt + 31) / 32;
                std::vector<EmuWarp> warps(nw);
                for (int w = 0; w < nw; w++) warps[w].bar = std::make_unique<std::barrier<>>(std::min(32, nt - 32 * w));
                std::vector<std::thread> threads;
                threads.reserve(nt);
                for (int t = 0; t < nt; t++) {
                    threads.emplace_back([&, t] {
                        threadIdx = {t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
                        blockIdx = {bx, by, bz};
                        emu_warp = &warps[t / 32];
                        emu_lane = t % 32;
                        kernel(args...);
                        blockBar.arrive_and_drop();
                        emu_warp->bar->arrive_and_drop();
                    });
                }
                for (auto& th : threads) th.join();
            }
}
