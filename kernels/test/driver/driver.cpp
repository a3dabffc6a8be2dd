// driver.cpp — an emulated CUDA driver: a libcuda.so.1 for machines without a GPU, so that JCuda, the
// CUDA backend (dinoseg.backend.cuda) and its tests run end to end on the CPU and fail loudly when wrong.
//
// What it is: the driver-API entry points that JCuda's native library (libJCudaDriver) imports. Device
// memory is host memory from emu_dev_alloc (guard pages, canaries); kernels are the same kernels/*.cu,
// compiled with g++ against kernels/test/emu.h and registered by their extern "C" names
// (kernel_names.inc, generated from the sources by prepare.sh). cuLaunchKernel unpacks kernelParams by
// each kernel's C++ signature (the compiler supplies it: no hand-kept table), copies them at the call
// like the real driver, and queues the launch; one worker thread runs the queue in order, so work is
// asynchronous as on a GPU: a host-side race (a pinned buffer refilled before its copy ran, a result
// read without a synchronisation) shows up here too. CUDA_LAUNCH_BLOCKING=1 makes launches synchronous.
//
// Faithful where the backend depends on it: sticky errors after a faulting kernel (every later call
// returns the error, cuGetErrorString gives the emulator's one-line account naming the kernel), launch
// limits (block ≤ 1024 threads, grid y/z ≤ 65535, dynamic shared memory ≤ 48 KiB unless raised with
// cuFuncSetAttribute, ≤ 227 KiB), CUDA_ERROR_INVALID_CONTEXT when the calling thread has no current
// context, CUDA_ERROR_OUT_OF_MEMORY past the emulated device's size (DSEMU_MEM_MIB, default 4096),
// copies that must lie inside one allocation, pointer kernel arguments that must be null or point
// into a live allocation. Every other import of libJCudaDriver is a stub (stubs.cpp, generated at build
// time from `nm -D --undefined-only`) that returns CUDA_ERROR_NOT_SUPPORTED.
//
// Tests read its counters through cuDeviceGetAttribute with private attribute numbers (DSEMU_ATTR_*,
// mirrored in src/test/java/dinoseg/backend/cuda/EmulatedDriver.java); a real driver rejects them.
// Built by kernels/test/driver/build.sh (Maven, whenever g++ is present) into target/emu-driver/;
// only Surefire puts it on LD_LIBRARY_PATH. It is never part of the jar.
#include "emu.h"
#include "all_kernels_emu.cu"

#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>

#define DSEMU_API extern "C" __attribute__((visibility("default")))

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct DsCtx* CUcontext;
typedef struct DsModule* CUmodule;
typedef struct DsFunction* CUfunction;
typedef struct DsStream* CUstream;
typedef struct DsEvent* CUevent;

enum : int {
    CUDA_SUCCESS = 0, CUDA_ERROR_INVALID_VALUE = 1, CUDA_ERROR_OUT_OF_MEMORY = 2, CUDA_ERROR_NOT_INITIALIZED = 3,
    CUDA_ERROR_NO_DEVICE = 100, CUDA_ERROR_INVALID_DEVICE = 101, CUDA_ERROR_INVALID_IMAGE = 200,
    CUDA_ERROR_INVALID_CONTEXT = 201, CUDA_ERROR_INVALID_HANDLE = 400, CUDA_ERROR_NOT_FOUND = 500,
    CUDA_ERROR_NOT_READY = 600, CUDA_ERROR_ILLEGAL_ADDRESS = 700, CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
    CUDA_ERROR_LAUNCH_TIMEOUT = 702, CUDA_ERROR_LAUNCH_FAILED = 719, CUDA_ERROR_NOT_SUPPORTED = 801,
    CUDA_ERROR_ILLEGAL_STATE = 401, CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
    CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901, CUDA_ERROR_STREAM_CAPTURE_IMPLICIT = 906,
    CUDA_ERROR_CAPTURED_EVENT = 907, CUDA_ERROR_UNKNOWN = 999
};

// Device attributes (values of CUdevice_attribute used here).
enum : int {
    ATTR_MAX_THREADS_PER_BLOCK = 1, ATTR_MAX_BLOCK_DIM_X = 2, ATTR_MAX_BLOCK_DIM_Y = 3, ATTR_MAX_BLOCK_DIM_Z = 4,
    ATTR_MAX_GRID_DIM_X = 5, ATTR_MAX_GRID_DIM_Y = 6, ATTR_MAX_GRID_DIM_Z = 7, ATTR_MAX_SHARED_PER_BLOCK = 8,
    ATTR_TOTAL_CONSTANT_MEMORY = 9, ATTR_WARP_SIZE = 10, ATTR_MAX_REGISTERS_PER_BLOCK = 12, ATTR_CLOCK_RATE = 13,
    ATTR_MULTIPROCESSOR_COUNT = 16, ATTR_INTEGRATED = 18, ATTR_CAN_MAP_HOST_MEMORY = 19, ATTR_COMPUTE_MODE = 20,
    ATTR_CONCURRENT_KERNELS = 31, ATTR_ECC_ENABLED = 32, ATTR_MEMORY_CLOCK_RATE = 36, ATTR_GLOBAL_MEMORY_BUS_WIDTH = 37,
    ATTR_L2_CACHE_SIZE = 38, ATTR_MAX_THREADS_PER_MULTIPROCESSOR = 39, ATTR_UNIFIED_ADDRESSING = 41,
    ATTR_COMPUTE_CAPABILITY_MAJOR = 75, ATTR_COMPUTE_CAPABILITY_MINOR = 76, ATTR_MAX_SHARED_PER_MULTIPROCESSOR = 81,
    ATTR_MAX_REGISTERS_PER_MULTIPROCESSOR = 82, ATTR_MANAGED_MEMORY = 83, ATTR_MAX_SHARED_PER_BLOCK_OPTIN = 97
};

// Private attributes: the emulator's counters (a real driver answers CUDA_ERROR_INVALID_VALUE).
enum : int {
    DSEMU_ATTR_BASE = 0x44530000, DSEMU_ATTR_EMULATED = DSEMU_ATTR_BASE, DSEMU_ATTR_LAUNCHES, DSEMU_ATTR_MEM_ALLOCS,
    DSEMU_ATTR_MEM_FREES, DSEMU_ATTR_LIVE_KIB, DSEMU_ATTR_PEAK_KIB, DSEMU_ATTR_COPIES_HTOD, DSEMU_ATTR_COPIES_DTOH,
    DSEMU_ATTR_HOST_WAITS, DSEMU_ATTR_FAILED_LAUNCHES, DSEMU_ATTR_LIVE_ALLOCATIONS, DSEMU_ATTR_GRAPH_LAUNCHES,
    DSEMU_ATTR_CAPTURED_NODES, DSEMU_ATTR_END
};

