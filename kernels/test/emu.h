// emu.h — runs the CUDA kernels of kernels/*.cu on the CPU (g++ -std=c++20, x86-64 Linux; other
// architectures fall back to ucontext), for checking them on machines without a GPU: the kernel
// checks (kernels/test/run.sh) and the emulated CUDA driver (kernels/test/driver/) include it.
// The kernels must first be rewritten by kernels/test/prepare.sh (shared-memory declarations).
//
// Execution model (what a device would expose, made deterministic):
//  * The threads of a block are user-level fibers on one OS thread (a hand-written context switch
//    of the callee-saved registers). A seeded scheduler runs, in every interval between two
//    __syncthreads, the warps one after another in a permuted order (per block: forward, reverse
//    or a fresh random order each interval), each warp until all its lanes wait at __syncthreads
//    or have exited. Inside a warp the lanes run (forward or reverse) until each reaches a warp
//    collective; a collective completes when every lane of its mask has arrived, and all lanes'
//    results are computed at once. So a missing barrier between warps that share memory gives
//    a wrong result every time, not once in a while.
//  * The blocks of a grid run in a seeded shuffled order on a small pool of OS worker threads
//    (DSEMU_WORKERS, default 2..4 by core count), several at once; atomicAdd is a real atomic.
//  * Shared memory is per block and poisoned (0xFF bytes: NaN for float and double) for every
//    block; dynamic shared memory is exactly the launch's byte count with a guard page after it.
//  * Misuse fails the launch with one line naming the kernel, block and thread (never a hang):
//    __syncthreads reached by part of the block or at different call sites; a warp collective
//    whose mask names a lane that exited or waits elsewhere, or that reads a lane outside its
//    mask; launch limits (block <= 1024 threads, z <= 64; grid y, z <= 65535; shared memory);
//    pointer arguments outside device memory; global or shared memory out of bounds (guard
//    pages, caught with a SIGSEGV handler that chains to the previous one for foreign faults);
//    writes into an allocation's slack (canaries checked after every launch).
//  * A watchdog (DSEMU_LAUNCH_TIMEOUT seconds, default 120) prints what every warp waits on and
//    ends the process with _exit(124) when a launch does not finish (a spinning fiber cannot be
//    stopped otherwise).
//  * DSEMU_SEED (an integer) changes the schedules; launches are numbered, so a run is
//    reproducible up to the interleaving of blocks on different workers.
// Interface (used by the emulated driver): emu_dev_alloc / emu_dev_free / emu_dev_contains,
// emu_launch_checked, emu_last_error; check_kernels also uses emu_launch (aborts on error).
// Launches must be serialised by the caller; nothing heavy runs before the first call.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cerrno>
#include <csetjmp>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <math.h>
#include <mutex>
#include <pthread.h>
#include <string>
#include <sys/mman.h>
#include <thread>
#include <tuple>
#include <type_traits>
#include <ucontext.h>
#include <unistd.h>
#include <vector>

struct EmuDim { unsigned x = 1, y = 1, z = 1; };

// Per fiber (set on every switch into a fiber of this OS thread) and per launch.
inline thread_local EmuDim threadIdx, blockIdx;
inline EmuDim blockDim, gridDim;

#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
// __shared__ is deliberately left undefined: prepare.sh rewrites every declaration (EMU_SHARED,
// emu_dyn_shared); one it missed is a compile error rather than a silently shared variable.

// CUDA driver error codes returned by emu_launch_checked.
enum : int {
    EMU_OK = 0,
    EMU_ERR_INVALID_VALUE = 1,         // CUDA_ERROR_INVALID_VALUE: bad launch dimensions
    EMU_ERR_ILLEGAL_ADDRESS = 700,     // CUDA_ERROR_ILLEGAL_ADDRESS: out-of-bounds access
    EMU_ERR_OUT_OF_RESOURCES = 701,    // CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES: threads/shared memory
    EMU_ERR_MISALIGNED = 716,          // CUDA_ERROR_MISALIGNED_ADDRESS: e.g. a cp.async address
    EMU_ERR_LAUNCH_FAILED = 719,       // CUDA_ERROR_LAUNCH_FAILED: barrier/collective misuse, canary
};

// ------------------------------------------------------------------ context switch

#if defined(__x86_64__)
// emu_ctx_switch(save, to): pushes the callee-saved registers, stores the stack pointer in *save,
// continues on the stack `to` (whose top holds the same six registers and a return address).
// emu_ctx_start: first return address of a new fiber: calls r13(r12) on a 16-byte aligned stack.
extern "C" __attribute__((visibility("hidden"))) void emu_ctx_switch(void** save, void* to);
extern "C" __attribute__((visibility("hidden"))) void emu_ctx_start();
asm(R"(
    .pushsection .text
    .weak emu_ctx_switch
    .hidden emu_ctx_switch
    .type emu_ctx_switch, @function
emu_ctx_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_ctx_switch, .-emu_ctx_switch
    .weak emu_ctx_start
    .hidden emu_ctx_start
    .type emu_ctx_start, @function
emu_ctx_start:
    movq %r12, %rdi
    callq *%r13
    ud2
    .size emu_ctx_start, .-emu_ctx_start
    .popsection
)");
struct EmuCtx { void* sp = nullptr; };
inline void emu_ctx_init(EmuCtx* c, char* stackLo, size_t size, void (*fn)(void*), void* arg) {
    uintptr_t top = ((uintptr_t)stackLo + size) & ~(uintptr_t)15;
    void** sp = (void**)(top - 7 * sizeof(void*));
    sp[0] = nullptr;                 // r15
    sp[1] = nullptr;                 // r14
    sp[2] = (void*)fn;               // r13
    sp[3] = arg;                     // r12
    sp[4] = nullptr;                 // rbx
    sp[5] = nullptr;                 // rbp
    sp[6] = (void*)&emu_ctx_start;   // return address; rsp = top (aligned) after the ret
    c->sp = sp;
}
inline void emu_switch(EmuCtx* from, EmuCtx* to) { emu_ctx_switch(&from->sp, to->sp); }
#else
struct EmuCtx { ucontext_t uc; };
inline void emu_ctx_init(EmuCtx* c, char* stackLo, size_t size, void (*fn)(void*), void* arg) {
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = stackLo;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = nullptr;
    makecontext(&c->uc, (void (*)())fn, 1, arg);   // one pointer argument: fine on LP64 glibc
}
inline void emu_switch(EmuCtx* from, EmuCtx* to) { swapcontext(&from->uc, &to->uc); }
#endif

// ------------------------------------------------------------------ small helpers

inline uint64_t emu_mix(uint64_t x) {   // splitmix64
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

inline size_t emu_page() {
    static const size_t p = (size_t)sysconf(_SC_PAGESIZE);
    return p;
}
inline size_t emu_round(size_t v, size_t a) { return (v + a - 1) / a * a; }

inline std::string emu_fmt(const char* f, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    return buf;
}

inline const char* emu_base(const char* path) {
    const char* s = std::strrchr(path, '/');
    return s ? s + 1 : path;
}

// The canary / poison word: a NaN as float and (two of them) as double, so reading unwritten or
// slack device memory makes results NaN; a write into the slack changes it.
constexpr uint32_t EMU_CANARY = 0xFFF5A5A5u;
inline void emu_fill_canary(char* p, size_t n, uintptr_t phase) {
    for (size_t i = 0; i < n; i++) p[i] = (char)(EMU_CANARY >> (8 * ((phase + i) & 3)));
}
inline bool emu_canary_ok(const char* p, size_t n, uintptr_t phase, size_t* badAt) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (char)(EMU_CANARY >> (8 * ((phase + i) & 3)))) { *badAt = i; return false; }
    return true;
}