static constexpr int kFuncMaxDynamicShared = 8;   // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
static constexpr size_t kDefaultShared = 48 * 1024, kOptinShared = 227 * 1024;

// ------------------------------------------------------------------ kernel registry

struct LaunchCfg { EmuDim grid, block; size_t dynShared, sharedLimit; };
using BoundLaunch = std::function<int(const LaunchCfg&)>;

struct KernelEntry {
    const char* name;
    size_t nparams;
    // Copies the parameter values out of kernelParams (as the real driver does at the call) and checks
    // pointer arguments; returns a runnable launch, or sets *err and a message.
    std::function<BoundLaunch(void** params, int* err, std::string* msg)> bind;
};

template <class T> static bool pointer_ok(const T& v) {
    if constexpr (std::is_pointer_v<T>) return v == nullptr || emu_dev_contains((const void*)v, 1);
    else return true;
}

template <class... P, size_t... I>
static KernelEntry make_entry_impl(const char* name, void (*k)(P...), std::index_sequence<I...>) {
    KernelEntry e;
    e.name = name;
    e.nparams = sizeof...(P);
    e.bind = [name, k](void** params, int* err, std::string* msg) -> BoundLaunch {
        auto args = std::make_shared<std::tuple<std::decay_t<P>...>>(*static_cast<std::decay_t<P>*>(params[I])...);
        int bad = -1;
        ((bad < 0 && !pointer_ok(std::get<I>(*args)) ? (void)(bad = (int)I) : (void)0), ...);
        if (bad >= 0) {
            *err = CUDA_ERROR_INVALID_VALUE;
            *msg = std::string("cuLaunchKernel(") + name + "): pointer argument " + std::to_string(bad)
                   + " points outside every live device allocation";
            return nullptr;
        }
        return [name, k, args](const LaunchCfg& c) {
            // checked again when the launch runs: a graph node replays long after its capture, and the
            // memory it was captured with may have been freed since
            int gone = -1;
            ((gone < 0 && !pointer_ok(std::get<I>(*args)) ? (void)(gone = (int)I) : (void)0), ...);
            if (gone >= 0)
                return emu_fail_launch(CUDA_ERROR_ILLEGAL_ADDRESS, std::string("pointer argument ") + std::to_string(gone)
                                       + " no longer points into a live device allocation (freed after the launch was queued or captured)");
            return std::apply([&](auto... a) {
                return emu_launch_checked(name, k, c.grid, c.block, c.dynShared, c.sharedLimit, a...);
            }, *args);
        };
    };
    return e;
}

template <class... P>
static KernelEntry make_entry(const char* name, void (*k)(P...)) {
    return make_entry_impl(name, k, std::index_sequence_for<P...>{});
}

static const std::vector<KernelEntry>& registry() {
#define EMU_KERNEL(n) make_entry(#n, &n),
    static const std::vector<KernelEntry> r = {
#include "kernel_names.inc"
    };
#undef EMU_KERNEL
    return r;
}

// ------------------------------------------------------------------ driver state

struct DsFunction { const KernelEntry* kernel; size_t maxDynShared = kDefaultShared; };
struct DsModule { std::string image; std::map<std::string, std::unique_ptr<DsFunction>> functions; };
// Stream capture (cuStreamBeginCapture): while a stream captures, the work queued on it becomes the
// nodes of a graph instead of running; the nodes are the same closures the queue would run, in
// capture order (one stream: a chain). A graph exec replays them on the queue (cuGraphLaunch).
struct DsGraph { std::vector<std::function<void()>> nodes; std::vector<std::string> kinds; };
struct DsGraphExec { std::vector<std::function<void()>> nodes; };
struct DsStream { unsigned flags; DsGraph* capture = nullptr; int mode = 0; int invalidated = 0; };
struct DsEvent { unsigned flags; unsigned long long seq = 0; bool recorded = false; bool captured = false;
                 std::chrono::steady_clock::time_point at; };
struct DsCtx { int refs = 0; };

namespace {
std::mutex g_api;                       // one API call at a time (the queue has its own lock)
bool g_initialised = false;
DsCtx g_primary;
thread_local CUcontext t_current = nullptr;
std::set<DsModule*> g_modules;
std::set<DsStream*> g_streams;
std::set<DsEvent*> g_events;
std::set<DsGraph*> g_graphs;
std::set<DsGraphExec*> g_execs;
std::unordered_map<void*, size_t> g_device;     // live device allocations
std::unordered_map<void*, size_t> g_pinned;     // page-locked host allocations
size_t g_live = 0, g_peak = 0, g_capacity = 0;
std::atomic<long long> g_counters[DSEMU_ATTR_END - DSEMU_ATTR_BASE] = {};

// The sticky error of the context (as after a faulting kernel on a GPU) and its one-line account.
std::atomic<int> g_sticky{CUDA_SUCCESS};
std::string g_sticky_msg;
std::mutex g_msg_lock;

// The work queue: one worker runs queued operations in order (all streams share it: stricter order than a GPU).
// Allocated once and never destroyed: the worker thread waits on the condition variable until the
// process ends, and destroying it from exit handlers would block (glibc waits for its waiters).
struct Work { std::function<void()> fn; unsigned long long seq; };
struct Queue {
    std::mutex lock;
    std::condition_variable cv;
    std::deque<Work> work;
    unsigned long long submitted = 0, completed = 0;
    std::thread* worker = nullptr;
};
Queue& g_q = *new Queue;
std::mutex& g_qlock = g_q.lock;
std::condition_variable& g_qcv = g_q.cv;
std::deque<Work>& g_queue = g_q.work;
unsigned long long& g_submitted = g_q.submitted;
unsigned long long& g_completed = g_q.completed;
std::thread*& g_worker = g_q.worker;

std::atomic<long long>& counter(int attr) { return g_counters[attr - DSEMU_ATTR_BASE]; }

void set_sticky(int code, const std::string& msg) {
    {
        std::lock_guard<std::mutex> l(g_msg_lock);
        if (g_sticky.load() != CUDA_SUCCESS) return;   // the first fault is the one to report
        g_sticky_msg = msg;
    }
    g_sticky.store(code);
    std::fprintf(stderr, "[dsemu] %s\n", msg.c_str());
    std::fflush(stderr);
}

void worker_loop() {
    for (;;) {
        Work w;
        {
            std::unique_lock<std::mutex> l(g_qlock);
            g_qcv.wait(l, [] { return !g_queue.empty(); });
            w = std::move(g_queue.front());
            g_queue.pop_front();
        }
        if (g_sticky.load() == CUDA_SUCCESS) w.fn();   // after a fault the context does no more work
        {
            std::lock_guard<std::mutex> l(g_qlock);
            g_completed = w.seq;
        }
        g_qcv.notify_all();
    }
}

unsigned long long submit(std::function<void()> fn) {
    std::lock_guard<std::mutex> l(g_qlock);
    if (!g_worker) g_worker = new std::thread(worker_loop);   // never joined: it lives as long as the process
    unsigned long long seq = ++g_submitted;
    g_queue.push_back(Work{std::move(fn), seq});
    g_qcv.notify_all();
    return seq;
}

void wait_for(unsigned long long seq) {
    std::unique_lock<std::mutex> l(g_qlock);
    g_qcv.wait(l, [seq] { return g_completed >= seq; });
}

void drain() {
    unsigned long long seq;
    {
        std::lock_guard<std::mutex> l(g_qlock);
        seq = g_submitted;
    }
    wait_for(seq);
}

bool blocking_launches() {
    const char* v = std::getenv("CUDA_LAUNCH_BLOCKING");
    return v && std::strcmp(v, "1") == 0;
}

// Common preamble of calls that need an initialised driver and a current context.
int ready(bool needContext = true) {
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    int s = g_sticky.load();
    if (s != CUDA_SUCCESS) return s;
    if (needContext && t_current == nullptr) return CUDA_ERROR_INVALID_CONTEXT;
    return CUDA_SUCCESS;
}

// A stream capture in CU_STREAM_CAPTURE_MODE_GLOBAL (or thread-local) mode is active: "potentially
// unsafe" calls (cuMemAlloc, cuMemFree, synchronous copies, waits on the device or context) are then
// prohibited for every thread; they fail with CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and invalidate
// the capture (cuStreamEndCapture then fails with CUDA_ERROR_STREAM_CAPTURE_INVALIDATED), as on a GPU.
thread_local int t_capture_mode = 0;   // this thread's mode (cuThreadExchangeStreamCaptureMode)

DsStream* strict_capture() {
    for (DsStream* s : g_streams)
        if (s->capture && s->mode != 2) return s;
    return nullptr;
}

int capture_violation(const char* api) {
    if (t_capture_mode == 2) return CUDA_SUCCESS;   // this thread is relaxed: not prohibited
    DsStream* s = strict_capture();
    if (!s) return CUDA_SUCCESS;
    if (!s->invalidated) s->invalidated = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    std::fprintf(stderr, "[dsemu] %s during stream capture: CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED (the capture is invalidated)\n", api);
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
}

// Queues fn on stream s, or appends it to s's graph while s captures; kind names the node.
// Returns 0 after capturing, else the queue's sequence number. Work on the legacy (null) stream while
// another stream captures is CUDA_ERROR_STREAM_CAPTURE_IMPLICIT and invalidates that capture.
int enqueue(CUstream s, const char* kind, std::function<void()> fn, unsigned long long* seq = nullptr) {
    if (s && s->capture) {
        if (s->invalidated) return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
        s->capture->nodes.push_back(std::move(fn));
        s->capture->kinds.push_back(kind);
        counter(DSEMU_ATTR_CAPTURED_NODES)++;
        if (seq) *seq = 0;
        return CUDA_SUCCESS;
    }
    if (!s) {
        if (DsStream* c = strict_capture()) {
            if (!c->invalidated) c->invalidated = CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
            return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
        }
    }
    unsigned long long q = submit(std::move(fn));
    if (seq) *seq = q;
    if (blocking_launches()) drain();
    return CUDA_SUCCESS;
}

// Is [p, p+bytes) inside one live device allocation?
bool device_range(CUdeviceptr p, size_t bytes) {
    return p != 0 && emu_dev_contains(reinterpret_cast<const void*>(p), bytes == 0 ? 1 : bytes);
}

bool pinned(const void* p) {
    auto a = reinterpret_cast<uintptr_t>(p);
    for (auto& [base, n] : g_pinned) {
        auto b = reinterpret_cast<uintptr_t>(base);
        if (a >= b && a < b + n) return true;
    }
    return false;
}

std::string hex(unsigned long long v) {
    char b[32];
    std::snprintf(b, sizeof b, "0x%llx", v);
    return b;
}

const char* error_name(int e) {
    switch (e) {
        case CUDA_SUCCESS: return "CUDA_SUCCESS";
        case CUDA_ERROR_INVALID_VALUE: return "CUDA_ERROR_INVALID_VALUE";
        case CUDA_ERROR_OUT_OF_MEMORY: return "CUDA_ERROR_OUT_OF_MEMORY";
        case CUDA_ERROR_NOT_INITIALIZED: return "CUDA_ERROR_NOT_INITIALIZED";
        case CUDA_ERROR_NO_DEVICE: return "CUDA_ERROR_NO_DEVICE";
        case CUDA_ERROR_INVALID_DEVICE: return "CUDA_ERROR_INVALID_DEVICE";
        case CUDA_ERROR_INVALID_IMAGE: return "CUDA_ERROR_INVALID_IMAGE";
        case CUDA_ERROR_INVALID_CONTEXT: return "CUDA_ERROR_INVALID_CONTEXT";
        case CUDA_ERROR_INVALID_HANDLE: return "CUDA_ERROR_INVALID_HANDLE";
        case CUDA_ERROR_NOT_FOUND: return "CUDA_ERROR_NOT_FOUND";
        case CUDA_ERROR_NOT_READY: return "CUDA_ERROR_NOT_READY";
        case CUDA_ERROR_ILLEGAL_ADDRESS: return "CUDA_ERROR_ILLEGAL_ADDRESS";
        case CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES: return "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES";
        case CUDA_ERROR_LAUNCH_TIMEOUT: return "CUDA_ERROR_LAUNCH_TIMEOUT";
        case CUDA_ERROR_LAUNCH_FAILED: return "CUDA_ERROR_LAUNCH_FAILED";
        case CUDA_ERROR_NOT_SUPPORTED: return "CUDA_ERROR_NOT_SUPPORTED";
        case CUDA_ERROR_ILLEGAL_STATE: return "CUDA_ERROR_ILLEGAL_STATE";
        case CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: return "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED";
        case CUDA_ERROR_STREAM_CAPTURE_INVALIDATED: return "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED";
        case CUDA_ERROR_STREAM_CAPTURE_IMPLICIT: return "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT";
        case CUDA_ERROR_CAPTURED_EVENT: return "CUDA_ERROR_CAPTURED_EVENT";
        default: return "CUDA_ERROR_UNKNOWN";
    }
}

const char* error_text(int e) {
    switch (e) {
        case CUDA_SUCCESS: return "no error";
        case CUDA_ERROR_INVALID_VALUE: return "invalid argument";
        case CUDA_ERROR_OUT_OF_MEMORY: return "out of memory";
        case CUDA_ERROR_NOT_INITIALIZED: return "initialization error";
        case CUDA_ERROR_NO_DEVICE: return "no CUDA-capable device is detected";
        case CUDA_ERROR_INVALID_DEVICE: return "invalid device ordinal";
        case CUDA_ERROR_INVALID_IMAGE: return "device kernel image is invalid";
        case CUDA_ERROR_INVALID_CONTEXT: return "invalid device context";
        case CUDA_ERROR_INVALID_HANDLE: return "invalid resource handle";
        case CUDA_ERROR_NOT_FOUND: return "named symbol not found";
        case CUDA_ERROR_NOT_READY: return "device not ready";
        case CUDA_ERROR_ILLEGAL_ADDRESS: return "an illegal memory access was encountered";
        case CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES: return "too many resources requested for launch";
        case CUDA_ERROR_LAUNCH_TIMEOUT: return "the launch timed out and was terminated";
        case CUDA_ERROR_LAUNCH_FAILED: return "unspecified launch failure";
        case CUDA_ERROR_NOT_SUPPORTED: return "operation not supported";
        case CUDA_ERROR_ILLEGAL_STATE: return "the operation is not permitted in the current state";
        case CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: return "operation not permitted when stream is capturing";
        case CUDA_ERROR_STREAM_CAPTURE_INVALIDATED: return "operation failed due to a previous error during capture";
        case CUDA_ERROR_STREAM_CAPTURE_IMPLICIT: return "operation would make the legacy stream depend on a capturing blocking stream";
        case CUDA_ERROR_CAPTURED_EVENT: return "operation not permitted on an event last recorded in a capturing stream";
        default: return "unknown error";
    }
}

size_t env_size(const char* name, size_t dflt) {
    const char* v = std::getenv(name);
    if (!v || !*v) return dflt;
    char* end = nullptr;
    unsigned long long x = std::strtoull(v, &end, 10);
    return (end && *end == 0 && x > 0) ? (size_t)x : dflt;
}
}  // namespace