// ------------------------------------------------------------------ guarded device memory

// Layout of one allocation: [guard page][pre-bytes (canary) | data (bytes) | slack (canary)][guard page]
// with data + round_up(bytes, 16) at the start of the trailing guard page; data is 16-byte aligned.
struct EmuAlloc {
    char* map;          // start of the mapping (leading guard page)
    size_t mapLen;
    char* data;
    size_t bytes;       // requested size
    size_t rounded;     // round_up(bytes, 16)
};

struct EmuMem {
    std::mutex mu;
    std::map<uintptr_t, EmuAlloc> live;          // by data address
    std::vector<EmuAlloc> quarantine;            // recently freed (PROT_NONE), to name use-after-free
    size_t qnext = 0;
};
inline EmuMem& emu_mem() {
    static EmuMem* m = new EmuMem();   // never destroyed: safe to use from exit paths and handlers
    return *m;
}

inline void emu_install_handlers();

// Guarded device memory: nullptr when out of memory. The contents start as NaN words
// (uninitialised device memory). Never-freed memory may leak at exit.
inline void* emu_dev_alloc(size_t bytes) {
    emu_install_handlers();
    const size_t pg = emu_page();
    size_t rounded = emu_round(bytes ? bytes : 1, 16);
    size_t dataPages = emu_round(rounded, pg);
    size_t len = dataPages + 2 * pg;
    char* m = (char*)mmap(nullptr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    if (mprotect(m + pg, dataPages, PROT_READ | PROT_WRITE) != 0) { munmap(m, len); return nullptr; }
    char* data = m + pg + dataPages - rounded;
    emu_fill_canary(m + pg, dataPages, 0);
    EmuMem& mem = emu_mem();
    std::lock_guard<std::mutex> lk(mem.mu);
    mem.live[(uintptr_t)data] = EmuAlloc{m, len, data, bytes, rounded};
    return data;
}

// Frees a pointer returned by emu_dev_alloc; any other pointer aborts the process with a message.
// The pages stay reserved (inaccessible) for a while so that a later access is named a use after free.
inline void emu_dev_free(void* p) {
    if (!p) return;
    EmuMem& mem = emu_mem();
    std::lock_guard<std::mutex> lk(mem.mu);
    auto it = mem.live.find((uintptr_t)p);
    if (it == mem.live.end()) {
        std::fprintf(stderr, "emu_dev_free: %p is not a live device allocation (double free or foreign pointer)\n", p);
        std::abort();
    }
    EmuAlloc a = it->second;
    mem.live.erase(it);
    mprotect(a.map, a.mapLen, PROT_NONE);
    madvise(a.map, a.mapLen, MADV_DONTNEED);
    const size_t Q = 256;
    if (mem.quarantine.size() < Q) mem.quarantine.push_back(a);
    else {
        EmuAlloc& old = mem.quarantine[mem.qnext];
        munmap(old.map, old.mapLen);
        old = a;
        mem.qnext = (mem.qnext + 1) % Q;
    }
}

// True when [p, p+bytes) lies inside one live allocation's requested bytes.
inline bool emu_dev_contains(const void* p, size_t bytes) {
    EmuMem& mem = emu_mem();
    std::lock_guard<std::mutex> lk(mem.mu);
    auto it = mem.live.upper_bound((uintptr_t)p);
    if (it == mem.live.begin()) return false;
    --it;
    uintptr_t a = (uintptr_t)p, lo = it->first, hi = lo + it->second.bytes;
    return a >= lo && a <= hi && bytes <= hi - a;
}

// A kernel pointer argument may point anywhere into an allocation or one past its (rounded) end.
inline bool emu_dev_pointer_ok(const void* p) {
    EmuMem& mem = emu_mem();
    std::lock_guard<std::mutex> lk(mem.mu);
    auto it = mem.live.upper_bound((uintptr_t)p);
    if (it == mem.live.begin()) return false;
    --it;
    return (uintptr_t)p <= it->first + it->second.rounded;
}

// Words about an address outside any accessible device byte (for fault messages).
inline std::string emu_describe_address(uintptr_t a) {
    EmuMem& mem = emu_mem();
    std::lock_guard<std::mutex> lk(mem.mu);
    std::string s;
    auto it = mem.live.upper_bound(a);
    if (it != mem.live.begin()) {
        auto p = std::prev(it);
        const EmuAlloc& A = p->second;
        if (a >= (uintptr_t)A.map && a < (uintptr_t)A.map + A.mapLen) {
            long long off = (long long)(a - (uintptr_t)A.data);
            if (off >= 0)
                return emu_fmt("offset %lld of device allocation %p (%zu bytes), past its end", off, (void*)A.data, A.bytes);
            return emu_fmt("%lld bytes before device allocation %p (%zu bytes)", -off, (void*)A.data, A.bytes);
        }
    }
    if (it != mem.live.end()) {
        const EmuAlloc& A = it->second;
        if (a >= (uintptr_t)A.map && a < (uintptr_t)A.data)
            return emu_fmt("%lld bytes before device allocation %p (%zu bytes)", (long long)((uintptr_t)A.data - a),
                           (void*)A.data, A.bytes);
    }
    for (const EmuAlloc& A : mem.quarantine)
        if (a >= (uintptr_t)A.map && a < (uintptr_t)A.map + A.mapLen)
            return emu_fmt("offset %lld of freed device allocation %p (%zu bytes): use after free",
                           (long long)(a - (uintptr_t)A.data), (void*)A.data, A.bytes);
    return "not device memory";
}

// ------------------------------------------------------------------ fibers, workers, launches

enum : int { EMU_READY = 0, EMU_AT_BARRIER, EMU_AT_COLLECTIVE, EMU_EXITED };
enum : int { EMU_SHFL_IDX = 1, EMU_SHFL_XOR, EMU_SHFL_DOWN, EMU_SHFL_UP, EMU_SYNCWARP,
             // tensor-core warp collectives: the lane's value is a pointer to its operand registers
             EMU_MMA_BF16_M16N8K16, EMU_MMA_TF32_M16N8K8, EMU_LDMATRIX };

struct EmuFiber {
    EmuCtx ctx;
    int state;
    int tid;
    EmuDim tidx;
    int ckind, cparam, cwidth;
    unsigned cmask;
    uint64_t cval, cres;
    const char* file;   // where it waits (barrier or collective)
    int line;
    // cp.async issued by this thread and not yet completed (group -1: not yet committed)
    struct Copy { char* dst; unsigned char bytes[16]; int n; int group; };
    std::vector<Copy> cps;
    int cpCommitted = 0;
};

struct EmuLaunch {
    const char* name;
    void (*invoke)(void*);
    void* ctx;
    EmuDim grid, block;
    int nt;
    size_t dyn, limit;
    unsigned long long nblocks, permA, permC;
    uint64_t seed;
    std::atomic<unsigned long long> next{0};
    std::atomic<bool> failed{false};
    std::mutex mu;
    int code = 0;
    std::string error;
    void fail(int c, const std::string& msg) {
        std::lock_guard<std::mutex> lk(mu);
        if (!failed.load()) { code = c; error = msg; failed.store(true); }
    }
};

struct EmuWorker {
    pthread_t pth;
    EmuCtx sched;
    EmuFiber* fibers = nullptr;
    int nfibers = 0;
    char* stacks = nullptr;        // nstacks x EMU_STACK, a guard page at the low end of each
    int nstacks = 0;
    EmuFiber* cur = nullptr;
    volatile sig_atomic_t inFiber = 0;
    sigjmp_buf jb;
    // fault recorded by the signal handler
    volatile uintptr_t faultAddr = 0;
    volatile int faultWrite = -1, faultSig = 0;
    // current block
    EmuLaunch* L = nullptr;
    EmuDim bidx;
    std::atomic<bool> busy{false};
    // shared memory: static arena (guarded) and dynamic buffer (guard page right after it)
    char* sarena = nullptr;
    size_t sused = 0;
    std::vector<std::pair<const void*, char*>> stags;
    char* dmap = nullptr;
    size_t dcap = 0;               // bytes between the leading and trailing guard pages
    char* dptr = nullptr;
    size_t dbytes = 0;
    std::string err;
    int errCode = 0;
};

constexpr size_t EMU_STACK = 64 * 1024;
constexpr size_t EMU_SHARED_OPTIN_MAX = 227 * 1024;   // H100 per-block opt-in maximum
constexpr size_t EMU_SHARED_DEFAULT = 48 * 1024;

inline thread_local EmuWorker* emu_w = nullptr;

struct EmuPool {
    std::mutex m;
    std::condition_variable cv, done;
    EmuLaunch* L = nullptr;
    uint64_t gen = 0;
    int running = 0;
    std::vector<EmuWorker*> workers;
    double timeout = 120;
    uint64_t seed = 0x5eed;
    uint64_t launches = 0;
};
inline EmuPool* emu_pool_ptr = nullptr;
inline std::atomic<EmuWorker*> emu_worker_tab[8];   // read by the signal handler (no TLS there)
inline std::atomic<int> emu_nworkers{0};

// ------------------------------------------------------------------ signal handling

struct EmuOldAction { int sig; struct sigaction sa; };
inline EmuOldAction emu_old[3];
inline std::atomic<bool> emu_handlers_installed{false};

inline void emu_signal(int sig, siginfo_t* si, void* uc) {
    int saved = errno;
    pthread_t self = pthread_self();
    int n = emu_nworkers.load(std::memory_order_acquire);
    for (int i = 0; i < n; i++) {
        EmuWorker* w = emu_worker_tab[i].load(std::memory_order_acquire);
        if (w && pthread_equal(w->pth, self) && w->inFiber) {
            w->faultAddr = (uintptr_t)si->si_addr;
            w->faultSig = sig;
#if defined(__x86_64__)
            w->faultWrite = (int)((((ucontext_t*)uc)->uc_mcontext.gregs[REG_ERR] >> 1) & 1);
#else
            w->faultWrite = -1;
#endif
            w->inFiber = 0;
            siglongjmp(w->jb, 1);
        }
    }
    errno = saved;
    // Not ours (e.g. the JVM's own faults): hand over to whoever was installed before us.
    for (auto& o : emu_old) {
        if (o.sig != sig) continue;
        if (o.sa.sa_flags & SA_SIGINFO) { o.sa.sa_sigaction(sig, si, uc); return; }
        if (o.sa.sa_handler == SIG_IGN && sig != SIGSEGV && sig != SIGBUS && sig != SIGFPE) return;
        if (o.sa.sa_handler == SIG_DFL || o.sa.sa_handler == SIG_IGN) {
            // Restore the default action; returning re-executes the faulting instruction.
            signal(sig, SIG_DFL);
            return;
        }
        o.sa.sa_handler(sig);
        return;
    }
    signal(sig, SIG_DFL);
}

inline void emu_install_handlers() {
    if (emu_handlers_installed.load()) return;
    static std::mutex mu;
    std::lock_guard<std::mutex> lk(mu);
    if (emu_handlers_installed.load()) return;
    const int sigs[3] = {SIGSEGV, SIGBUS, SIGFPE};
    for (int i = 0; i < 3; i++) {
        struct sigaction sa;
        std::memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = emu_signal;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        emu_old[i].sig = sigs[i];
        sigaction(sigs[i], &sa, &emu_old[i].sa);
    }
    emu_handlers_installed.store(true);
}

// ------------------------------------------------------------------ kernel-side API

inline void emu_yield(EmuWorker* w, EmuFiber* f) {
    w->inFiber = 0;
    emu_switch(&f->ctx, &w->sched);
}

inline void emu_syncthreads(const char* file, int line) {
    EmuWorker* w = emu_w;
    EmuFiber* f = w->cur;
    f->state = EMU_AT_BARRIER;
    f->file = file;
    f->line = line;
    emu_yield(w, f);
}
#define __syncthreads() emu_syncthreads(__FILE__, __LINE__)

template <class T>
inline T emu_collective(const char* file, int line, int kind, unsigned mask, T v, int param, int width) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffle of a type wider than 8 bytes");
    EmuWorker* w = emu_w;
    EmuFiber* f = w->cur;
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    f->cval = bits;
    f->ckind = kind;
    f->cmask = mask;
    f->cparam = param;
    f->cwidth = width;
    f->file = file;
    f->line = line;
    f->state = EMU_AT_COLLECTIVE;
    emu_yield(w, f);
    T r;
    std::memcpy(&r, &f->cres, sizeof(T));
    return r;
}
template <class T> inline T emu_shfl(const char* f, int l, unsigned m, T v, int src, int width = 32) {
    return emu_collective(f, l, EMU_SHFL_IDX, m, v, src, width);
}
template <class T> inline T emu_shfl_xor(const char* f, int l, unsigned m, T v, int laneMask, int width = 32) {
    return emu_collective(f, l, EMU_SHFL_XOR, m, v, laneMask, width);
}
template <class T> inline T emu_shfl_down(const char* f, int l, unsigned m, T v, unsigned delta, int width = 32) {
    return emu_collective(f, l, EMU_SHFL_DOWN, m, v, (int)delta, width);
}
template <class T> inline T emu_shfl_up(const char* f, int l, unsigned m, T v, unsigned delta, int width = 32) {
    return emu_collective(f, l, EMU_SHFL_UP, m, v, (int)delta, width);
}
inline void emu_syncwarp(const char* f, int l, unsigned m = 0xffffffffu) { emu_collective(f, l, EMU_SYNCWARP, m, 0, 0, 32); }
#define __shfl_sync(...) emu_shfl(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_xor_sync(...) emu_shfl_xor(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_down_sync(...) emu_shfl_down(__FILE__, __LINE__, __VA_ARGS__)
#define __shfl_up_sync(...) emu_shfl_up(__FILE__, __LINE__, __VA_ARGS__)
#define __syncwarp(...) emu_syncwarp(__FILE__, __LINE__ __VA_OPT__(,) __VA_ARGS__)