// Every entry point below takes the API lock; the worker thread never does (it runs queued closures).
#define API_LOCK std::lock_guard<std::mutex> api_lock_(g_api)

// ------------------------------------------------------------------ init, devices, versions

DSEMU_API CUresult cuInit(unsigned flags) {
    API_LOCK;
    if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
    if (!g_initialised) {
        g_capacity = env_size("DSEMU_MEM_MIB", 4096) << 20;
        g_initialised = true;
    }
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuDriverGetVersion(int* v) {
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    *v = 13000;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuDeviceGetCount(int* n) {
    API_LOCK;
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (!n) return CUDA_ERROR_INVALID_VALUE;
    *n = 1;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuDeviceGet(CUdevice* d, int ordinal) {
    API_LOCK;
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (!d) return CUDA_ERROR_INVALID_VALUE;
    if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
    *d = 0;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuDeviceGetName(char* name, int len, CUdevice d) {
    API_LOCK;
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!name || len <= 0) return CUDA_ERROR_INVALID_VALUE;
    std::snprintf(name, (size_t)len, "%s", "dinoseg emulated GPU (CPU, kernels/test/emu.h)");
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice d) {
    API_LOCK;
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!bytes) return CUDA_ERROR_INVALID_VALUE;
    *bytes = g_capacity;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuDeviceComputeCapability(int* major, int* minor, CUdevice d) {
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!major || !minor) return CUDA_ERROR_INVALID_VALUE;
    *major = 9;
    *minor = 0;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuDeviceGetAttribute(int* v, int attr, CUdevice d) {
    API_LOCK;
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    if (attr >= DSEMU_ATTR_BASE && attr < DSEMU_ATTR_END) {
        long long c;
        if (attr == DSEMU_ATTR_EMULATED) c = 1;
        else if (attr == DSEMU_ATTR_LIVE_KIB) c = (long long)((g_live + 1023) / 1024);
        else if (attr == DSEMU_ATTR_PEAK_KIB) c = (long long)((g_peak + 1023) / 1024);
        else if (attr == DSEMU_ATTR_LIVE_ALLOCATIONS) c = (long long)g_device.size();
        else c = counter(attr);
        *v = c > INT32_MAX ? INT32_MAX : (int)c;
        return CUDA_SUCCESS;
    }
    switch (attr) {
        case ATTR_MAX_THREADS_PER_BLOCK: *v = 1024; break;
        case ATTR_MAX_BLOCK_DIM_X: case ATTR_MAX_BLOCK_DIM_Y: *v = 1024; break;
        case ATTR_MAX_BLOCK_DIM_Z: *v = 64; break;
        case ATTR_MAX_GRID_DIM_X: *v = 2147483647; break;
        case ATTR_MAX_GRID_DIM_Y: case ATTR_MAX_GRID_DIM_Z: *v = 65535; break;
        case ATTR_MAX_SHARED_PER_BLOCK: *v = (int)kDefaultShared; break;
        case ATTR_MAX_SHARED_PER_BLOCK_OPTIN: *v = (int)kOptinShared; break;
        case ATTR_MAX_SHARED_PER_MULTIPROCESSOR: *v = 228 * 1024; break;
        case ATTR_TOTAL_CONSTANT_MEMORY: *v = 65536; break;
        case ATTR_WARP_SIZE: *v = 32; break;
        case ATTR_MAX_REGISTERS_PER_BLOCK: case ATTR_MAX_REGISTERS_PER_MULTIPROCESSOR: *v = 65536; break;
        case ATTR_CLOCK_RATE: *v = 1980000; break;
        // Few SMs on purpose: grid-stride kernels then loop, as they do on a GPU for large tensors.
        case ATTR_MULTIPROCESSOR_COUNT: *v = (int)env_size("DSEMU_SM_COUNT", 4); break;
        case ATTR_INTEGRATED: *v = 0; break;
        case ATTR_CAN_MAP_HOST_MEMORY: case ATTR_CONCURRENT_KERNELS: case ATTR_UNIFIED_ADDRESSING: *v = 1; break;
        case ATTR_COMPUTE_MODE: case ATTR_ECC_ENABLED: case ATTR_MANAGED_MEMORY: *v = 0; break;
        case ATTR_MEMORY_CLOCK_RATE: *v = 2619000; break;
        case ATTR_GLOBAL_MEMORY_BUS_WIDTH: *v = 5120; break;
        case ATTR_L2_CACHE_SIZE: *v = 50 * 1024 * 1024; break;
        case ATTR_MAX_THREADS_PER_MULTIPROCESSOR: *v = 2048; break;
        case ATTR_COMPUTE_CAPABILITY_MAJOR: *v = 9; break;
        case ATTR_COMPUTE_CAPABILITY_MINOR: *v = 0; break;
        default: return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

// ------------------------------------------------------------------ contexts

DSEMU_API CUresult cuDevicePrimaryCtxRetain(CUcontext* ctx, CUdevice d) {
    API_LOCK;
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!ctx) return CUDA_ERROR_INVALID_VALUE;
    g_primary.refs++;
    *ctx = &g_primary;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) {
    API_LOCK;
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (g_primary.refs <= 0) return CUDA_ERROR_INVALID_CONTEXT;
    g_primary.refs--;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuDevicePrimaryCtxGetState(CUdevice d, unsigned* flags, int* active) {
    API_LOCK;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!flags || !active) return CUDA_ERROR_INVALID_VALUE;
    *flags = 0;
    *active = g_primary.refs > 0;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuCtxSetCurrent(CUcontext ctx) {
    API_LOCK;
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (ctx != nullptr && (ctx != &g_primary || g_primary.refs <= 0)) return CUDA_ERROR_INVALID_CONTEXT;
    t_current = ctx;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuCtxGetCurrent(CUcontext* ctx) {
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (!ctx) return CUDA_ERROR_INVALID_VALUE;
    *ctx = t_current;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuCtxGetDevice(CUdevice* d) {
    if (int r = ready()) return r;
    if (!d) return CUDA_ERROR_INVALID_VALUE;
    *d = 0;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuCtxSynchronize() {
    {
        API_LOCK;
        if (int r = ready()) return r;
        if (int r = capture_violation("cuCtxSynchronize")) return r;
        counter(DSEMU_ATTR_HOST_WAITS)++;
    }
    drain();
    return g_sticky.load();
}

// ------------------------------------------------------------------ memory

DSEMU_API CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!p || bytes == 0) return CUDA_ERROR_INVALID_VALUE;
    if (int r = capture_violation("cuMemAlloc")) return r;
    if (bytes > g_capacity - g_live) return CUDA_ERROR_OUT_OF_MEMORY;
    void* m = emu_dev_alloc(bytes);
    if (!m) return CUDA_ERROR_OUT_OF_MEMORY;
    g_device[m] = bytes;
    g_live += bytes;
    if (g_live > g_peak) g_peak = g_live;
    counter(DSEMU_ATTR_MEM_ALLOCS)++;
    *p = reinterpret_cast<CUdeviceptr>(m);
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuMemFree_v2(CUdeviceptr p) {
    API_LOCK;
    if (int r = ready()) return r;
    auto it = g_device.find(reinterpret_cast<void*>(p));
    if (it == g_device.end()) return CUDA_ERROR_INVALID_VALUE;   // not an allocation's base (or freed twice)
    if (int r = capture_violation("cuMemFree")) return r;
    drain();   // like cuMemFree on a GPU: work already queued may still use the block
    g_live -= it->second;
    g_device.erase(it);
    emu_dev_free(reinterpret_cast<void*>(p));
    counter(DSEMU_ATTR_MEM_FREES)++;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuMemGetInfo_v2(size_t* freeBytes, size_t* total) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!freeBytes || !total) return CUDA_ERROR_INVALID_VALUE;
    *total = g_capacity;
    *freeBytes = g_capacity - g_live;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuMemAllocHost_v2(void** p, size_t bytes) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!p || bytes == 0) return CUDA_ERROR_INVALID_VALUE;
    if (int r = capture_violation("cuMemAllocHost")) return r;
    void* m = std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
    if (!m) return CUDA_ERROR_OUT_OF_MEMORY;
    g_pinned[m] = bytes;
    *p = m;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuMemFreeHost(void* p) {
    API_LOCK;
    if (int r = ready()) return r;
    auto it = g_pinned.find(p);
    if (it == g_pinned.end()) return CUDA_ERROR_INVALID_VALUE;
    if (int r = capture_violation("cuMemFreeHost")) return r;
    drain();   // a queued copy may still read it
    g_pinned.erase(it);
    std::free(p);
    return CUDA_SUCCESS;
}

namespace {
// Queues (or, for pageable host memory, performs after draining: the real driver stages those
// synchronously) a copy; checks that the device side lies inside one allocation.
CUresult copy(const char* api, void* dst, const void* src, size_t bytes, bool dstDevice, bool srcDevice, bool async,
              CUstream stream = nullptr) {
    if (bytes == 0) return CUDA_SUCCESS;
    if (!dst || !src) return CUDA_ERROR_INVALID_VALUE;
    auto d = reinterpret_cast<CUdeviceptr>(dst), s = reinterpret_cast<CUdeviceptr>(src);
    if (dstDevice && !device_range(d, bytes)) {
        set_sticky(CUDA_ERROR_ILLEGAL_ADDRESS, std::string(api) + ": destination [" + hex(d) + ", +" + std::to_string(bytes)
                   + " bytes) is not inside one device allocation");
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    }
    if (srcDevice && !device_range(s, bytes)) {
        set_sticky(CUDA_ERROR_ILLEGAL_ADDRESS, std::string(api) + ": source [" + hex(s) + ", +" + std::to_string(bytes)
                   + " bytes) is not inside one device allocation");
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    }
    bool hostPinned = (!dstDevice && pinned(dst)) || (!srcDevice && pinned(src));
    bool deviceOnly = dstDevice && srcDevice;
    if (async && (deviceOnly || hostPinned)) {
        // captured: the node copies from (to) the same host buffer at every replay
        if (int r = enqueue(stream, "memcpy", [dst, src, bytes] { std::memmove(dst, src, bytes); })) return r;
        if (!dstDevice) counter(DSEMU_ATTR_COPIES_DTOH)++;
        if (!srcDevice) counter(DSEMU_ATTR_COPIES_HTOD)++;
        return CUDA_SUCCESS;
    }
    if (int r = capture_violation(api)) return r;   // staged through pageable memory: synchronous
    if (!dstDevice) counter(DSEMU_ATTR_COPIES_DTOH)++;
    if (!srcDevice) counter(DSEMU_ATTR_COPIES_HTOD)++;
    counter(DSEMU_ATTR_HOST_WAITS)++;
    drain();
    if (int st = g_sticky.load()) return st;
    std::memmove(dst, src, bytes);
    return CUDA_SUCCESS;
}

bool stream_ok(CUstream s) { return s == nullptr || g_streams.count(s) != 0; }
}  // namespace

DSEMU_API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t bytes) {
    API_LOCK;
    if (int r = ready()) return r;
    return copy("cuMemcpyHtoD", reinterpret_cast<void*>(dst), src, bytes, true, false, false);
}

DSEMU_API CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t bytes) {
    API_LOCK;
    if (int r = ready()) return r;
    return copy("cuMemcpyDtoH", dst, reinterpret_cast<const void*>(src), bytes, false, true, false);
}

DSEMU_API CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes) {
    API_LOCK;
    if (int r = ready()) return r;
    return copy("cuMemcpyDtoD", reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), bytes, true, true, false);
}

DSEMU_API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t bytes, CUstream s) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
    return copy("cuMemcpyHtoDAsync", reinterpret_cast<void*>(dst), src, bytes, true, false, true, s);
}

DSEMU_API CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t bytes, CUstream s) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
    return copy("cuMemcpyDtoHAsync", dst, reinterpret_cast<const void*>(src), bytes, false, true, true, s);
}

DSEMU_API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream s) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
    return copy("cuMemcpyDtoDAsync", reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), bytes, true, true, true, s);
}

namespace {
CUresult memset32(CUdeviceptr dst, unsigned value, size_t count, CUstream s, bool async) {
    if (int r = ready()) return r;
    if (!stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
    if (count == 0) return CUDA_SUCCESS;
    if (dst % 4 != 0) return CUDA_ERROR_INVALID_VALUE;
    if (!device_range(dst, count * 4)) {
        set_sticky(CUDA_ERROR_ILLEGAL_ADDRESS, "cuMemsetD32: [" + hex(dst) + ", +" + std::to_string(count)
                   + " words) is not inside one device allocation");
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    }
    auto* p = reinterpret_cast<unsigned*>(dst);
    auto fn = [p, value, count] { for (size_t i = 0; i < count; i++) p[i] = value; };
    if (async) {
        return enqueue(s, "memset", fn);
    } else {
        if (int r = capture_violation("cuMemsetD32")) return r;
        drain();
        fn();
    }
    return CUDA_SUCCESS;
}
}  // namespace

DSEMU_API CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t count, CUstream s) {
    API_LOCK;
    return memset32(dst, value, count, s, true);
}