// ------------------------------------------------------------------ tensor cores (sm_80 PTX, emulated)
// kernels/tc.cuh maps its tc_* names to these under g++. The fragment-to-lane layouts are the PTX
// ISA's ("Matrix Fragments for mma.m16n8k16 with floating point type", "... mma.m16n8k8" .tf32,
// "Warp-level matrix load instruction: ldmatrix"); emu_tc_resolve holds them in one place.
//  * mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 and m16n8k8 ... .tf32: every lane of the
//    warp must arrive at the same instruction (.aligned); D = A*B + C with exact products summed in
//    double and rounded once to float (the hardware's order is unspecified; it is at least as
//    exact as float). tf32 operands keep their top 19 bits (the low 13 are ignored, as by hardware).
//  * ldmatrix.sync.aligned.m8n8.x{1,2,4}{.trans}.shared.b16: lanes 8i..8i+7 give the row addresses
//    of matrix i; each must be 16-byte aligned and lie in the block's shared memory.
//  * cp.async.{ca,cg}.shared.global with commit_group / wait_group: the source is read when the copy
//    is issued, but the destination is written only when a wait_group covers its group, so a kernel
//    that reads before waiting sees the old (poisoned) shared memory every time.
struct EmuMmaRegs { const uint32_t* a; const uint32_t* b; const float* c; float* d; };
struct EmuLdmRegs { const void* addr; uint32_t* r; };