DSEMU_API CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned value, size_t count) {
    API_LOCK;
    return memset32(dst, value, count, nullptr, false);
}

// ------------------------------------------------------------------ streams and events

DSEMU_API CUresult cuStreamCreate(CUstream* s, unsigned flags) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!s || flags > 1) return CUDA_ERROR_INVALID_VALUE;
    auto* st = new DsStream{flags};
    g_streams.insert(st);
    *s = st;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuStreamDestroy_v2(CUstream s) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!g_streams.erase(s)) return CUDA_ERROR_INVALID_HANDLE;
    delete s;   // queued work still runs (as on a GPU)
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuStreamSynchronize(CUstream s) {
    {
        API_LOCK;
        if (int r = ready()) return r;
        if (!stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
        if (int r = capture_violation("cuStreamSynchronize")) return r;
        counter(DSEMU_ATTR_HOST_WAITS)++;
    }
    drain();
    return g_sticky.load();
}

DSEMU_API CUresult cuStreamQuery(CUstream s) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
    if (s && s->capture) return capture_violation("cuStreamQuery of the capturing stream");
    std::lock_guard<std::mutex> l(g_qlock);
    return g_completed >= g_submitted ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

DSEMU_API CUresult cuEventCreate(CUevent* e, unsigned flags) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!e || flags > 0xF) return CUDA_ERROR_INVALID_VALUE;
    auto* ev = new DsEvent{flags};
    g_events.insert(ev);
    *e = ev;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuEventDestroy_v2(CUevent e) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!g_events.erase(e)) return CUDA_ERROR_INVALID_HANDLE;
    drain();   // the queued record may still touch it
    delete e;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuEventRecord(CUevent e, CUstream s) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!g_events.count(e)) return CUDA_ERROR_INVALID_HANDLE;
    if (!stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
    bool capturing = s && s->capture;
    unsigned long long seq = 0;
    if (int r = enqueue(s, "event record", [e] { e->at = std::chrono::steady_clock::now(); }, &seq)) return r;
    // an event recorded into a capture is a node of the graph: waiting on it or querying it is
    // CUDA_ERROR_CAPTURED_EVENT until it is recorded again outside a capture
    e->captured = capturing;
    e->recorded = !capturing;
    e->seq = seq;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuEventSynchronize(CUevent e) {
    unsigned long long seq;
    {
        API_LOCK;
        if (int r = ready()) return r;
        if (!g_events.count(e)) return CUDA_ERROR_INVALID_HANDLE;
        if (e->captured) return CUDA_ERROR_CAPTURED_EVENT;
        seq = e->recorded ? e->seq : 0;
        counter(DSEMU_ATTR_HOST_WAITS)++;
    }
    if (seq) wait_for(seq);
    return g_sticky.load();
}

DSEMU_API CUresult cuEventQuery(CUevent e) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!g_events.count(e)) return CUDA_ERROR_INVALID_HANDLE;
    if (e->captured) return CUDA_ERROR_CAPTURED_EVENT;
    if (!e->recorded) return CUDA_SUCCESS;
    std::lock_guard<std::mutex> l(g_qlock);
    return g_completed >= e->seq ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

DSEMU_API CUresult cuEventElapsedTime(float* ms, CUevent a, CUevent b) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!ms || !g_events.count(a) || !g_events.count(b)) return CUDA_ERROR_INVALID_HANDLE;
    if ((a->flags | b->flags) & 0x2) return CUDA_ERROR_INVALID_HANDLE;   // CU_EVENT_DISABLE_TIMING
    if (!a->recorded || !b->recorded) return CUDA_ERROR_INVALID_HANDLE;
    std::lock_guard<std::mutex> l(g_qlock);
    if (g_completed < a->seq || g_completed < b->seq) return CUDA_ERROR_NOT_READY;
    *ms = std::chrono::duration<float, std::milli>(b->at - a->at).count();
    return CUDA_SUCCESS;
}

// ------------------------------------------------------------------ modules and functions

DSEMU_API CUresult cuModuleLoadData(CUmodule* m, const void* image) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!m || !image) return CUDA_ERROR_INVALID_VALUE;
    // A fatbin made by nvcc -fatbin starts with the fatbin magic 0xBA55ED50 and its header gives the size.
    const auto* b = static_cast<const unsigned char*>(image);
    unsigned magic;
    std::memcpy(&magic, b, 4);
    if (magic != 0xBA55ED50u) return CUDA_ERROR_INVALID_IMAGE;
    unsigned long long headerSize = 0, bodySize = 0;
    unsigned short hs;
    std::memcpy(&hs, b + 6, 2);
    headerSize = hs;
    std::memcpy(&bodySize, b + 8, 8);
    if (headerSize < 16 || bodySize == 0 || bodySize > (1ull << 31)) return CUDA_ERROR_INVALID_IMAGE;
    auto* mod = new DsModule;
    mod->image.assign(reinterpret_cast<const char*>(b), headerSize + bodySize);
    g_modules.insert(mod);
    *m = mod;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuModuleUnload(CUmodule m) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!g_modules.erase(m)) return CUDA_ERROR_INVALID_HANDLE;
    drain();
    delete m;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuModuleGetFunction(CUfunction* f, CUmodule m, const char* name) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!f || !name) return CUDA_ERROR_INVALID_VALUE;
    if (!g_modules.count(m)) return CUDA_ERROR_INVALID_HANDLE;
    auto it = m->functions.find(name);
    if (it != m->functions.end()) {
        *f = it->second.get();
        return CUDA_SUCCESS;
    }
    // The kernel must be both in the image nvcc built (its name is in the uncompressed fatbin) and
    // compiled into this emulator: the jar and the emulator are built from the same sources.
    std::string needle = std::string(name);
    needle.push_back('\0');
    if (m->image.find(needle) == std::string::npos) return CUDA_ERROR_NOT_FOUND;
    for (const KernelEntry& k : registry()) {
        if (std::strcmp(k.name, name) == 0) {
            auto fn = std::make_unique<DsFunction>();
            fn->kernel = &k;
            *f = fn.get();
            m->functions[name] = std::move(fn);
            return CUDA_SUCCESS;
        }
    }
    return CUDA_ERROR_NOT_FOUND;
}

namespace {
bool function_ok(CUfunction f) {
    for (DsModule* m : g_modules)
        for (auto& [n, fn] : m->functions)
            if (fn.get() == f) return true;
    return false;
}
}  // namespace

DSEMU_API CUresult cuFuncSetAttribute(CUfunction f, int attr, int value) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!function_ok(f)) return CUDA_ERROR_INVALID_HANDLE;
    if (attr != kFuncMaxDynamicShared) return CUDA_ERROR_NOT_SUPPORTED;
    if (value < 0 || (size_t)value > kOptinShared) return CUDA_ERROR_INVALID_VALUE;
    f->maxDynShared = (size_t)value;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuFuncGetAttribute(int* v, int attr, CUfunction f) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    if (!function_ok(f)) return CUDA_ERROR_INVALID_HANDLE;
    switch (attr) {
        case 0: *v = 1024; break;                           // MAX_THREADS_PER_BLOCK
        case kFuncMaxDynamicShared: *v = (int)f->maxDynShared; break;
        default: return CUDA_ERROR_NOT_SUPPORTED;
    }
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                  unsigned bz, unsigned sharedBytes, CUstream s, void** params, void** extra) {
    BoundLaunch run;
    LaunchCfg cfg;
    const char* name;
    {
        API_LOCK;
        if (int r = ready()) return r;
        if (!function_ok(f)) return CUDA_ERROR_INVALID_HANDLE;
        if (!stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
        name = f->kernel->name;
        if (extra != nullptr) return CUDA_ERROR_NOT_SUPPORTED;
        if (f->kernel->nparams > 0 && params == nullptr) return CUDA_ERROR_INVALID_VALUE;
        // Launch-configuration errors are reported at the call and are not sticky, as on a GPU.
        if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || gx > 2147483647u || gy > 65535 || gz > 65535
            || bx > 1024 || by > 1024 || bz > 64) {
            std::fprintf(stderr, "[dsemu] cuLaunchKernel(%s): invalid launch dimensions grid (%u,%u,%u) block (%u,%u,%u)\n",
                         name, gx, gy, gz, bx, by, bz);
            return CUDA_ERROR_INVALID_VALUE;
        }
        if ((unsigned long long)bx * by * bz > 1024) {
            std::fprintf(stderr, "[dsemu] cuLaunchKernel(%s): %llu threads per block (at most 1024)\n", name,
                         (unsigned long long)bx * by * bz);
            return CUDA_ERROR_INVALID_VALUE;
        }
        if (sharedBytes > f->maxDynShared) {
            std::fprintf(stderr, "[dsemu] cuLaunchKernel(%s): %u bytes of dynamic shared memory, the limit is %zu "
                         "(raise it with cuFuncSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES))\n",
                         name, sharedBytes, f->maxDynShared);
            return CUDA_ERROR_INVALID_VALUE;
        }
        int err = CUDA_SUCCESS;
        std::string msg;
        run = f->kernel->bind(params, &err, &msg);
        if (!run) {
            std::fprintf(stderr, "[dsemu] %s\n", msg.c_str());
            return err;
        }
        cfg = LaunchCfg{EmuDim{gx, gy, gz}, EmuDim{bx, by, bz}, sharedBytes,
                        f->maxDynShared > kDefaultShared ? f->maxDynShared : kDefaultShared};
        if (int r = enqueue(s, "kernel", [run, cfg, name] {
                int r = run(cfg);
                if (r != 0) {
                    counter(DSEMU_ATTR_FAILED_LAUNCHES)++;
                    set_sticky(r, std::string(error_name(r)) + " in kernel " + name + ": " + emu_last_error());
                }
            })) return r;
        counter(DSEMU_ATTR_LAUNCHES)++;
        if (s && s->capture) return CUDA_SUCCESS;
    }
    if (blocking_launches()) {
        drain();
        return g_sticky.load();
    }
    return CUDA_SUCCESS;
}