// A misuse found inside a kernel: fails the launch with the message and never returns.
[[noreturn]] inline void emu_kernel_fail(int code, const std::string& msg) {
    EmuWorker* w = emu_w;
    w->errCode = code;
    w->err = msg;
    w->cur->state = EMU_EXITED;   // the scheduler sees errCode and abandons the block
    emu_yield(w, w->cur);
    __builtin_trap();
}

// Where p .. p+bytes lies in this block's shared memory (static arena or dynamic buffer).
inline bool emu_in_shared(EmuWorker* w, const void* p, size_t bytes) {
    uintptr_t a = (uintptr_t)p;
    if (w->sarena && a >= (uintptr_t)w->sarena && a + bytes <= (uintptr_t)w->sarena + w->sused) return true;
    return w->dptr && a >= (uintptr_t)w->dptr && a + bytes <= (uintptr_t)w->dptr + w->dbytes;
}

inline uint16_t emu_f2bf16_rn(float f) {   // cvt.rn.bf16.f32: round to nearest even; NaN stays NaN
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
inline float emu_bf162f(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline uint32_t emu_f2tf32_rna(float f) {   // cvt.rna.tf32.f32: round to nearest, ties away from zero
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return u;
    return (u + 0x1000u) & 0xffffe000u;
}
inline float emu_tf322f(uint32_t u) {
    u &= 0xffffe000u;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

inline void emu_mma_bf16_m16n8k16(const char* file, int line, float* d, const uint32_t* a, const uint32_t* b, const float* c) {
    EmuMmaRegs r{a, b, c, d};
    emu_collective(file, line, EMU_MMA_BF16_M16N8K16, 0xffffffffu, (uintptr_t)&r, 0, 32);
}
inline void emu_mma_tf32_m16n8k8(const char* file, int line, float* d, const uint32_t* a, const uint32_t* b, const float* c) {
    EmuMmaRegs r{a, b, c, d};
    emu_collective(file, line, EMU_MMA_TF32_M16N8K8, 0xffffffffu, (uintptr_t)&r, 0, 32);
}
inline void emu_ldmatrix(const char* file, int line, int num, bool trans, uint32_t* r, const void* addr) {
    EmuLdmRegs q{addr, r};
    emu_collective(file, line, EMU_LDMATRIX, 0xffffffffu, (uintptr_t)&q, num | (trans ? 16 : 0), 32);
}

inline void emu_cp_async(const char* file, int line, void* dst, const void* src, int cpSize, int srcSize) {
    EmuWorker* w = emu_w;
    const char* site = emu_base(file);
    if (cpSize != 4 && cpSize != 8 && cpSize != 16)
        emu_kernel_fail(EMU_ERR_LAUNCH_FAILED, emu_fmt("cp.async at %s:%d copies %d bytes (must be 4, 8 or 16)", site, line, cpSize));
    if (srcSize < 0 || srcSize > cpSize)
        emu_kernel_fail(EMU_ERR_LAUNCH_FAILED, emu_fmt("cp.async at %s:%d with src-size %d outside 0..%d", site, line, srcSize, cpSize));
    if ((uintptr_t)dst % cpSize || (uintptr_t)src % cpSize)
        emu_kernel_fail(EMU_ERR_MISALIGNED, emu_fmt("cp.async at %s:%d: %s address %p is not %d-byte aligned", site, line,
                                                    (uintptr_t)dst % cpSize ? "shared" : "global", (uintptr_t)dst % cpSize ? dst : src, cpSize));
    if (!emu_in_shared(w, dst, cpSize))
        emu_kernel_fail(EMU_ERR_ILLEGAL_ADDRESS, emu_fmt("cp.async at %s:%d: destination %p is outside the block's shared memory", site, line, dst));
    EmuFiber::Copy c{(char*)dst, {}, cpSize, -1};
    if (srcSize > 0) std::memcpy(c.bytes, src, srcSize);   // a bad source faults here, at the issuing line
    w->cur->cps.push_back(c);
}
// A vector load (store: false) or store (true) of `bytes` bytes between registers `regs` and `p`, as
// ld/st.v2/.v4: `p` must be aligned to the vector's size, which a GPU requires (misaligned: the
// launch fails, as CUDA_ERROR_MISALIGNED_ADDRESS would).
inline void emu_vec_access(const char* file, int line, const void* regs, const void* p, int bytes, bool store) {
    if ((uintptr_t)p % bytes)
        emu_kernel_fail(EMU_ERR_MISALIGNED, emu_fmt("%d-byte vector %s at %s:%d: address %p is not %d-byte aligned", bytes,
                                                    store ? "store" : "load", emu_base(file), line, p, bytes));
    if (store) std::memcpy(const_cast<void*>(p), regs, bytes);
    else std::memcpy(const_cast<void*>(regs), p, bytes);
}
inline void emu_cp_async_commit() {
    EmuFiber* f = emu_w->cur;
    for (auto& c : f->cps)
        if (c.group < 0) c.group = f->cpCommitted;
    f->cpCommitted++;
}
inline void emu_cp_async_wait(int pending) {   // cp.async.wait_group pending
    EmuFiber* f = emu_w->cur;
    const int upTo = f->cpCommitted - pending;
    size_t keep = 0;
    for (size_t i = 0; i < f->cps.size(); i++) {
        auto& c = f->cps[i];
        if (c.group >= 0 && c.group < upTo) std::memcpy(c.dst, c.bytes, c.n);
        else f->cps[keep++] = c;
    }
    f->cps.resize(keep);
}

// Completes a tensor-core collective of the full warp F[lo .. lo+31]; "" or what went wrong.
inline std::string emu_tc_resolve(EmuWorker* w, EmuFiber* F, int kind, int param, const char* site, int line) {
    if (kind == EMU_LDMATRIX) {
        const int num = param & 7;
        const bool trans = param & 16;
        if (num != 1 && num != 2 && num != 4) return emu_fmt("ldmatrix at %s:%d with .x%d", site, line, num);
        uint16_t M[4][8][8];
        for (int m = 0; m < num; m++)
            for (int j = 0; j < 8; j++) {
                const void* row = ((const EmuLdmRegs*)F[8 * m + j].cval)->addr;
                if ((uintptr_t)row % 16)
                    return emu_fmt("ldmatrix at %s:%d: lane %d's row address %p is not 16-byte aligned", site, line, 8 * m + j, row);
                if (!emu_in_shared(w, row, 16))
                    return emu_fmt("ldmatrix at %s:%d: lane %d's row address %p is outside the block's shared memory", site, line, 8 * m + j, row);
                std::memcpy(M[m][j], row, 16);
            }
        for (int l = 0; l < 32; l++) {
            const int g = l >> 2, t = l & 3;
            uint32_t* r = ((const EmuLdmRegs*)F[l].cval)->r;
            for (int m = 0; m < num; m++)
                r[m] = trans ? (uint32_t)M[m][2 * t][g] | (uint32_t)M[m][2 * t + 1][g] << 16
                             : (uint32_t)M[m][g][2 * t] | (uint32_t)M[m][g][2 * t + 1] << 16;
        }
        return "";
    }
    const bool bf16 = kind == EMU_MMA_BF16_M16N8K16;
    const int K = bf16 ? 16 : 8;
    double A[16][16], B[16][8], C[16][8];
    for (int l = 0; l < 32; l++) {
        const EmuMmaRegs* r = (const EmuMmaRegs*)F[l].cval;
        const int g = l >> 2, t = l & 3;
        if (bf16) {
            for (int i = 0; i < 8; i++) {
                const int row = (i < 2 || (i >= 4 && i < 6)) ? g : g + 8, col = t * 2 + (i & 1) + (i >= 4 ? 8 : 0);
                A[row][col] = emu_bf162f((uint16_t)(r->a[i / 2] >> (16 * (i & 1))));
            }
            for (int i = 0; i < 4; i++) {
                const int row = t * 2 + (i & 1) + (i >= 2 ? 8 : 0);
                B[row][g] = emu_bf162f((uint16_t)(r->b[i / 2] >> (16 * (i & 1))));
            }
        } else {
            for (int i = 0; i < 4; i++) {
                const int row = (i == 0 || i == 2) ? g : g + 8, col = i < 2 ? t : t + 4;
                A[row][col] = emu_tf322f(r->a[i]);
            }
            B[t][g] = emu_tf322f(r->b[0]);
            B[t + 4][g] = emu_tf322f(r->b[1]);
        }
        for (int i = 0; i < 4; i++) C[i < 2 ? g : g + 8][t * 2 + (i & 1)] = r->c[i];
    }
    for (int l = 0; l < 32; l++) {
        const EmuMmaRegs* r = (const EmuMmaRegs*)F[l].cval;
        const int g = l >> 2, t = l & 3;
        for (int i = 0; i < 4; i++) {
            const int row = i < 2 ? g : g + 8, col = t * 2 + (i & 1);
            double s = C[row][col];
            for (int k = 0; k < K; k++) s += A[row][k] * B[k][col];
            r->d[i] = (float)s;
        }
    }
    return "";
}

// Static shared memory: prepare.sh turns `__shared__ T name[A][B];` into EMU_SHARED(T, name, [A][B]);
// the function-local tag's address is the key of the declaration in the block's arena.
inline void* emu_shared_static(const void* tag, size_t bytes) {
    EmuWorker* w = emu_w;
    for (auto& t : w->stags)
        if (t.first == tag) return t.second;
    size_t at = emu_round(w->sused, 16);
    size_t total = at + bytes;
    if (total > EMU_SHARED_DEFAULT || total + w->L->dyn > std::max(EMU_SHARED_DEFAULT, w->L->limit)) {
        w->errCode = EMU_ERR_OUT_OF_RESOURCES;
        w->err = emu_fmt("static shared memory %zu bytes + dynamic %zu bytes exceeds the limit (static <= %zu, total <= %zu)",
                         total, w->L->dyn, EMU_SHARED_DEFAULT, std::max(EMU_SHARED_DEFAULT, w->L->limit));
        w->cur->state = EMU_EXITED;   // the scheduler sees errCode and abandons the block
        emu_yield(w, w->cur);
        __builtin_trap();
    }
    char* p = w->sarena + at;
    std::memset(p, 0xFF, bytes);
    w->sused = total;
    w->stags.emplace_back(tag, p);
    return p;
}
#define EMU_SHARED(T, name, dims)                                                                  \
    static const char emu_shared_tag_##name = 0;                                                   \
    using emu_shared_t_##name = T dims;                                                            \
    emu_shared_t_##name& name =                                                                    \
        *static_cast<emu_shared_t_##name*>(emu_shared_static(&emu_shared_tag_##name, sizeof(emu_shared_t_##name)))

// Dynamic shared memory (`extern __shared__ T name[];`): the block's buffer of exactly the launch's
// byte count, poisoned, with an inaccessible page right after its last byte.
template <class T> inline T* emu_dyn_shared() { return (T*)emu_w->dptr; }

inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
// round-to-nearest add and multiply that the compiler may not contract into an FMA (ISO C++ modes
// build with -ffp-contract=off; the volatile keeps the product a rounded float regardless)
inline float __fmul_rn(float a, float b) { volatile float p = a * b; return p; }
inline float __fadd_rn(float a, float b) { volatile float s = a + b; return s; }
inline float __uint_as_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline float atomicAdd(float* p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }
inline double atomicAdd(double* p, double v) { return std::atomic_ref<double>(*p).fetch_add(v); }
inline int atomicAdd(int* p, int v) { return std::atomic_ref<int>(*p).fetch_add(v); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return std::atomic_ref<unsigned>(*p).fetch_add(v); }

// ------------------------------------------------------------------ scheduler

inline std::string emu_where(EmuWorker* w, int tid) {
    const EmuLaunch* L = w->L;
    unsigned bx = L->block.x, by = L->block.y;
    return emu_fmt("%s block (%u,%u,%u) thread (%u,%u,%u)", L->name, w->bidx.x, w->bidx.y, w->bidx.z,
                   (unsigned)tid % bx, (unsigned)tid / bx % by, (unsigned)tid / (bx * by));
}

inline std::string emu_state_words(const EmuFiber& f) {
    switch (f.state) {
        case EMU_EXITED: return "has exited";
        case EMU_AT_BARRIER: return emu_fmt("waits at __syncthreads %s:%d", emu_base(f.file), f.line);
        case EMU_AT_COLLECTIVE: return emu_fmt("waits at a warp collective (mask 0x%08x) %s:%d", f.cmask, emu_base(f.file), f.line);
        default: return "is running";
    }
}

inline void emu_fiber_main(void* arg) {
    EmuFiber* f = (EmuFiber*)arg;
    EmuWorker* w = emu_w;
    w->L->invoke(w->L->ctx);
    f->state = EMU_EXITED;
    emu_yield(w, f);
    __builtin_trap();
}

inline bool emu_block_error(EmuWorker* w, int code, const std::string& msg) {
    w->errCode = code;
    w->err = msg;
    return false;
}

// Completes the collectives of warp `wp` once none of its lanes can run; false on misuse.
inline bool emu_resolve_warp(EmuWorker* w, int lo, int hi, bool* progressed) {
    *progressed = false;
    EmuFiber* F = w->fibers;
    for (int t = lo; t < hi; t++) {
        EmuFiber& f = F[t];
        if (f.state != EMU_AT_COLLECTIVE) continue;
        const unsigned mask = f.cmask;
        const int lane = t - lo;
        const char* site = emu_base(f.file);
        if (!(mask >> lane & 1u))
            return emu_block_error(w, EMU_ERR_LAUNCH_FAILED, emu_where(w, t) + emu_fmt(": warp collective at %s:%d with mask 0x%08x that does not include the calling lane %d", site, f.line, mask, lane));
        if (f.cwidth < 1 || f.cwidth > 32 || (f.cwidth & (f.cwidth - 1)))
            return emu_block_error(w, EMU_ERR_LAUNCH_FAILED, emu_where(w, t) + emu_fmt(": shuffle width %d at %s:%d is not a power of two <= 32", f.cwidth, site, f.line));
        for (int j = 0; j < 32; j++) {
            if (!(mask >> j & 1u)) continue;
            if (lo + j >= hi)
                return emu_block_error(w, EMU_ERR_LAUNCH_FAILED, emu_where(w, t) + emu_fmt(": warp collective at %s:%d with mask 0x%08x names lane %d, which is not a thread of the block", site, f.line, mask, j));
            const EmuFiber& g = F[lo + j];
            if (g.state != EMU_AT_COLLECTIVE)
                return emu_block_error(w, EMU_ERR_LAUNCH_FAILED, emu_where(w, t) + emu_fmt(": warp collective at %s:%d with mask 0x%08x never completes: lane %d ", site, f.line, mask, j) + emu_state_words(g));
            if (g.cmask != mask || g.ckind != f.ckind || g.cwidth != f.cwidth || g.line != f.line || g.file != f.file)
                return emu_block_error(w, EMU_ERR_LAUNCH_FAILED, emu_where(w, t) + emu_fmt(": warp collective at %s:%d with mask 0x%08x meets lane %d at a different collective (mask 0x%08x) %s:%d", site, f.line, mask, j, g.cmask, emu_base(g.file), g.line));
        }
        if (f.ckind >= EMU_MMA_BF16_M16N8K16) {
            if (mask != 0xffffffffu)
                return emu_block_error(w, EMU_ERR_LAUNCH_FAILED, emu_where(w, t) + emu_fmt(": tensor-core instruction at %s:%d needs all 32 lanes (.aligned)", site, f.line));
            std::string e = emu_tc_resolve(w, F + lo, f.ckind, f.cparam, site, f.line);
            if (!e.empty()) return emu_block_error(w, EMU_ERR_LAUNCH_FAILED, emu_where(w, t) + ": " + e);
            for (int j = 0; j < 32; j++) F[lo + j].state = EMU_READY;
            *progressed = true;
            continue;
        }
        // Everyone named has arrived: compute every lane's result before any lane continues.
        for (int j = 0; j < 32; j++) {
            if (!(mask >> j & 1u)) continue;
            EmuFiber& g = F[lo + j];
            const int width = g.cwidth, segLo = j & ~(width - 1), segHi = segLo + width;
            int src = j;
            switch (g.ckind) {
                case EMU_SHFL_IDX: src = segLo + (g.cparam & (width - 1)); break;
                case EMU_SHFL_XOR: src = j ^ g.cparam; if (src < 0 || src >= segHi) src = j; break;
                case EMU_SHFL_DOWN: src = j + g.cparam; if (src >= segHi) src = j; break;
                case EMU_SHFL_UP: src = j - g.cparam; if (src < segLo) src = j; break;
                default: break;
            }
            if (src < 0 || src > 31 || !(mask >> src & 1u))
                return emu_block_error(w, EMU_ERR_LAUNCH_FAILED, emu_where(w, lo + j) + emu_fmt(": shuffle at %s:%d reads lane %d, outside the mask 0x%08x", emu_base(g.file), g.line, src, mask));
            g.cres = F[lo + src].cval;
        }
        for (int j = 0; j < 32; j++)
            if (mask >> j & 1u) F[lo + j].state = EMU_READY;
        *progressed = true;
    }
    return true;
}

// Runs the lanes of one warp until each waits at __syncthreads or has exited.
inline bool emu_run_warp(EmuWorker* w, int wp, bool lanesReverse) {
    const int nt = w->L->nt, lo = wp * 32, hi = std::min(nt, lo + 32);
    EmuFiber* F = w->fibers;
    for (;;) {
        for (int k = 0; k < hi - lo; k++) {
            EmuFiber* f = &F[lanesReverse ? hi - 1 - k : lo + k];
            if (f->state != EMU_READY) continue;
            threadIdx = f->tidx;
            w->cur = f;
            w->inFiber = 1;
            emu_switch(&w->sched, &f->ctx);
            w->inFiber = 0;
            if (w->errCode) return false;
        }
        bool progressed;
        if (!emu_resolve_warp(w, lo, hi, &progressed)) return false;
        if (!progressed) return true;
    }
}

inline void emu_prepare_fibers(EmuWorker* w, int nt) {
    const size_t pg = emu_page();
    if (nt > w->nstacks) {
        if (w->stacks) munmap(w->stacks, (size_t)w->nstacks * EMU_STACK);
        delete[] w->fibers;
        char* s = (char*)mmap(nullptr, (size_t)nt * EMU_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (s == MAP_FAILED) { std::fprintf(stderr, "emu: cannot map fiber stacks\n"); std::abort(); }
        for (int i = 0; i < nt; i++) mprotect(s + (size_t)i * EMU_STACK, pg, PROT_NONE);
        w->stacks = s;
        w->nstacks = nt;
        w->fibers = new EmuFiber[nt];
    }
}

inline void emu_prepare_dynamic(EmuWorker* w, size_t bytes) {
    const size_t pg = emu_page();
    size_t need = emu_round(bytes ? bytes : 1, pg);
    if (need > w->dcap) {
        if (w->dmap) munmap(w->dmap, w->dcap + 2 * pg);
        char* m = (char*)mmap(nullptr, need + 2 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED || mprotect(m + pg, need, PROT_READ | PROT_WRITE) != 0) {
            std::fprintf(stderr, "emu: cannot map dynamic shared memory\n");
            std::abort();
        }
        w->dmap = m;
        w->dcap = need;
    }
    w->dptr = w->dmap + pg + w->dcap - bytes;
    w->dbytes = bytes;
}

inline std::string emu_fault_words(EmuWorker* w) {
    const uintptr_t a = w->faultAddr;
    const size_t pg = emu_page();
    const char* rw = w->faultWrite == 1 ? "write" : w->faultWrite == 0 ? "read" : "access";
    if (w->faultSig == SIGFPE) return "arithmetic exception (integer division by zero?)";
    if (w->dmap && a >= (uintptr_t)w->dmap && a < (uintptr_t)w->dmap + w->dcap + 2 * pg)
        return emu_fmt("illegal %s at %p: offset %lld of the %zu-byte dynamic shared memory", rw, (void*)a,
                       (long long)(a - (uintptr_t)w->dptr), w->dbytes);
    if (w->sarena && a >= (uintptr_t)w->sarena - pg && a < (uintptr_t)w->sarena + EMU_SHARED_OPTIN_MAX + pg)
        return emu_fmt("illegal %s at %p: outside the static shared memory", rw, (void*)a);
    if (w->stacks && a >= (uintptr_t)w->stacks && a < (uintptr_t)w->stacks + (size_t)w->nstacks * EMU_STACK)
        return emu_fmt("stack overflow (%s at %p; fiber stacks are %zu KiB)", rw, (void*)a, EMU_STACK / 1024);
    return emu_fmt("illegal %s at %p: ", rw, (void*)a) + emu_describe_address(a);
}

inline bool emu_run_block(EmuWorker* w, EmuLaunch* L, unsigned long long linear) {
    const int nt = L->nt;
    w->L = L;
    w->bidx = EmuDim{(unsigned)(linear % L->grid.x), (unsigned)(linear / L->grid.x % L->grid.y),
                     (unsigned)(linear / ((unsigned long long)L->grid.x * L->grid.y))};
    blockIdx = w->bidx;
    w->errCode = 0;
    w->err.clear();
    w->stags.clear();
    w->sused = 0;
    std::memset(w->dptr, 0xFF, w->dbytes);
    uint64_t r = emu_mix(L->seed ^ emu_mix(linear));
    // Consecutive blocks cycle through the warp orders (0 forward, 1 reverse, 2 random each
    // interval) from a per-launch start, so any launch of three or more blocks sees all of them.
    const int order = (int)((L->seed + linear) % 3);
    const bool lanesReverse = ((L->seed >> 8) + linear / 3) & 1;
    for (int t = 0; t < nt; t++) {
        EmuFiber& f = w->fibers[t];
        f.state = EMU_READY;
        f.tid = t;
        f.tidx = EmuDim{(unsigned)t % L->block.x, (unsigned)t / L->block.x % L->block.y, (unsigned)t / (L->block.x * L->block.y)};
        f.file = "";
        f.line = 0;
        f.cps.clear();
        f.cpCommitted = 0;
        emu_ctx_init(&f.ctx, w->stacks + (size_t)t * EMU_STACK, EMU_STACK, emu_fiber_main, &f);
    }
    const int nw = (nt + 31) / 32;
    int warpOrder[32];
    for (int i = 0; i < nw; i++) warpOrder[i] = order == 1 ? nw - 1 - i : i;
    if (sigsetjmp(w->jb, 1)) {
        w->inFiber = 0;
        int t = w->cur ? w->cur->tid : 0;
        w->errCode = w->faultSig == SIGFPE ? EMU_ERR_LAUNCH_FAILED : EMU_ERR_ILLEGAL_ADDRESS;
        w->err = emu_where(w, t) + ": " + emu_fault_words(w);
        return false;
    }
    for (uint64_t interval = 0;; interval++) {
        if (order == 2) {
            uint64_t s = emu_mix(r + interval);
            for (int i = nw - 1; i > 0; i--) {
                s = emu_mix(s);
                std::swap(warpOrder[i], warpOrder[s % (uint64_t)(i + 1)]);
            }
        }
        for (int i = 0; i < nw; i++)
            if (!emu_run_warp(w, warpOrder[i], lanesReverse)) {
                if (w->err.empty()) w->err = emu_where(w, w->cur ? w->cur->tid : 0) + ": failed";
                else if (w->err.rfind(L->name, 0) != 0) w->err = emu_where(w, w->cur->tid) + ": " + w->err;
                return false;
            }
        int firstExited = -1, firstBarrier = -1;
        for (int t = 0; t < nt; t++) {
            if (w->fibers[t].state == EMU_EXITED) { if (firstExited < 0) firstExited = t; }
            else if (firstBarrier < 0) firstBarrier = t;
        }
        if (firstBarrier < 0) return true;
        const EmuFiber& b = w->fibers[firstBarrier];
        if (firstExited >= 0)
            return emu_block_error(w, EMU_ERR_LAUNCH_FAILED, emu_where(w, firstBarrier) + emu_fmt(": __syncthreads at %s:%d is reached by only part of the block: thread %d has exited", emu_base(b.file), b.line, firstExited));
        for (int t = 0; t < nt; t++) {
            const EmuFiber& f = w->fibers[t];
            if (f.line != b.line || std::strcmp(f.file, b.file) != 0)
                return emu_block_error(w, EMU_ERR_LAUNCH_FAILED, emu_where(w, t) + emu_fmt(": waits at __syncthreads %s:%d while thread %d waits at __syncthreads %s:%d", emu_base(f.file), f.line, firstBarrier, emu_base(b.file), b.line));
        }
        for (int t = 0; t < nt; t++) w->fibers[t].state = EMU_READY;
    }
}

inline void emu_worker_main(EmuWorker* w, EmuPool* P) {
    emu_w = w;
    // Signal handlers run on an alternate stack, so a fiber stack overflow is still reported.
    stack_t ss;
    ss.ss_size = 64 * 1024;
    ss.ss_sp = mmap(nullptr, ss.ss_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ss.ss_flags = 0;
    if (ss.ss_sp != MAP_FAILED) sigaltstack(&ss, nullptr);
    const size_t pg = emu_page();
    char* sa = (char*)mmap(nullptr, EMU_SHARED_OPTIN_MAX + 2 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (sa == MAP_FAILED || mprotect(sa + pg, EMU_SHARED_OPTIN_MAX, PROT_READ | PROT_WRITE) != 0) {
        std::fprintf(stderr, "emu: cannot map shared memory\n");
        std::abort();
    }
    w->sarena = sa + pg;
    uint64_t seen = 0;
    for (;;) {
        EmuLaunch* L;
        {
            std::unique_lock<std::mutex> lk(P->m);
            P->cv.wait(lk, [&] { return P->gen != seen; });
            seen = P->gen;
            L = P->L;
        }
        emu_prepare_fibers(w, L->nt);
        emu_prepare_dynamic(w, L->dyn);
        for (;;) {
            if (L->failed.load(std::memory_order_relaxed)) break;
            unsigned long long i = L->next.fetch_add(1);
            if (i >= L->nblocks) break;
            unsigned long long linear = (L->permA * i + L->permC) % L->nblocks;
            w->busy.store(true);
            bool ok = emu_run_block(w, L, linear);
            w->busy.store(false);
            if (!ok) L->fail(w->errCode ? w->errCode : EMU_ERR_LAUNCH_FAILED, w->err);
        }
        std::lock_guard<std::mutex> lk(P->m);
        if (--P->running == 0) P->done.notify_all();
    }
}

inline EmuPool* emu_pool() {
    if (emu_pool_ptr) return emu_pool_ptr;
    emu_install_handlers();
    EmuPool* P = new EmuPool();   // never destroyed (worker threads live until the process ends)
    if (const char* t = std::getenv("DSEMU_LAUNCH_TIMEOUT")) P->timeout = std::atof(t) > 0 ? std::atof(t) : P->timeout;
    if (const char* s = std::getenv("DSEMU_SEED")) P->seed = std::strtoull(s, nullptr, 0);
    int n = (int)std::thread::hardware_concurrency();
    n = std::max(2, std::min(4, n));
    if (const char* s = std::getenv("DSEMU_WORKERS")) n = std::max(1, std::min(8, std::atoi(s)));
    for (int i = 0; i < n; i++) {
        EmuWorker* w = new EmuWorker();
        P->workers.push_back(w);
        std::thread th(emu_worker_main, w, P);
        w->pth = th.native_handle();
        emu_worker_tab[i].store(w, std::memory_order_release);
        th.detach();
    }
    emu_nworkers.store(n, std::memory_order_release);
    emu_pool_ptr = P;
    return P;
}

[[noreturn]] inline void emu_watchdog(EmuPool* P, EmuLaunch* L) {
    std::fprintf(stderr, "emu watchdog: kernel %s did not finish within %.0f s (DSEMU_LAUNCH_TIMEOUT); grid (%u,%u,%u) block (%u,%u,%u)\n",
                 L->name, P->timeout, L->grid.x, L->grid.y, L->grid.z, L->block.x, L->block.y, L->block.z);
    for (EmuWorker* w : P->workers) {
        if (!w->busy.load()) continue;
        std::fprintf(stderr, "  block (%u,%u,%u):\n", w->bidx.x, w->bidx.y, w->bidx.z);
        for (int wp = 0; wp * 32 < L->nt; wp++) {
            std::string s;
            for (int t = wp * 32; t < std::min(L->nt, wp * 32 + 32); t++) {
                const EmuFiber& f = w->fibers[t];
                std::string one = (w->cur == &f && w->inFiber) ? "is running (spinning?)" : emu_state_words(f);
                if (s.find(one) == std::string::npos) s += (s.empty() ? "" : "; ") + emu_fmt("lane %d ", t - wp * 32) + one;
            }
            std::fprintf(stderr, "    warp %d: %s\n", wp, s.c_str());
        }
    }
    std::fflush(stderr);
    _exit(124);
}

inline std::string& emu_last_error_str() {
    static std::string* s = new std::string();
    return *s;
}
// One line naming the kernel, block, thread and the fault of the last failed emu_launch_checked.
inline const char* emu_last_error() { return emu_last_error_str().c_str(); }

inline int emu_fail_launch(int code, std::string msg) {
    emu_last_error_str() = std::move(msg);
    return code;
}

// Checks every allocation's pre-bytes and slack; restores them so a fault is reported once.
inline std::string emu_check_canaries() {
    EmuMem& mem = emu_mem();
    std::lock_guard<std::mutex> lk(mem.mu);
    const size_t pg = emu_page();
    for (auto& [k, A] : mem.live) {
        char* first = A.map + pg;
        size_t pre = (size_t)(A.data - first), slack = A.rounded - A.bytes, bad;
        if (!emu_canary_ok(first, pre, 0, &bad)) {
            emu_fill_canary(first, pre, 0);
            return emu_fmt("wrote %zu bytes before the start of device allocation %p (%zu bytes)", pre - bad, (void*)A.data, A.bytes);
        }
        if (!emu_canary_ok(A.data + A.bytes, slack, (uintptr_t)(A.data + A.bytes - first), &bad)) {
            emu_fill_canary(A.data + A.bytes, slack, (uintptr_t)(A.data + A.bytes - first));
            return emu_fmt("wrote at offset %zu of device allocation %p (%zu bytes), past its end", A.bytes + bad, (void*)A.data, A.bytes);
        }
    }
    return "";
}

template <class T> inline bool emu_arg_ok(const T& a) {
    if constexpr (std::is_pointer_v<T>) return a == nullptr || emu_dev_pointer_ok((const void*)a);
    else return true;
}

template <class K, class Tup> struct EmuCall { K kernel; Tup args; };

// Runs kernel<<<grid, block, dynamicSharedBytes>>>(args...) to completion; sharedLimitBytes is the
// kernel's opt-in dynamic shared-memory limit (0 = the 48 KiB default; at most 227 KiB). Returns 0,
// or a CUDA driver error code (EMU_ERR_*) with emu_last_error() naming the kernel, block, thread
// and fault. Every pointer argument must be null or point into memory from emu_dev_alloc.
template <class... P, class... A>
int emu_launch_checked(const char* name, void (*kernel)(P...), EmuDim grid, EmuDim block,
                       size_t dynamicSharedBytes, size_t sharedLimitBytes, A... args) {
    static_assert(sizeof...(P) == sizeof...(A), "wrong number of kernel arguments");
    emu_last_error_str().clear();
    auto dims = [](EmuDim d) { return emu_fmt("(%u,%u,%u)", d.x, d.y, d.z); };
    if (!grid.x || !grid.y || !grid.z || !block.x || !block.y || !block.z)
        return emu_fail_launch(EMU_ERR_INVALID_VALUE, emu_fmt("%s: zero launch dimension: grid ", name) + dims(grid) + " block " + dims(block));
    if (block.x > 1024 || block.y > 1024 || block.z > 64)
        return emu_fail_launch(EMU_ERR_INVALID_VALUE, emu_fmt("%s: block ", name) + dims(block) + " exceeds the per-dimension maximum (1024,1024,64)");
    if (grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
        return emu_fail_launch(EMU_ERR_INVALID_VALUE, emu_fmt("%s: grid ", name) + dims(grid) + " exceeds the maximum (2147483647,65535,65535)");
    const unsigned long long nt = (unsigned long long)block.x * block.y * block.z;
    if (nt > 1024)
        return emu_fail_launch(EMU_ERR_OUT_OF_RESOURCES, emu_fmt("%s: block ", name) + dims(block) + emu_fmt(" has %llu threads, more than 1024", nt));
    if (sharedLimitBytes > EMU_SHARED_OPTIN_MAX)
        return emu_fail_launch(EMU_ERR_INVALID_VALUE, emu_fmt("%s: shared-memory limit %zu bytes exceeds the device maximum %zu", name, sharedLimitBytes, EMU_SHARED_OPTIN_MAX));
    const size_t limit = sharedLimitBytes ? sharedLimitBytes : EMU_SHARED_DEFAULT;
    if (dynamicSharedBytes > limit)
        return emu_fail_launch(EMU_ERR_OUT_OF_RESOURCES, emu_fmt("%s: %zu bytes of dynamic shared memory exceed the kernel's limit of %zu bytes%s", name,
                                                                 dynamicSharedBytes, limit, sharedLimitBytes ? "" : " (raise it with CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)"));
    {
        int i = 0, bad = -1;
        ((bad = (bad < 0 && !emu_arg_ok(args)) ? i : bad, i++), ...);
        if (bad >= 0) {
            const void* ptrs[] = {(const void*)nullptr, ([](const auto& a) -> const void* {
                if constexpr (std::is_pointer_v<std::decay_t<decltype(a)>>) return (const void*)a; else return nullptr; })(args)...};
            return emu_fail_launch(EMU_ERR_ILLEGAL_ADDRESS, emu_fmt("%s: argument %d (%p) is not a pointer into device memory", name, bad, ptrs[bad + 1]));
        }
    }
    EmuPool* Pool = emu_pool();
    using Call = EmuCall<void (*)(P...), std::tuple<A...>>;
    Call call{kernel, std::tuple<A...>(args...)};
    EmuLaunch L;
    L.name = name;
    L.invoke = [](void* c) { Call* k = (Call*)c; std::apply(k->kernel, k->args); };
    L.ctx = &call;
    L.grid = grid;
    L.block = block;
    L.nt = (int)nt;
    L.dyn = dynamicSharedBytes;
    L.limit = sharedLimitBytes;
    L.nblocks = (unsigned long long)grid.x * grid.y * grid.z;
    L.seed = emu_mix(Pool->seed + 0x100000001b3ull * ++Pool->launches);
    // A seeded affine permutation of the block indices: i -> (a*i + c) mod n with gcd(a, n) = 1.
    {
        uint64_t s = emu_mix(L.seed + 1);
        unsigned long long n = L.nblocks, a = 1;
        if (n > 2) {
            for (int tries = 0; tries < 64; tries++) {
                s = emu_mix(s);
                unsigned long long c = 1 + s % (n - 1), x = c, y = n;
                while (y) { unsigned long long t = x % y; x = y; y = t; }
                if (x == 1) { a = c; break; }
            }
        }
        L.permA = a;
        L.permC = n ? emu_mix(s + 7) % n : 0;
    }
    blockDim = block;
    gridDim = grid;
    {
        std::unique_lock<std::mutex> lk(Pool->m);
        Pool->L = &L;
        Pool->running = (int)Pool->workers.size();
        Pool->gen++;
        Pool->cv.notify_all();
        auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(Pool->timeout);
        if (!Pool->done.wait_until(lk, deadline, [&] { return Pool->running == 0; })) emu_watchdog(Pool, &L);
        Pool->L = nullptr;
    }
    std::string canary = emu_check_canaries();
    if (L.failed.load()) return emu_fail_launch(L.code, L.error);
    if (!canary.empty()) return emu_fail_launch(EMU_ERR_LAUNCH_FAILED, std::string(name) + ": " + canary);
    return EMU_OK;
}

// check_kernels' launcher: like emu_launch_checked with the default shared-memory limit, but a
// failure prints emu_last_error() and ends the program (exit status 1).
template <class... P, class... A>
void emu_launch(void (*kernel)(P...), EmuDim grid, EmuDim block, size_t sharedBytes, A... args) {
    int rc = emu_launch_checked("kernel", kernel, grid, block, sharedBytes, 0, args...);
    if (rc != 0) {
        std::fprintf(stderr, "emu_launch failed (error %d): %s\n", rc, emu_last_error());
        std::exit(1);
    }
}