// ------------------------------------------------------------------ stream capture and graphs

// mode: CU_STREAM_CAPTURE_MODE_GLOBAL 0, THREAD_LOCAL 1, RELAXED 2. The legacy stream cannot capture.
DSEMU_API CUresult cuStreamBeginCapture_v2(CUstream s, int mode) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!s) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    if (!stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
    if (mode < 0 || mode > 2) return CUDA_ERROR_INVALID_VALUE;
    if (s->capture) return CUDA_ERROR_ILLEGAL_STATE;
    s->capture = new DsGraph;
    s->mode = mode;
    s->invalidated = 0;
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuStreamEndCapture(CUstream s, DsGraph** graph) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!s || !graph) return CUDA_ERROR_INVALID_VALUE;
    if (!stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
    if (!s->capture) return CUDA_ERROR_ILLEGAL_STATE;
    DsGraph* g = s->capture;
    int bad = s->invalidated;
    s->capture = nullptr;
    s->invalidated = 0;
    if (bad) {
        delete g;
        *graph = nullptr;
        return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    }
    g_graphs.insert(g);
    *graph = g;
    return CUDA_SUCCESS;
}

// Sets this thread's capture mode and returns the one it had (PyTorch's allocator turns relaxed
// around cudaMalloc while a graph captures).
DSEMU_API CUresult cuThreadExchangeStreamCaptureMode(int* mode) {
    API_LOCK;
    if (!mode || *mode < 0 || *mode > 2) return CUDA_ERROR_INVALID_VALUE;
    std::swap(*mode, t_capture_mode);
    return CUDA_SUCCESS;
}

// CU_STREAM_CAPTURE_STATUS_NONE 0, ACTIVE 1, INVALIDATED 2.
DSEMU_API CUresult cuStreamIsCapturing(CUstream s, int* status) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!status) return CUDA_ERROR_INVALID_VALUE;
    if (!stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
    if (!s) {
        *status = 0;
        return strict_capture() ? CUDA_ERROR_STREAM_CAPTURE_IMPLICIT : CUDA_SUCCESS;
    }
    *status = !s->capture ? 0 : s->invalidated ? 2 : 1;
    return CUDA_SUCCESS;
}

// Node handles are the graph's node indices + 1.
DSEMU_API CUresult cuGraphGetNodes(DsGraph* g, void** nodes, size_t* count) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!count) return CUDA_ERROR_INVALID_VALUE;
    if (!g_graphs.count(g)) return CUDA_ERROR_INVALID_HANDLE;
    size_t n = g->nodes.size();
    if (nodes) {
        for (size_t i = 0; i < *count && i < n; i++) nodes[i] = reinterpret_cast<void*>(i + 1);
        if (*count > n) *count = n;
    } else {
        *count = n;
    }
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuGraphInstantiateWithFlags(DsGraphExec** exec, DsGraph* g, unsigned long long flags) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!exec) return CUDA_ERROR_INVALID_VALUE;
    if (!g_graphs.count(g)) return CUDA_ERROR_INVALID_HANDLE;
    if (flags != 0) return CUDA_ERROR_NOT_SUPPORTED;
    auto* e = new DsGraphExec{g->nodes};
    g_execs.insert(e);
    *exec = e;
    return CUDA_SUCCESS;
}

// Queues every node of the exec on the stream, in capture order: the whole step is one call here.
DSEMU_API CUresult cuGraphLaunch(DsGraphExec* exec, CUstream s) {
    {
        API_LOCK;
        if (int r = ready()) return r;
        if (!g_execs.count(exec)) return CUDA_ERROR_INVALID_HANDLE;
        if (!stream_ok(s)) return CUDA_ERROR_INVALID_HANDLE;
        if (s && s->capture) return CUDA_ERROR_NOT_SUPPORTED;   // graphs in graphs: not emulated
        if (!s && strict_capture()) return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
        counter(DSEMU_ATTR_GRAPH_LAUNCHES)++;
        for (auto& fn : exec->nodes) submit(fn);
    }
    if (blocking_launches()) {
        drain();
        return g_sticky.load();
    }
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuGraphExecDestroy(DsGraphExec* exec) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!g_execs.erase(exec)) return CUDA_ERROR_INVALID_HANDLE;
    delete exec;   // queued replays hold copies of its nodes
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuGraphDestroy(DsGraph* g) {
    API_LOCK;
    if (int r = ready()) return r;
    if (!g_graphs.erase(g)) return CUDA_ERROR_INVALID_HANDLE;
    delete g;
    return CUDA_SUCCESS;
}

// ------------------------------------------------------------------ errors

DSEMU_API CUresult cuGetErrorName(CUresult e, const char** s) {
    if (!s) return CUDA_ERROR_INVALID_VALUE;
    *s = error_name(e);
    return CUDA_SUCCESS;
}

DSEMU_API CUresult cuGetErrorString(CUresult e, const char** s) {
    if (!s) return CUDA_ERROR_INVALID_VALUE;
    // For the sticky error, the emulator's own account (which kernel, block, thread, address).
    static thread_local std::string buf;
    if (e != CUDA_SUCCESS && e == g_sticky.load()) {
        std::lock_guard<std::mutex> l(g_msg_lock);
        buf = std::string(error_text(e)) + " [emulator: " + g_sticky_msg + "]";
        *s = buf.c_str();
        return CUDA_SUCCESS;
    }
    *s = error_text(e);
    return CUDA_SUCCESS;
}

// Clears the context's sticky error and frees its memory, as cuDevicePrimaryCtxReset does on a GPU.
DSEMU_API CUresult cuDevicePrimaryCtxReset_v2(CUdevice d) {
    API_LOCK;
    if (!g_initialised) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    drain();
    for (auto& [p, n] : g_device) emu_dev_free(p);
    g_device.clear();
    g_live = 0;
    {
        std::lock_guard<std::mutex> l(g_msg_lock);
        g_sticky_msg.clear();
    }
    g_sticky.store(CUDA_SUCCESS);
    return CUDA_SUCCESS;
}

// Called by the generated stubs for every other import of libJCudaDriver.
extern "C" CUresult dsemu_unsupported(const char* name) {
    std::fprintf(stderr, "[dsemu] %s is not emulated (CUDA_ERROR_NOT_SUPPORTED)\n", name);
    return CUDA_ERROR_NOT_SUPPORTED;
}
