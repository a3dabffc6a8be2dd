// check_kernels.cpp — runs every kernel of kernels/*.cu through the CPU emulator (emu.h) and compares
// with plain double-precision reference loops written here (forward ops), with finite differences
// or adjoint identities (backward ops). Every buffer a kernel sees is guarded device memory from
// emu_dev_alloc (the dvec allocator), so out-of-bounds reads and writes fail the launch. Shapes are
// non-multiples of the tile sizes, and each family has one case at a DINOv2 model size (a subset of
// blocks where the full grid would be slow). The "emulator" family checks that the emulator itself
// reports planted misuse (races, divergent barriers, bad masks, out-of-bounds, launch limits).
// One line per check; "all kernel checks passed" at the end only when every check passed.
// Usage: check_kernels [family ...]   (gemm attention layernorm elementwise batchnorm conv resize
//        cross_entropy adamw tensor_core emulator; default all). Exit status 1 on any failure.
// Build and run: bash kernels/test/run.sh
#include "emu.h"
#include "all_kernels_emu.cu"

#include <chrono>
#include <cstdio>
#include <functional>
#include <new>
#include <random>
#include <set>
#include <sys/wait.h>
#include <string>

// std::vector storage in guarded device memory: exactly n elements, guard page after them.
template <class T> struct DevAllocator {
    using value_type = T;
    DevAllocator() = default;
    template <class U> DevAllocator(const DevAllocator<U>&) {}
    T* allocate(size_t n) {
        void* p = emu_dev_alloc(n * sizeof(T));
        if (!p) throw std::bad_alloc();
        return (T*)p;
    }
    void deallocate(T* p, size_t) { emu_dev_free(p); }
    template <class U> bool operator==(const DevAllocator<U>&) const { return true; }
};
template <class T> using dvec = std::vector<T, DevAllocator<T>>;
using fvec = dvec<float>;
using ivec = dvec<int>;

static int failures = 0;
static std::mt19937_64 rng(12345);

static fvec randn(size_t n, float s = 1.f) {
    std::normal_distribution<float> d(0.f, s);
    fvec v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

static void check(const std::string& what, const std::vector<double>& ref, const float* got, size_t n,
                  double rtol, double atol) {
    size_t bad = n;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = ref[i], a = got[i];
        double err = std::fabs(e - a), allowed = atol + rtol * std::fabs(e);
        if (!(err <= allowed)) {
            double x = std::isnan(err) ? 1e300 : err / allowed;
            if (bad == n || x > worst) { bad = i; worst = x; }
        }
    }
    if (bad != n) {
        failures++;
        std::printf("FAIL %-40s element %zu: ref %.8g got %.8g\n", what.c_str(), bad, ref[bad], (double)got[bad]);
    } else {
        std::printf("ok   %s\n", what.c_str());
    }
}

static void check(const std::string& what, const std::vector<double>& ref, const fvec& got,
                  double rtol, double atol) {
    if (ref.size() != got.size()) { failures++; std::printf("FAIL %s: sizes\n", what.c_str()); return; }
    check(what, ref, got.data(), got.size(), rtol, atol);
}

// Launches through emu_launch_checked; a launch error counts as a failed check (and is printed).
template <class... P, class... A>
static bool launch_named(const char* name, void (*kernel)(P...), EmuDim grid, EmuDim block, size_t shared, size_t limit, A... args) {
    int rc = emu_launch_checked(name, kernel, grid, block, shared, limit, args...);
    if (rc != 0) {
        failures++;
        std::printf("FAIL launch %s (error %d): %s\n", name, rc, emu_last_error());
        return false;
    }
    return true;
}
#define LAUNCH(kernel, grid, block, shared, ...) launch_named(#kernel, kernel, grid, block, shared, 0, __VA_ARGS__)
#define LAUNCH_OPT(limit, kernel, grid, block, shared, ...) launch_named(#kernel, kernel, grid, block, shared, limit, __VA_ARGS__)

static EmuDim d1(unsigned x, unsigned y = 1, unsigned z = 1) { return EmuDim{x, y, z}; }

static DsDims dims(std::vector<long long> d, std::vector<long long> s) {
    DsDims r{};
    r.rank = (long long)d.size();
    for (int i = 0; i < DS_MAX_RANK; i++) { r.dims[i] = i < (int)d.size() ? d[i] : 1; r.stride[i] = i < (int)s.size() ? s[i] : 0; }
    return r;
}

// ------------------------------------------------------------------ gemm

static void test_gemm() {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int variant = 0; variant < 4; variant++) {
                // several tiles in both directions, odd sizes, padded leading dims, shared B (variant 2)
                int M = variant == 0 ? 67 : variant == 1 ? 5 : variant == 2 ? 64 : 130;
                int N = variant == 0 ? 45 : variant == 1 ? 70 : variant == 2 ? 64 : 259;
                int K = variant == 0 ? 33 : variant == 1 ? 17 : variant == 2 ? 16 : 21;
                int batch = variant == 2 ? 3 : variant == 3 ? 1 : 2, pad = variant;
                float alpha = variant == 1 ? 0.5f : 1.f, beta = variant == 1 ? 1.5f : 0.f;
                int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
                long long sA = (long long)(ta ? K : M) * lda + 1, sB = variant == 2 ? 0 : (long long)(tb ? N : K) * ldb;
                long long sC = (long long)M * ldc + 2;
                auto A = randn(sA * batch), B = randn(std::max<long long>(sB * batch, (long long)(tb ? N : K) * ldb));
                auto C = randn(sC * batch);
                if (beta == 0) std::fill(C.begin(), C.end(), NAN);
                // Operand elements outside the matrices (padding columns, the gap between batches) are NaN:
                // a kernel that reads one, even to multiply it by a zero, turns its result into NaN.
                auto poison = [](fvec& X, int rows, int cols, int ld, long long stride, int nb) {
                    if (stride == 0) return;
                    for (int z = 0; z < nb; z++)
                        for (long long e = 0; e < stride; e++) {
                            long long r = e / ld, c = e % ld;
                            if (r >= rows || c >= cols) X[z * stride + e] = NAN;
                        }
                };
                poison(A, ta ? K : M, ta ? M : K, lda, sA, batch);
                poison(B, tb ? N : K, tb ? K : N, ldb, sB, batch);
                std::vector<double> ref(C.begin(), C.end());
                for (int z = 0; z < batch; z++)
                    for (int i = 0; i < M; i++)
                        for (int j = 0; j < N; j++) {
                            double s = 0;
                            for (int k = 0; k < K; k++) {
                                double a = ta ? A[z * sA + (long long)k * lda + i] : A[z * sA + (long long)i * lda + k];
                                double b = tb ? B[z * sB + (long long)j * ldb + k] : B[z * sB + (long long)k * ldb + j];
                                s += a * b;
                            }
                            double& c = ref[z * sC + (long long)i * ldc + j];
                            c = beta == 0 ? alpha * s : alpha * s + beta * c;
                        }
                LAUNCH(sgemm_batched, d1((N + 127) / 128, (M + 127) / 128, batch), d1(256), 0, ta, tb, M, N, K, alpha,
                           A.data(), lda, sA, B.data(), ldb, sB, beta, C.data(), ldc, sC, 0LL,
                           (const float*)nullptr, 0, 0, (float*)nullptr, (const float*)nullptr, (const float*)nullptr);
                // NaN padding stays NaN on both sides
                for (size_t i = 0; i < ref.size(); i++) if (std::isnan(ref[i]) && std::isnan(C[i])) { ref[i] = 0; C[i] = 0; }
                check("gemm ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " v" + std::to_string(variant), ref, C, 1e-5, 1e-5);
            }
}

// The patch-embedding backward of DINOv2 at 644x644 has K = 46*46*8 = 16928-ish; K = 16936 is not a
// multiple of the 8-deep K step. M, N small (one tile row, two tile columns) keep it fast.
static void test_gemm_model_size() {
    const int M = 5, N = 131, K = 16936;
    for (int t = 0; t < 2; t++) {
        int ta = t, tb = t;
        int lda = ta ? M : K, ldb = tb ? K : N, ldc = N;
        auto A = randn((size_t)M * K), B = randn((size_t)K * N);
        fvec C((size_t)M * N, NAN);
        std::vector<double> ref((size_t)M * N);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = 0;
                for (int k = 0; k < K; k++)
                    s += (double)(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) * (tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
                ref[(size_t)i * N + j] = s;
            }
        LAUNCH(sgemm_batched, d1((N + 127) / 128, (M + 127) / 128, 1), d1(256), 0, ta, tb, M, N, K, 1.f,
               A.data(), lda, 0LL, B.data(), ldb, 0LL, 0.f, C.data(), ldc, 0LL, 0LL,
               (const float*)nullptr, 0, 0, (float*)nullptr, (const float*)nullptr, (const float*)nullptr);
        check("gemm K16936 ta=" + std::to_string(ta) + " tb=" + std::to_string(tb), ref, C, 1e-4, 1e-3);
    }
}

// ------------------------------------------------------------------ attention

static void attention_ref(const fvec& qkv, int B, int N, int H, int D, float scale,
                          const fvec& gout, std::vector<double>& out, std::vector<double>& lse,
                          std::vector<double>& gqkv) {
    long long rs = 3LL * H * D;
    out.assign((size_t)B * N * H * D, 0);
    lse.assign((size_t)B * H * N, 0);
    gqkv.assign(qkv.size(), 0);
    auto q = [&](int b, int i, int h, int d) { return (double)qkv[((long long)b * N + i) * rs + h * D + d]; };
    auto k = [&](int b, int i, int h, int d) { return (double)qkv[((long long)b * N + i) * rs + H * D + h * D + d]; };
    auto v = [&](int b, int i, int h, int d) { return (double)qkv[((long long)b * N + i) * rs + 2 * H * D + h * D + d]; };
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            std::vector<double> P((size_t)N * N);
            for (int i = 0; i < N; i++) {
                double mx = -1e300;
                for (int j = 0; j < N; j++) {
                    double s = 0;
                    for (int d = 0; d < D; d++) s += q(b, i, h, d) * k(b, j, h, d);
                    P[(size_t)i * N + j] = s * scale;
                    mx = std::max(mx, s * scale);
                }
                double sum = 0;
                for (int j = 0; j < N; j++) sum += std::exp(P[(size_t)i * N + j] - mx);
                lse[((size_t)b * H + h) * N + i] = mx + std::log(sum);
                for (int j = 0; j < N; j++) P[(size_t)i * N + j] = std::exp(P[(size_t)i * N + j] - mx) / sum;
                for (int d = 0; d < D; d++) {
                    double o = 0;
                    for (int j = 0; j < N; j++) o += P[(size_t)i * N + j] * v(b, j, h, d);
                    out[((size_t)b * N + i) * H * D + h * D + d] = o;
                }
            }
            auto g = [&](int i, int d) { return (double)gout[((size_t)b * N + i) * H * D + h * D + d]; };
            for (int i = 0; i < N; i++) {
                std::vector<double> dP(N);
                double dot = 0;
                for (int j = 0; j < N; j++) {
                    double s = 0;
                    for (int d = 0; d < D; d++) s += g(i, d) * v(b, j, h, d);
                    dP[j] = s;
                    dot += P[(size_t)i * N + j] * s;
                }
                for (int j = 0; j < N; j++) {
                    double p = P[(size_t)i * N + j], ds = p * (dP[j] - dot);
                    for (int d = 0; d < D; d++) {
                        gqkv[((size_t)b * N + i) * rs + h * D + d] += scale * ds * k(b, j, h, d);
                        gqkv[((size_t)b * N + j) * rs + H * D + h * D + d] += scale * ds * q(b, i, h, d);
                        gqkv[((size_t)b * N + j) * rs + 2 * H * D + h * D + d] += p * g(i, d);
                    }
                }
            }
        }
}

// Dynamic shared-memory bytes of the attention kernels (as CudaBackend computes them) and the opt-in
// limit the host sets when they exceed the 48 KiB default (CudaKernels.ensureSharedMemory).
static size_t att_fwd_shared(int D) { return 4 * (16 * D + 32 * (D + 1) + 32 * D); }
static size_t att_dq_shared(int D) { return 4 * (2 * 16 * D + 2 * 32 * (D + 1)); }
static size_t att_dkdv_shared(int D) { return 4 * (2 * 16 * D + 2 * 32 * (D + 1) + 64); }
static size_t optin(size_t bytes) { return bytes > 48 * 1024 ? bytes : 0; }

// negative: every score is near -120 (q = 2 + noise, k = -60/(scale*D) + noise), far below 0, so a
// kernel that lets an empty lane's score of 0 into a row's running max underflows exp() to 0 and
// divides by a zero sum; the reference (double, max taken over real keys only) is unaffected.
static void test_attention(int B, int N, int H, int D, bool negative = false) {
    float scale = 1.f / std::sqrt((float)D);
    auto qkv = randn((size_t)B * N * 3 * H * D), gout = randn((size_t)B * N * H * D);
    if (negative)
        for (long long r = 0; r < (long long)B * N; r++)
            for (int e = 0; e < 2 * H * D; e++) {
                float& v = qkv[(size_t)(r * 3 * H * D + e)];
                v = e < H * D ? 2.f + 0.25f * v : -60.f / (scale * D) + 0.25f * v;
            }
    std::vector<double> out, lse, gq;
    attention_ref(qkv, B, N, H, D, scale, gout, out, lse, gq);
    fvec o(out.size(), NAN), l(lse.size(), NAN), dv(lse.size(), NAN), g(qkv.size(), NAN);
    std::string c = " B" + std::to_string(B) + " N" + std::to_string(N) + " H" + std::to_string(H) + " D" + std::to_string(D) +
                    (negative ? " scores near -120" : "");
    unsigned grid = (N + 15) / 16;
    LAUNCH_OPT(optin(att_fwd_shared(D)), attention_fwd, d1(grid, B * H), d1(128), att_fwd_shared(D), qkv.data(), o.data(), l.data(), N, H, D, scale);
    check("attention out" + c, out, o, 1e-4, 1e-5);
    check("attention lse" + c, lse, l, 1e-5, 1e-5);
    long long rows = (long long)B * H * N;
    LAUNCH(attention_bwd_dot, d1((unsigned)((rows * 32 + 255) / 256)), d1(256), 0, o.data(), gout.data(), dv.data(), B, N, H, D);
    LAUNCH_OPT(optin(att_dq_shared(D)), attention_bwd_dq, d1(grid, B * H), d1(128), att_dq_shared(D), qkv.data(), gout.data(), l.data(), dv.data(), g.data(), N, H, D, scale);
    LAUNCH_OPT(optin(att_dkdv_shared(D)), attention_bwd_dkdv, d1(grid, B * H), d1(128), att_dkdv_shared(D), qkv.data(), gout.data(), l.data(), dv.data(), g.data(), N, H, D, scale);
    check("attention gqkv" + c, gq, g, 1e-3, 1e-4);
}

// DINOv2-S/14 at 644x644 (N = 1 + 46*46 = 2117 tokens, head dim 64), one head of two, B = 1. The
// kernels run for the first `blocks` query (dq: query, dkdv: key) blocks only, which still stream
// every key (query) tile including the partial last one; the reference covers those rows.
static void test_attention_model_size(int blocks) {
    const int N = 2117, H = 2, D = 64, h = 1, rowsChecked = 16 * blocks;
    const float scale = 0.125f;
    const long long rs = 3LL * H * D;
    auto qkv = randn((size_t)N * rs), gout = randn((size_t)N * H * D);
    auto q = [&](int i, int d) { return (double)qkv[i * rs + h * D + d]; };
    auto k = [&](int i, int d) { return (double)qkv[i * rs + H * D + h * D + d]; };
    auto v = [&](int i, int d) { return (double)qkv[i * rs + 2 * H * D + h * D + d]; };
    auto go = [&](int i, int d) { return (double)gout[(long long)i * H * D + h * D + d]; };
    // Reference: lse and Dv for every row (dkdv needs all), out and gq for the checked rows, gk/gv for
    // the checked keys.
    std::vector<double> lse(N), Dv(N), S((size_t)N * N);
    std::vector<double> outR((size_t)rowsChecked * D, 0), gqR((size_t)rowsChecked * D, 0), gkR((size_t)rowsChecked * D, 0), gvR((size_t)rowsChecked * D, 0);
    std::vector<double> Kt((size_t)N * D), Vt((size_t)N * D);
    for (int j = 0; j < N; j++) for (int d = 0; d < D; d++) { Kt[(size_t)j * D + d] = k(j, d); Vt[(size_t)j * D + d] = v(j, d); }
    std::vector<double> dProw(N), o(D);
    for (int i = 0; i < N; i++) {
        double qi[64], gi[64], mx = -1e300, sum = 0;
        for (int d = 0; d < D; d++) { qi[d] = q(i, d) * scale; gi[d] = go(i, d); }
        double* Si = &S[(size_t)i * N];
        for (int j = 0; j < N; j++) {
            double s = 0;
            const double* kj = &Kt[(size_t)j * D];
            for (int d = 0; d < D; d++) s += qi[d] * kj[d];
            Si[j] = s;
            mx = std::max(mx, s);
        }
        for (int j = 0; j < N; j++) sum += std::exp(Si[j] - mx);
        lse[i] = mx + std::log(sum);
        std::fill(o.begin(), o.end(), 0.0);
        for (int j = 0; j < N; j++) {
            double p = std::exp(Si[j] - lse[i]);
            Si[j] = p;   // S becomes P
            const double* vj = &Vt[(size_t)j * D];
            for (int d = 0; d < D; d++) o[d] += p * vj[d];
        }
        double dot = 0;
        for (int d = 0; d < D; d++) dot += o[d] * gi[d];
        Dv[i] = dot;
        if (i < rowsChecked) {
            for (int d = 0; d < D; d++) outR[(size_t)i * D + d] = o[d];
            for (int j = 0; j < N; j++) {
                double dp = 0;
                const double* vj = &Vt[(size_t)j * D];
                for (int d = 0; d < D; d++) dp += gi[d] * vj[d];
                double ds = Si[j] * (dp - Dv[i]);
                const double* kj = &Kt[(size_t)j * D];
                for (int d = 0; d < D; d++) gqR[(size_t)i * D + d] += scale * ds * kj[d];
            }
        }
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < rowsChecked; j++) {
            double p = S[(size_t)i * N + j], dp = 0;
            for (int d = 0; d < D; d++) dp += go(i, d) * v(j, d);
            double ds = p * (dp - Dv[i]);
            for (int d = 0; d < D; d++) {
                gkR[(size_t)j * D + d] += scale * ds * q(i, d);
                gvR[(size_t)j * D + d] += p * go(i, d);
            }
        }
    fvec O((size_t)N * H * D, NAN), L((size_t)H * N, NAN), DV((size_t)H * N, NAN), G(qkv.size(), NAN);
    // Every row's lse and Dv from the reference (the reduced forward grid does not produce them all).
    for (int i = 0; i < N; i++) { L[(size_t)h * N + i] = (float)lse[i]; DV[(size_t)h * N + i] = (float)Dv[i]; }
    fvec Lk = L;
    LAUNCH(attention_fwd, d1(blocks, H), d1(128), att_fwd_shared(D), qkv.data(), O.data(), Lk.data(), N, H, D, scale);
    std::vector<double> gotO, gotL, refL(lse.begin(), lse.begin() + rowsChecked);
    fvec o1((size_t)rowsChecked * D), l1(rowsChecked), gq1((size_t)rowsChecked * D), gk1((size_t)rowsChecked * D), gv1((size_t)rowsChecked * D);
    for (int i = 0; i < rowsChecked; i++) {
        l1[i] = Lk[(size_t)h * N + i];
        for (int d = 0; d < D; d++) o1[(size_t)i * D + d] = O[(long long)i * H * D + h * D + d];
    }
    std::string c = " N2117 D64 (" + std::to_string(blocks) + " blocks)";
    check("attention out" + c, outR, o1, 1e-4, 1e-5);
    check("attention lse" + c, refL, l1, 1e-5, 1e-5);
    // attention_bwd_dot over every row of both heads (one warp per row), against the reference Dv.
    fvec Od(O.size(), 0.f);   // head 0 stays zero (its Dv must be 0)
    std::vector<double> dotR((size_t)H * N, 0);
    {
        std::vector<double> tmp(D);
        for (int i = 0; i < N; i++) {
            // out row i of head h from the reference P
            std::fill(tmp.begin(), tmp.end(), 0.0);
            for (int j = 0; j < N; j++) { double p = S[(size_t)i * N + j]; const double* vj = &Vt[(size_t)j * D]; for (int d = 0; d < D; d++) tmp[d] += p * vj[d]; }
            for (int d = 0; d < D; d++) Od[(long long)i * H * D + h * D + d] = (float)tmp[d];
            double s = 0;
            for (int d = 0; d < D; d++) s += (double)Od[(long long)i * H * D + h * D + d] * go(i, d);
            dotR[(size_t)h * N + i] = s;
        }
    }
    fvec DVk((size_t)H * N, NAN);
    LAUNCH(attention_bwd_dot, d1((unsigned)((H * N * 32 + 255) / 256)), d1(256), 0, Od.data(), gout.data(), DVk.data(), 1, N, H, D);
    check("attention_bwd_dot" + c, dotR, DVk, 1e-4, 1e-4);
    LAUNCH(attention_bwd_dq, d1(blocks, H), d1(128), att_dq_shared(D), qkv.data(), gout.data(), L.data(), DV.data(), G.data(), N, H, D, scale);
    LAUNCH(attention_bwd_dkdv, d1(blocks, H), d1(128), att_dkdv_shared(D), qkv.data(), gout.data(), L.data(), DV.data(), G.data(), N, H, D, scale);
    for (int i = 0; i < rowsChecked; i++)
        for (int d = 0; d < D; d++) {
            gq1[(size_t)i * D + d] = G[i * rs + h * D + d];
            gk1[(size_t)i * D + d] = G[i * rs + H * D + h * D + d];
            gv1[(size_t)i * D + d] = G[i * rs + 2 * H * D + h * D + d];
        }
    check("attention gq" + c, gqR, gq1, 1e-3, 2e-4);
    check("attention gk" + c, gkR, gk1, 1e-3, 2e-4);
    check("attention gv" + c, gvR, gv1, 1e-3, 2e-4);
}

// ------------------------------------------------------------------ layernorm

static void test_layernorm(int rows, int C) {
    auto x = randn((size_t)rows * C), gamma = randn(C), beta = randn(C), gy = randn((size_t)rows * C);
    float eps = 1e-6f;
    std::vector<double> y((size_t)rows * C), mean(rows), rstd(rows), gx((size_t)rows * C), gg(C, 0), gb(C, 0);
    for (int r = 0; r < rows; r++) {
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) m += x[(size_t)r * C + c];
        m /= C;
        for (int c = 0; c < C; c++) v += (x[(size_t)r * C + c] - m) * (x[(size_t)r * C + c] - m);
        double rs = 1 / std::sqrt(v / C + eps);
        mean[r] = m; rstd[r] = rs;
        double sg = 0, sgx = 0;
        for (int c = 0; c < C; c++) {
            double h = (x[(size_t)r * C + c] - m) * rs, g = gy[(size_t)r * C + c] * gamma[c];
            y[(size_t)r * C + c] = h * gamma[c] + beta[c];
            sg += g; sgx += g * h;
            gg[c] += gy[(size_t)r * C + c] * h;
            gb[c] += gy[(size_t)r * C + c];
        }
        for (int c = 0; c < C; c++) {
            double h = (x[(size_t)r * C + c] - m) * rs, g = gy[(size_t)r * C + c] * gamma[c];
            gx[(size_t)r * C + c] = rs * (g - sg / C - h * sgx / C);
        }
    }
    fvec Y(y.size(), NAN), M(rows, NAN), R(rows, NAN), GX(y.size(), NAN), GG(C, NAN), GB(C, NAN);
    unsigned wb = (unsigned)(((long long)rows * 32 + 255) / 256);
    LAUNCH(layernorm_fwd, d1(wb), d1(256), 0, x.data(), gamma.data(), beta.data(), Y.data(), M.data(), R.data(), rows, C, eps);
    std::string c = " " + std::to_string(rows) + "x" + std::to_string(C);
    check("layernorm y" + c, y, Y, 1e-4, 1e-5);
    check("layernorm mean" + c, mean, M, 1e-4, 1e-6);
    check("layernorm rstd" + c, rstd, R, 1e-4, 1e-5);
    int per = 128, chunks = std::max(1, (rows + per - 1) / per);
    fvec partial((size_t)2 * chunks * C, NAN);
    LAUNCH(layernorm_bwd_params_partial, d1((C + 31) / 32, chunks), d1(32, 8), 0, gy.data(), x.data(), M.data(), R.data(), partial.data(), rows, C, per);
    LAUNCH(column_sum_finalize, d1((C + 255) / 256), d1(256), 0, partial.data(), GG.data(), chunks, C);
    LAUNCH(column_sum_finalize, d1((C + 255) / 256), d1(256), 0, partial.data() + (size_t)chunks * C, GB.data(), chunks, C);
    LAUNCH(layernorm_bwd_dx, d1(wb), d1(256), 0, gy.data(), x.data(), gamma.data(), M.data(), R.data(), GX.data(), rows, C);
    check("layernorm gx" + c, gx, GX, 1e-4, 1e-4);
    check("layernorm ggamma" + c, gg, GG, 1e-4, 1e-4);
    check("layernorm gbeta" + c, gb, GB, 1e-4, 1e-4);
    // the one-pass kernel (V values per lane), in place on a copy of gy as Ops runs it, with few blocks so
    // warps take several rows, then the same column sums
    int V = C <= 128 ? 4 : C <= 256 ? 8 : C <= 384 ? 12 : C <= 512 ? 16 : C <= 768 ? 24 : 0;
    if (V == 0) return;
    for (int blocks : {1, 3, std::min(256, (rows + 7) / 8)}) {
        fvec G2 = gy, P2((size_t)2 * blocks * C, NAN), GG2(C, NAN), GB2(C, NAN);
        std::string b = c + " one pass, " + std::to_string(blocks) + " blocks";
#define LN_FUSED(v) LAUNCH(layernorm_bwd_fused_##v, d1(blocks), d1(256), 2 * C * 4, G2.data(), x.data(), gamma.data(), M.data(), R.data(), G2.data(), P2.data(), rows, C)
        if (V == 4) LN_FUSED(4); else if (V == 8) LN_FUSED(8); else if (V == 12) LN_FUSED(12); else if (V == 16) LN_FUSED(16); else LN_FUSED(24);
#undef LN_FUSED
        LAUNCH(column_sum_finalize, d1((C + 255) / 256), d1(256), 0, P2.data(), GG2.data(), blocks, C);
        LAUNCH(column_sum_finalize, d1((C + 255) / 256), d1(256), 0, P2.data() + (size_t)blocks * C, GB2.data(), blocks, C);
        check("layernorm gx" + b, gx, G2, 1e-4, 1e-4);
        check("layernorm ggamma" + b, gg, GG2, 1e-4, 1e-4);
        check("layernorm gbeta" + b, gb, GB2, 1e-4, 1e-4);
    }
}

// ------------------------------------------------------------------ elementwise

static void test_elementwise() {
    // a [2,3,4,5] + alpha * b [3,1,5] (strides 5,0,1 against a's dims)
    auto a = randn(120), b = randn(15);
    std::vector<double> ref(120), refm(120);
    for (int i0 = 0; i0 < 2; i0++) for (int i1 = 0; i1 < 3; i1++) for (int i2 = 0; i2 < 4; i2++) for (int i3 = 0; i3 < 5; i3++) {
        int i = ((i0 * 3 + i1) * 4 + i2) * 5 + i3;
        ref[i] = a[i] - 0.5 * b[i1 * 5 + i3];
        refm[i] = (double)a[i] * b[i1 * 5 + i3];
    }
    fvec out(120, NAN);
    DsDims bd = dims({2, 3, 4, 5}, {0, 5, 0, 1});
    LAUNCH(add_bcast, d1(2), d1(32), 0, a.data(), b.data(), -0.5f, out.data(), 120LL, bd);
    check("add_bcast", ref, out, 1e-6, 1e-6);
    LAUNCH(mul_bcast, d1(2), d1(32), 0, a.data(), b.data(), out.data(), 120LL, bd);
    check("mul_bcast", refm, out, 1e-6, 1e-6);
    for (int i = 0; i < 120; i++) { ref[i] = a[i] + 2.0 * a[(i * 7) % 120]; }
    fvec a2(120);
    for (int i = 0; i < 120; i++) a2[i] = a[(i * 7) % 120];
    LAUNCH(add_same, d1(3), d1(32), 0, a.data(), a2.data(), 2.f, out.data(), 120LL);
    check("add_same", ref, out, 1e-6, 1e-6);
    // addcmul_trailing: residual + branch * gamma[c] over [..., 24], bit for bit add(mul()), and in place on t1
    {
        auto res = randn(24 * 9), br = randn(24 * 9), gm = randn(24);
        std::vector<double> r2(24 * 9);
        for (int i = 0; i < 24 * 9; i++) { float p = br[i] * gm[i % 24]; r2[i] = (double)(float)(res[i] + p); }
        fvec o2(24 * 9, NAN);
        LAUNCH(addcmul_trailing, d1(2), d1(32), 0, res.data(), br.data(), gm.data(), o2.data(), 216LL, 24LL);
        check("addcmul_trailing", r2, o2, 0, 0);
        LAUNCH(addcmul_trailing, d1(1), d1(64), 0, res.data(), br.data(), gm.data(), br.data(), 216LL, 24LL);
        check("addcmul_trailing in place", r2, br, 0, 0);
    }

    size_t n = 1000;
    auto x = randn(n, 2.f), gy = randn(n);
    fvec o(n, NAN), g(n, NAN);
    std::vector<double> r(n), rg(n);
    LAUNCH(gelu_fwd, d1(2), d1(64), 0, x.data(), o.data(), (long long)n);
    for (size_t i = 0; i < n; i++) r[i] = 0.5 * x[i] * (1 + std::erf(x[i] / std::sqrt(2.0)));
    check("gelu", r, o, 1e-5, 1e-6);
    LAUNCH(gelu_bwd, d1(2), d1(64), 0, x.data(), gy.data(), g.data(), (long long)n);
    for (size_t i = 0; i < n; i++) {
        double h = 1e-4, xp = x[i] + h, xm = x[i] - h;
        double fp = 0.5 * xp * (1 + std::erf(xp / std::sqrt(2.0))), fm = 0.5 * xm * (1 + std::erf(xm / std::sqrt(2.0)));
        rg[i] = gy[i] * (fp - fm) / (2 * h);
    }
    check("gelu_bwd (finite differences)", rg, g, 1e-4, 1e-5);
    LAUNCH(relu_fwd, d1(2), d1(64), 0, x.data(), o.data(), (long long)n);
    for (size_t i = 0; i < n; i++) r[i] = x[i] > 0 ? x[i] : 0;
    check("relu", r, o, 0, 0);
    LAUNCH(relu_bwd, d1(2), d1(64), 0, x.data(), gy.data(), g.data(), (long long)n);
    for (size_t i = 0; i < n; i++) r[i] = x[i] > 0 ? gy[i] : 0;
    check("relu_bwd", r, g, 0, 0);
    LAUNCH(scale_f, d1(2), d1(64), 0, x.data(), 3.f, o.data(), (long long)n);
    for (size_t i = 0; i < n; i++) r[i] = 3.0 * x[i];
    check("scale", r, o, 1e-7, 0);
    fvec y = gy;
    LAUNCH(axpy_f, d1(2), d1(64), 0, -2.f, x.data(), y.data(), (long long)n);
    for (size_t i = 0; i < n; i++) r[i] = gy[i] - 2.0 * x[i];
    check("axpy", r, y, 1e-6, 1e-6);
    LAUNCH(fill_f, d1(2), d1(64), 0, o.data(), 7.5f, (long long)n);
    for (size_t i = 0; i < n; i++) r[i] = 7.5;
    check("fill", r, o, 0, 0);

    // swiglu: rows 6, H 7
    int R = 6, H = 7;
    auto x12 = randn((size_t)R * 2 * H), gs = randn((size_t)R * H);
    fvec so((size_t)R * H, NAN), sg((size_t)R * 2 * H, NAN);
    std::vector<double> sr((size_t)R * H), sgr((size_t)R * 2 * H);
    auto silu = [](double v) { return v / (1 + std::exp(-v)); };
    for (int rr = 0; rr < R; rr++) for (int h = 0; h < H; h++) {
        double x1 = x12[rr * 2 * H + h], x2 = x12[rr * 2 * H + H + h], e = 1e-4;
        sr[rr * H + h] = silu(x1) * x2;
        sgr[rr * 2 * H + h] = gs[rr * H + h] * x2 * (silu(x1 + e) - silu(x1 - e)) / (2 * e);
        sgr[rr * 2 * H + H + h] = gs[rr * H + h] * silu(x1);
    }
    LAUNCH(swiglu_fwd, d1(1), d1(64), 0, x12.data(), so.data(), (long long)R, H);
    check("swiglu", sr, so, 1e-5, 1e-6);
    LAUNCH(swiglu_bwd, d1(1), d1(64), 0, x12.data(), gs.data(), sg.data(), (long long)R, H);
    check("swiglu_bwd (finite differences)", sgr, sg, 1e-4, 1e-5);

    // flip, permute [2,3,4] -> perm (2,0,1): out [4,2,3], strides of x (12,4,1) permuted -> (1,12,4)
    auto p = randn(24);
    fvec f(24, NAN), pm(24, NAN);
    std::vector<double> fr(24), pr(24);
    for (int i = 0; i < 24; i++) fr[i] = p[(i / 4) * 4 + 3 - i % 4];
    LAUNCH(flip_last_dim, d1(1), d1(32), 0, (const unsigned*)p.data(), (unsigned*)f.data(), 24LL, 4);
    check("flip_last_dim", fr, f, 0, 0);
    for (int o0 = 0; o0 < 4; o0++) for (int o1 = 0; o1 < 2; o1++) for (int o2 = 0; o2 < 3; o2++)
        pr[(o0 * 2 + o1) * 3 + o2] = p[o1 * 12 + o2 * 4 + o0];
    LAUNCH(permute_u32, d1(1), d1(32), 0, (const unsigned*)p.data(), (unsigned*)pm.data(), 24LL, dims({4, 2, 3}, {1, 12, 4}));
    check("permute", pr, pm, 0, 0);

    // copy blocks: 3 rows of 4 from src stride 6 offset 1 into dst stride 5 offset 2, then accumulate
    auto src = randn(20), dst = randn(16);
    std::vector<double> cr(dst.begin(), dst.end());
    for (int rr = 0; rr < 3; rr++) for (int c = 0; c < 4; c++) cr[2 + rr * 5 + c] = src[1 + rr * 6 + c];
    fvec d2 = dst;
    LAUNCH(copy_blocks_u32, d1(1), d1(32), 0, (const unsigned*)(src.data() + 1), 6LL, (unsigned*)(d2.data() + 2), 5LL, 3LL, 4LL);
    check("copy_blocks", cr, d2, 0, 0);
    for (int rr = 0; rr < 3; rr++) for (int c = 0; c < 4; c++) cr[2 + rr * 5 + c] += src[1 + rr * 6 + c];
    LAUNCH(copy_blocks_add, d1(1), d1(32), 0, src.data() + 1, 6LL, d2.data() + 2, 5LL, 3LL, 4LL);
    check("copy_blocks accumulate", cr, d2, 1e-6, 1e-6);
}

static void test_reductions() {
    // x [4,3,5] summed to out [3,1]: kept dim 1 (stride 5), reduced dims 0 (15) and 2 (1)
    auto x = randn(60);
    std::vector<double> r(3, 0);
    for (int i = 0; i < 4; i++) for (int j = 0; j < 3; j++) for (int k = 0; k < 5; k++) r[j] += x[i * 15 + j * 5 + k];
    fvec o(3, NAN);
    LAUNCH(sum_to_thread, d1(1), d1(32), 0, x.data(), o.data(), 3LL, 20LL, dims({3}, {5}), dims({4, 5}, {15, 1}));
    check("sum_to_thread", r, o, 1e-5, 1e-5);
    std::fill(o.begin(), o.end(), NAN);
    LAUNCH(sum_to_block, d1(2), d1(64), 0, x.data(), o.data(), 3LL, 20LL, dims({3}, {5}), dims({4, 5}, {15, 1}));
    check("sum_to_block", r, o, 1e-5, 1e-5);
    // more reduced elements than one warp holds: x [7,8,20] summed to [8] (every warp has a partial),
    // 3 blocks of 3 warps each doing 2-3 outputs (block sums one after another)
    auto xb = randn(1120);
    std::vector<double> rb(8, 0);
    for (int i = 0; i < 7; i++) for (int j = 0; j < 8; j++) for (int k = 0; k < 20; k++) rb[j] += xb[i * 160 + j * 20 + k];
    fvec ob(8, NAN);
    LAUNCH(sum_to_block, d1(3), d1(96), 0, xb.data(), ob.data(), 8LL, 140LL, dims({8}, {20}), dims({7, 20}, {160, 1}));
    check("sum_to_block R=140, 3 warps, 3 blocks", rb, ob, 1e-5, 1e-5);
    // column sums of x [R, C] (a bias gradient): chunks of rows, a ragged last chunk and last 32 columns
    {
        int shapes[][3] = {{1000, 70, 128}, {37, 5, 256}, {2117, 384, 256}, {9, 33, 2}};
        for (auto& sh : shapes) {
            int R = sh[0], C = sh[1], per = sh[2], chunks = (R + per - 1) / per;
            auto xc = randn((size_t)R * C);
            std::vector<double> rc(C, 0);
            for (int r = 0; r < R; r++) for (int c = 0; c < C; c++) rc[c] += xc[(size_t)r * C + c];
            fvec part((size_t)chunks * C, NAN), oc(C, NAN);
            LAUNCH(sum_rows_partial, d1((C + 31) / 32, chunks), d1(32, 8), 0, xc.data(), part.data(), (long long)R, C, per);
            LAUNCH(column_sum_finalize, d1((C + 255) / 256), d1(256), 0, part.data(), oc.data(), chunks, C);
            // float sums of R unit-scale terms: rounding up to about R * 6e-8 * sqrt(R) absolute, far from any cancellation
            check("sum_rows_partial " + std::to_string(R) + "x" + std::to_string(C) + " by " + std::to_string(per), rc, oc, 1e-5, 1e-7 * R);
        }
    }
    // the 32-bit offsets against the 64-bit ones on 200 random descriptors
    {
        std::uniform_int_distribution<int> ud(1, 9), us(0, 50);
        std::vector<double> want;
        fvec got;
        for (int t = 0; t < 200; t++) {
            int rank = 1 + t % DS_MAX_RANK;
            DsDims d{};
            d.rank = rank;
            long long n = 1;
            for (int k = 0; k < rank; k++) { d.dims[k] = ud(rng); d.stride[k] = us(rng); n *= d.dims[k]; }
            for (long long i = 0; i < n; i += 1 + n / 97) { want.push_back((double)ds_offset(d, i)); got.push_back((float)ds_offset(d, (unsigned)i)); }
        }
        check("ds_offset 32-bit == 64-bit", want, got, 0, 0);
    }

    auto v = randn(5000);
    dvec<double> partial(8, NAN), tot(1, NAN);
    fvec f(1, NAN);
    double s = 0, ss = 0;
    for (float a : v) { s += a; ss += (double)a * a; }
    LAUNCH(sum_partial_d, d1(8), d1(64), 0, v.data(), 5000LL, 0, partial.data());
    LAUNCH(reduce_partials_d, d1(1), d1(64), 0, partial.data(), 8, tot.data(), f.data());
    check("sumAll", {s}, f, 1e-6, 1e-6);
    LAUNCH(sum_partial_d, d1(8), d1(64), 0, v.data(), 5000LL, 1, partial.data());
    LAUNCH(reduce_partials_d, d1(1), d1(64), 0, partial.data(), 8, tot.data(), (float*)nullptr);
    fvec tf = {(float)tot[0]};
    check("sumSquares", {ss}, tf, 1e-6, 0);

    // softmax over axis 1 of [2,5,3], over the last dim of [4,37], argmax over axis 1
    auto sx = randn(30);
    fvec so(30, NAN);
    std::vector<double> sr(30);
    ivec am(6, -1);
    std::vector<double> amr(6);
    for (int o0 = 0; o0 < 2; o0++) for (int in = 0; in < 3; in++) {
        double mx = -1e300, sum = 0; int arg = 0;
        for (int k = 0; k < 5; k++) { double val = sx[o0 * 15 + k * 3 + in]; if (val > mx) { mx = val; arg = k; } }
        for (int k = 0; k < 5; k++) sum += std::exp(sx[o0 * 15 + k * 3 + in] - mx);
        for (int k = 0; k < 5; k++) sr[o0 * 15 + k * 3 + in] = std::exp(sx[o0 * 15 + k * 3 + in] - mx) / sum;
        amr[o0 * 3 + in] = arg;
    }
    LAUNCH(softmax_axis, d1(1), d1(32), 0, sx.data(), so.data(), 2LL, 5, 3LL);
    check("softmax_axis", sr, so, 1e-5, 1e-7);
    LAUNCH(argmax_axis, d1(1), d1(32), 0, sx.data(), am.data(), 2LL, 5, 3LL);
    fvec amf(am.begin(), am.end());
    check("argmax_axis", amr, amf, 0, 0);
    auto lx = randn(4 * 37);
    fvec lo(4 * 37, NAN);
    std::vector<double> lr(4 * 37);
    for (int r0 = 0; r0 < 4; r0++) {
        double mx = -1e300, sum = 0;
        for (int k = 0; k < 37; k++) mx = std::max(mx, (double)lx[r0 * 37 + k]);
        for (int k = 0; k < 37; k++) sum += std::exp(lx[r0 * 37 + k] - mx);
        for (int k = 0; k < 37; k++) lr[r0 * 37 + k] = std::exp(lx[r0 * 37 + k] - mx) / sum;
    }
    LAUNCH(softmax_lastdim, d1(1), d1(128), 0, lx.data(), lo.data(), 4LL, 37);
    check("softmax_lastdim", lr, lo, 1e-5, 1e-7);

    // The largest value last and large (+100): without the max shift exp(100 - ~2) overflows float,
    // so a max loop that misses the last element gives inf/NaN instead of a probability near 1.
    for (int o0 = 0; o0 < 2; o0++) for (int in = 0; in < 3; in++) sx[o0 * 15 + 4 * 3 + in] = 100.f;
    for (int o0 = 0; o0 < 2; o0++) for (int in = 0; in < 3; in++) {
        double mx = -1e300, sum = 0;
        for (int k = 0; k < 5; k++) mx = std::max(mx, (double)sx[o0 * 15 + k * 3 + in]);
        for (int k = 0; k < 5; k++) sum += std::exp(sx[o0 * 15 + k * 3 + in] - mx);
        for (int k = 0; k < 5; k++) sr[o0 * 15 + k * 3 + in] = std::exp(sx[o0 * 15 + k * 3 + in] - mx) / sum;
    }
    std::fill(so.begin(), so.end(), NAN);
    LAUNCH(softmax_axis, d1(1), d1(32), 0, sx.data(), so.data(), 2LL, 5, 3LL);
    check("softmax_axis (largest value last, +100)", sr, so, 1e-5, 1e-7);
    for (int r0 = 0; r0 < 4; r0++) lx[r0 * 37 + 36] = 100.f;
    for (int r0 = 0; r0 < 4; r0++) {
        double mx = -1e300, sum = 0;
        for (int k = 0; k < 37; k++) mx = std::max(mx, (double)lx[r0 * 37 + k]);
        for (int k = 0; k < 37; k++) sum += std::exp(lx[r0 * 37 + k] - mx);
        for (int k = 0; k < 37; k++) lr[r0 * 37 + k] = std::exp(lx[r0 * 37 + k] - mx) / sum;
    }
    std::fill(lo.begin(), lo.end(), NAN);
    LAUNCH(softmax_lastdim, d1(1), d1(128), 0, lx.data(), lo.data(), 4LL, 37);
    check("softmax_lastdim (largest value last, +100)", lr, lo, 1e-5, 1e-7);
}

// ------------------------------------------------------------------ batchnorm

static void test_batchnorm(int B, int C, int HW) {
    long long n = (long long)B * HW;
    auto x = randn((size_t)B * C * HW), gamma = randn(C), beta = randn(C), gy = randn((size_t)B * C * HW);
    fvec rm = randn(C), rv(C, 1.5f);
    std::vector<double> mean(C), var(C), y(x.size()), gx(x.size()), gg(C), gb(C), rmr(C), rvr(C);
    float mom = 0.1f, eps = 1e-5f;
    for (int c = 0; c < C; c++) {
        double s = 0, v = 0;
        for (int b = 0; b < B; b++) for (int p = 0; p < HW; p++) s += x[(b * C + c) * HW + p];
        s /= n;
        for (int b = 0; b < B; b++) for (int p = 0; p < HW; p++) v += (x[(b * C + c) * HW + p] - s) * (x[(b * C + c) * HW + p] - s);
        v /= n;
        mean[c] = s; var[c] = v;
        rmr[c] = (1 - mom) * rm[c] + mom * s;
        rvr[c] = (1 - mom) * rv[c] + mom * (n > 1 ? v * n / (n - 1) : v);   // one value: no Bessel correction
        double rs = 1 / std::sqrt(v + eps), sg = 0, sgx = 0;
        for (int b = 0; b < B; b++) for (int p = 0; p < HW; p++) {
            int i = (b * C + c) * HW + p;
            double h = (x[i] - s) * rs;
            y[i] = h * gamma[c] + beta[c];
            sg += gy[i]; sgx += gy[i] * h;
        }
        gg[c] = sgx; gb[c] = sg;
        for (int b = 0; b < B; b++) for (int p = 0; p < HW; p++) {
            int i = (b * C + c) * HW + p;
            double h = (x[i] - s) * rs;
            gx[i] = gamma[c] * rs * (gy[i] - sg / n - h * sgx / n);
        }
    }
    fvec stats(2 * C, NAN), sm(C, NAN), sr(C, NAN), Y(x.size(), NAN), sums(2 * C, NAN), GX(x.size(), NAN), GG(C, NAN), GB(C, NAN);
    const std::string shp = " " + std::to_string(B) + "x" + std::to_string(C) + "x" + std::to_string(HW);
    const unsigned cg = (unsigned)(C + 31) / 32;
    fvec rv0 = rv, rm0 = rm;
    LAUNCH(bn_stats, d1(C), d1(64), 0, x.data(), B, C, (long long)HW, stats.data(), stats.data() + C);
    LAUNCH(bn_finalize, d1(cg), d1(32), 0, stats.data(), stats.data() + C, rm.data(), rv.data(), sm.data(), sr.data(), C, 1, mom, eps, n);
    LAUNCH(bn_apply, d1(2), d1(64), 0, x.data(), gamma.data(), beta.data(), sm.data(), sr.data(), Y.data(), C, (long long)HW, (long long)x.size());
    std::vector<double> rstdR(C);
    for (int c = 0; c < C; c++) rstdR[c] = 1 / std::sqrt(var[c] + eps);
    check("batchnorm mean" + shp, mean, sm, 1e-5, 1e-6);
    check("batchnorm rstd" + shp, rstdR, sr, 1e-4, 1e-6);
    check("batchnorm running mean" + shp, rmr, rm, 1e-5, 1e-6);
    check("batchnorm running var" + shp, rvr, rv, 1e-5, 1e-6);
    check("batchnorm y" + shp, y, Y, 1e-4, 1e-5);
    LAUNCH(bn_bwd_reduce, d1(C), d1(64), 0, gy.data(), x.data(), sm.data(), sr.data(), B, C, (long long)HW, sums.data(), GG.data(), GB.data());
    LAUNCH(bn_bwd_dx, d1(2), d1(64), 0, gy.data(), x.data(), gamma.data(), sm.data(), sr.data(), sums.data(), GX.data(), 1, B, C, (long long)HW);
    // n = 2: gx is a difference of nearly equal terms scaled by rstd, so float rounding shows at 5e-5
    check("batchnorm gx" + shp, gx, GX, 1e-4, n <= 2 ? 2e-4 : 1e-5);
    check("batchnorm ggamma" + shp, gg, GG, 1e-4, 1e-5);
    check("batchnorm gbeta" + shp, gb, GB, 1e-4, 1e-5);
    // Eval mode: statistics from the running ones, gx = gy * gamma * rstd, no affine (null gamma/beta).
    fvec em(C, NAN), er(C, NAN), EY(x.size(), NAN), EGX(x.size(), NAN);
    LAUNCH(bn_finalize, d1(cg), d1(32), 0, stats.data(), stats.data() + C, rm0.data(), rv0.data(), em.data(), er.data(), C, 0, mom, eps, n);
    LAUNCH(bn_apply, d1(3), d1(32), 0, x.data(), (const float*)nullptr, (const float*)nullptr, em.data(), er.data(), EY.data(), C, (long long)HW, (long long)x.size());
    LAUNCH(bn_bwd_dx, d1(3), d1(32), 0, gy.data(), x.data(), gamma.data(), em.data(), er.data(), sums.data(), EGX.data(), 0, B, C, (long long)HW);
    std::vector<double> ey(x.size()), egx(x.size());
    for (size_t i = 0; i < x.size(); i++) {
        int c = (int)(i / HW % C);
        double rs = 1 / std::sqrt((double)rv0[c] + eps);
        ey[i] = (x[i] - (double)rm0[c]) * rs;
        egx[i] = gy[i] * (double)gamma[c] * rs;
    }
    check("batchnorm eval y (no affine)" + shp, ey, EY, 1e-4, 1e-5);
    check("batchnorm eval gx" + shp, egx, EGX, 1e-4, 1e-5);
}

// ------------------------------------------------------------------ conv, resize (adjoint identities)

static double dot(const fvec& a, const fvec& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); i++) s += (double)a[i] * b[i];
    return s;
}

static void test_conv() {
    int cases[][8] = {{2, 3, 9, 11, 3, 3, 2, 1}, {1, 2, 28, 28, 14, 14, 14, 0}, {1, 2, 6, 7, 3, 2, 1, 2},
                      {2, 3, 10, 12, 3, 3, 2, 1},   // last input row/column read by no output position
                      {2, 2, 5, 6, 3, 3, 1, 0},     // stride 1: col2im's negative offsets divide evenly
                      {1, 3, 644, 644, 14, 14, 14, 0}};   // DINOv2 patch embedding at 644x644
    for (auto& c : cases) {
        int B = c[0], C = c[1], H = c[2], W = c[3], kh = c[4], kw = c[5], st = c[6], pad = c[7];
        int OH = (H + 2 * pad - kh) / st + 1, OW = (W + 2 * pad - kw) / st + 1;
        long long K = (long long)C * kh * kw;
        auto x = randn((size_t)B * C * H * W);
        fvec cols((size_t)B * OH * OW * K, NAN);
        std::vector<double> ref(cols.size());
        for (int b = 0; b < B; b++) for (int oy = 0; oy < OH; oy++) for (int ox = 0; ox < OW; ox++)
            for (int ch = 0; ch < C; ch++) for (int ky = 0; ky < kh; ky++) for (int kx = 0; kx < kw; kx++) {
                int iy = oy * st - pad + ky, ix = ox * st - pad + kx;
                double v = iy >= 0 && iy < H && ix >= 0 && ix < W ? x[((b * C + ch) * H + iy) * W + ix] : 0;
                ref[((size_t)(b * OH + oy) * OW + ox) * K + (ch * kh + ky) * kw + kx] = v;
            }
        LAUNCH(im2col_f, d1(4), d1(64), 0, x.data(), cols.data(), B, C, H, W, kh, kw, st, pad, OH, OW);
        std::string name = " " + std::to_string(kh) + "x" + std::to_string(kw) + " s" + std::to_string(st) + " p" + std::to_string(pad);
        check("im2col" + name, ref, cols, 0, 0);
        auto gc = randn(cols.size());
        fvec gx(x.size(), NAN);
        LAUNCH(col2im_f, d1(4), d1(64), 0, gc.data(), gx.data(), B, C, H, W, kh, kw, st, pad, OH, OW);
        double lhs = dot(cols, gc), rhs = dot(x, gx);   // <im2col(x), g> == <x, col2im(g)>
        fvec got = {(float)rhs};
        check("col2im adjoint" + name, {lhs}, got, 1e-5, 1e-4);
    }
}

static void test_resize() {
    // last: logits to 644x644 (the trainer's upsampling), and an image down to a patch grid
    int cases[][4] = {{7, 9, 3, 4}, {4, 4, 13, 10}, {5, 5, 5, 5}, {1, 3, 8, 1}, {3, 1, 1, 7}, {23, 17, 5, 6}, {46, 46, 644, 644}, {644, 483, 46, 35}};
    for (auto& c : cases) {
        int H = c[0], W = c[1], OH = c[2], OW = c[3], planes = 2;
        auto x = randn((size_t)planes * H * W);
        std::vector<double> ref((size_t)planes * OH * OW);
        // the source coordinate in float, as the kernel and PyTorch compute it (the weights then in double)
        auto src = [](int d, int in, int out, int& i0, int& i1, double& w) {
            float s = ((float)d + 0.5f) * ((float)in / (float)out) - 0.5f;
            if (s < 0) s = 0;
            i0 = (int)s; if (i0 > in - 1) i0 = in - 1;
            i1 = std::min(i0 + 1, in - 1);
            w = s - i0;
        };
        for (int p = 0; p < planes; p++) for (int oy = 0; oy < OH; oy++) for (int ox = 0; ox < OW; ox++) {
            int y0, y1, x0, x1; double wy, wx;
            src(oy, H, OH, y0, y1, wy); src(ox, W, OW, x0, x1, wx);
            auto at = [&](int yy, int xx) { return (double)x[(size_t)p * H * W + yy * W + xx]; };
            ref[((size_t)p * OH + oy) * OW + ox] = (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1)) + wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1));
        }
        fvec o(ref.size(), NAN);
        LAUNCH(resize_bilinear_fwd, d1(2), d1(64), 0, x.data(), o.data(), (long long)planes, H, W, OH, OW);
        std::string name = " " + std::to_string(H) + "x" + std::to_string(W) + "->" + std::to_string(OH) + "x" + std::to_string(OW);
        check("resize" + name, ref, o, 1e-5, 1e-6);
        auto go = randn(o.size());
        fvec gx(x.size(), NAN);   // the gather writes every element: no zeroing first
        LAUNCH(resize_bilinear_bwd, d1(2), d1(64), 0, go.data(), gx.data(), (long long)planes, H, W, OH, OW);
        fvec got = {(float)dot(x, gx)};
        check("resize backward adjoint" + name, {dot(o, go)}, got, 1e-5, 1e-5);
        // element by element against the scatter of each output pixel's four taps, in double
        std::vector<double> gref(x.size(), 0.0);
        for (int p = 0; p < planes; p++) for (int oy = 0; oy < OH; oy++) for (int ox = 0; ox < OW; ox++) {
            int y0, y1, x0, x1; double wy, wx;
            src(oy, H, OH, y0, y1, wy); src(ox, W, OW, x0, x1, wx);
            double gv = go[((size_t)p * OH + oy) * OW + ox];
            double* q = gref.data() + (size_t)p * H * W;
            q[y0 * W + x0] += (1 - wy) * (1 - wx) * gv; q[y0 * W + x1] += (1 - wy) * wx * gv;
            q[y1 * W + x0] += wy * (1 - wx) * gv;       q[y1 * W + x1] += wy * wx * gv;
        }
        check("resize backward gather" + name, gref, gx, 1e-5, 1e-4);   // sums of up to ~900 taps of unit-scale values
        fvec again(x.size(), NAN);   // deterministic: another launch shape gives the same bits
        LAUNCH(resize_bilinear_bwd, d1(3), d1(32), 0, go.data(), again.data(), (long long)planes, H, W, OH, OW);
        std::vector<double> gd(gx.begin(), gx.end());
        check("resize backward deterministic" + name, gd, again, 0, 0);
    }
}

// ------------------------------------------------------------------ cross entropy, adamw

// fd: gradient against finite differences of the loss (small shapes); otherwise against the analytic
// gradient w[y] * (softmax - onehot) / sum w (model size).
// bigLast: the last class's logit is +100 everywhere, so a max loop that misses it overflows exp.
// labels: MIXED kept, ignored and out-of-range labels; ALL_IGNORED; ONE_KEPT only the first pixel
// kept, with class weight 0.5, so the total weight lies in (0, 1].
enum class CeLabels { MIXED, ALL_IGNORED, ONE_KEPT };
static void test_cross_entropy(int B, int K, int P, bool weighted, CeLabels mode, bool fd = true, bool bigLast = false) {
    const bool allIgnored = mode == CeLabels::ALL_IGNORED;
    auto logits = randn((size_t)B * K * P, 2.f);
    if (bigLast)
        for (int b = 0; b < B; b++) for (int p = 0; p < P; p++) logits[((size_t)b * K + K - 1) * P + p] = 100.f;
    fvec w = randn(K);
    for (auto& v : w) v = std::fabs(v) + 0.1f;
    ivec labels((size_t)B * P);
    // kept labels 0..K-1; ignored: the ignore index, and the out-of-range -2, -1, K, K+1 (the edges included)
    std::uniform_int_distribution<int> u(0, 11);
    for (auto& l : labels) {
        int r = u(rng);
        l = mode != CeLabels::MIXED ? 255 : r < 7 ? r % K : r == 7 ? 255 : r == 8 ? -2 : r == 9 ? -1 : r == 10 ? K : K + 1;
    }
    if (mode == CeLabels::ONE_KEPT) { labels[0] = 1; w[1] = 0.5f; }
    auto loss_of = [&](const fvec& lg) {
        double sl = 0, sw = 0;
        for (int b = 0; b < B; b++) for (int p = 0; p < P; p++) {
            int y = labels[b * P + p];
            if (y == 255 || y < 0 || y >= K) continue;
            double mx = -1e300, s = 0;
            for (int k = 0; k < K; k++) mx = std::max(mx, (double)lg[(b * K + k) * P + p]);
            for (int k = 0; k < K; k++) s += std::exp(lg[(b * K + k) * P + p] - mx);
            double wy = weighted ? w[y] : 1;
            sl += wy * (std::log(s) + mx - lg[(b * K + y) * P + p]);
            sw += wy;
        }
        return sw > 0 ? sl / sw : 0.0;
    };
    dvec<double> partial(8, NAN), stats(2, NAN);
    fvec loss(1, NAN), g(logits.size(), NAN);
    const float* wp = weighted ? w.data() : nullptr;
    LAUNCH(ce_partial, d1(4), d1(64), 0, logits.data(), labels.data(), wp, (long long)B, K, (long long)P, 255, partial.data());
    LAUNCH(ce_finalize, d1(1), d1(64), 0, partial.data(), 4, loss.data(), stats.data());
    LAUNCH(ce_grad, d1(2), d1(64), 0, logits.data(), labels.data(), wp, (long long)B, K, (long long)P, 255, (const double*)stats.data(), g.data());
    std::string name = " " + std::to_string(B) + "x" + std::to_string(K) + "x" + std::to_string(P) +
                       (weighted ? " weighted" : "") + (allIgnored ? " all ignored" : "") + (mode == CeLabels::ONE_KEPT ? " one kept" : "") + (bigLast ? " largest last +100" : "");
    check("cross_entropy loss" + name, {loss_of(logits)}, loss, 1e-5, 1e-6);
    std::vector<double> ref(logits.size(), 0.0);
    if (fd) {
        for (size_t i = 0; i < logits.size(); i++) {
            auto lp = logits, lm = logits;
            lp[i] += 1e-2f; lm[i] -= 1e-2f;
            ref[i] = (loss_of(lp) - loss_of(lm)) / ((double)lp[i] - lm[i]);
        }
        check("cross_entropy glogits (finite differences)" + name, ref, g, 2e-3, 2e-5);
        return;
    }
    double sw = 0;
    for (int b = 0; b < B; b++) for (int p = 0; p < P; p++) {
        int y = labels[(size_t)b * P + p];
        if (y != 255 && y >= 0 && y < K) sw += weighted ? w[y] : 1;
    }
    for (int b = 0; b < B; b++) for (int p = 0; p < P; p++) {
        int y = labels[(size_t)b * P + p];
        if (y == 255 || y < 0 || y >= K || !(sw > 0)) continue;
        double mx = -1e300, se = 0, wy = weighted ? w[y] : 1;
        for (int k = 0; k < K; k++) mx = std::max(mx, (double)logits[((size_t)b * K + k) * P + p]);
        for (int k = 0; k < K; k++) se += std::exp(logits[((size_t)b * K + k) * P + p] - mx);
        for (int k = 0; k < K; k++)
            ref[((size_t)b * K + k) * P + p] = wy * (std::exp(logits[((size_t)b * K + k) * P + p] - mx) / se - (k == y)) / sw;
    }
    check("cross_entropy glogits (analytic)" + name, ref, g, 1e-4, 1e-9);
    // in place (glogits == logits, as Ops' upsampled cross-entropy backward runs it): the same bits
    fvec inplace = logits;
    LAUNCH(ce_grad, d1(2), d1(64), 0, inplace.data(), labels.data(), wp, (long long)B, K, (long long)P, 255, (const double*)stats.data(), inplace.data());
    std::vector<double> gd(g.begin(), g.end());
    check("cross_entropy glogits in place" + name, gd, inplace, 0, 0);
}

// confusion_update over [B, K, P] logits (a NaN and ties planted) against a host count, shared or global histogram
static void test_confusion(int B, int K, int P, int useShared, int blocks) {
    auto logits = randn((size_t)B * K * P);
    ivec labels((size_t)B * P);
    std::uniform_int_distribution<int> u(-1, K + 1);
    for (auto& l : labels) { int r = u(rng); l = r == K + 1 ? 255 : r; }
    logits[(size_t)(0 * K + K - 1) * P + 0] = NAN;                      // pixel 0: NaN in the last class wins
    if (P > 1) logits[(size_t)(0 * K + 1) * P + 1] = logits[(size_t)(0 * K + 0) * P + 1] = 50.f;   // pixel 1: tie -> class 0
    std::vector<double> ref((size_t)K * K, 0.0);
    for (int b = 0; b < B; b++) for (int p = 0; p < P; p++) {
        int y = labels[(size_t)b * P + p];
        if (y == 255 || y < 0 || y >= K) continue;
        int arg = 0; float best = logits[(size_t)b * K * P + p];
        for (int k = 1; k < K; k++) {
            float v = logits[((size_t)b * K + k) * P + p];
            if (v > best || (std::isnan(v) && !std::isnan(best))) { best = v; arg = k; }
        }
        ref[(size_t)y * K + arg] += 1;
    }
    dvec<unsigned int> counts((size_t)K * K, 7u);   // added to, not cleared
    for (auto& r : ref) r += 7;
    LAUNCH(confusion_update, d1(blocks), d1(64), useShared ? K * K * 4 : 0, logits.data(), labels.data(), (long long)B, K,
           (long long)P, 255, useShared, counts.data());
    fvec got(counts.begin(), counts.end());
    check("confusion_update " + std::to_string(B) + "x" + std::to_string(K) + "x" + std::to_string(P) + (useShared ? " shared" : " global"),
          ref, got, 0, 0);
}

static void test_adamw(size_t n) {
    auto p = randn(n), m = randn(n, 0.1f), g = randn(n);
    fvec v(n);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (auto& a : v) a = std::fabs(nd(rng)) * 0.01f;
    float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.05f;
    int step = 3;
    double bc1 = 1 - std::pow(b1, step), bc2 = 1 - std::pow(b2, step);
    std::vector<double> pr(n), mr(n), vr(n);
    for (size_t i = 0; i < n; i++) {
        double pp = p[i] * (1 - (double)lr * wd);
        mr[i] = b1 * (double)m[i] + (1 - b1) * (double)g[i];
        vr[i] = b2 * (double)v[i] + (1 - b2) * (double)g[i] * g[i];
        pr[i] = pp - lr * (mr[i] / bc1) / (std::sqrt(vr[i] / bc2) + eps);
    }
    fvec p2 = p, m2 = m, v2 = v;
    LAUNCH(adamw_step, d1(2), d1(64), 0, p.data(), g.data(), m.data(), v.data(), (long long)n, lr, b1, b2, eps, wd,
               (float)(lr / bc1), (float)std::sqrt(bc2));
    check("adamw param", pr, p, 1e-6, 1e-7);
    check("adamw m", mr, m, 1e-6, 1e-7);
    check("adamw v", vr, v, 1e-5, 1e-9);
    // the same step with its scalars read from device memory (a captured graph's AdamW): the same bits
    fvec scalars = {lr, (float)(lr / bc1), (float)std::sqrt(bc2)};
    LAUNCH(adamw_step_scalars, d1(3), d1(32), 0, p2.data(), g.data(), m2.data(), v2.data(), (long long)n, scalars.data(),
           b1, b2, eps, wd);
    check("adamw_step_scalars param = adamw_step's", std::vector<double>(p.begin(), p.end()), p2, 0, 0);
    check("adamw_step_scalars m = adamw_step's", std::vector<double>(m.begin(), m.end()), m2, 0, 0);
    check("adamw_step_scalars v = adamw_step's", std::vector<double>(v.begin(), v.end()), v2, 0, 0);
}

// ------------------------------------------------------------------ elementwise at model size

// DINOv2-S MLP activations [2117, 1536]: bias add (broadcast), GELU, sum of squares; softmax over
// 150 classes for 2117 rows (one warp per row), layernorm rows at width 384.
static void test_elementwise_model_size() {
    const long long R = 2117, C = 1536, n = R * C;
    auto a = randn((size_t)n), b = randn((size_t)C);
    fvec out((size_t)n, NAN), g((size_t)n, NAN);
    unsigned blocks = (unsigned)std::min<long long>((n + 255) / 256, 4096);
    LAUNCH(add_bcast, d1(blocks), d1(256), 0, a.data(), b.data(), 1.f, out.data(), n, dims({R, C}, {0, 1}));
    std::vector<double> ref((size_t)n);
    for (long long i = 0; i < n; i++) ref[i] = (double)a[i] + b[i % C];
    check("add_bcast 2117x1536", ref, out, 1e-6, 1e-6);
    LAUNCH(gelu_fwd, d1(blocks), d1(256), 0, a.data(), g.data(), n);
    for (long long i = 0; i < n; i++) ref[i] = 0.5 * a[i] * (1 + std::erf(a[i] / std::sqrt(2.0)));
    check("gelu 2117x1536", ref, g, 1e-5, 1e-6);
    dvec<double> partial(512, NAN), tot(1, NAN);
    fvec f(1, NAN);
    LAUNCH(sum_partial_d, d1(512), d1(256), 0, a.data(), n, 1, partial.data());
    LAUNCH(reduce_partials_d, d1(1), d1(512), 0, partial.data(), 512, tot.data(), f.data());
    double ss = 0;
    for (long long i = 0; i < n; i++) ss += (double)a[i] * a[i];
    check("sumSquares 2117x1536", {ss}, f, 1e-6, 0);
    const int K = 150;
    auto lx = randn((size_t)R * K);
    fvec lo(lx.size(), NAN);
    std::vector<double> lr(lx.size());
    for (long long r = 0; r < R; r++) {
        double mx = -1e300, sum = 0;
        for (int k = 0; k < K; k++) mx = std::max(mx, (double)lx[r * K + k]);
        for (int k = 0; k < K; k++) sum += std::exp(lx[r * K + k] - mx);
        for (int k = 0; k < K; k++) lr[r * K + k] = std::exp(lx[r * K + k] - mx) / sum;
    }
    LAUNCH(softmax_lastdim, d1((unsigned)((R * 32 + 255) / 256)), d1(256), 0, lx.data(), lo.data(), R, K);
    check("softmax_lastdim 2117x150", lr, lo, 1e-5, 1e-7);
}

// ------------------------------------------------------------------ the emulator's own checks

// Kernels with planted misuse: each must be reported (or, for races, give a wrong result).
static void emu_t_war_race(float* out) {   // the barrier after the read is missing
    EMU_SHARED(float, part, [32]);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    float acc = 0;
    for (int round = 0; round < 2; round++) {
        if (lane == 0) part[warp] = (float)(warp + 10 * round);
        __syncthreads();
        acc += part[(warp + 1) % nw];
    }
    out[blockIdx.x * blockDim.x + threadIdx.x] = acc;
}
static void emu_t_barrier_after_exit(float* out) {
    if (threadIdx.x >= 32) return;
    __syncthreads();
    out[threadIdx.x] = 1.f;
}
static void emu_t_barrier_two_sites(float* out) {
    if (threadIdx.x < 32) { __syncthreads(); }
    else { __syncthreads(); }
    out[threadIdx.x] = 1.f;
}
static void emu_t_shfl_exited_lane(float* out) {
    if ((threadIdx.x & 31) >= 16) return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.f, 1);
}
static void emu_t_shfl_outside_mask(float* out) {
    int lane = threadIdx.x & 31;
    if (lane < 16) out[threadIdx.x] = __shfl_sync(0x0000ffffu, (float)lane, 20);
}
static void emu_t_shfl_partial(float* out) {   // legal: half-warp masks, down/up with width 8
    int lane = threadIdx.x & 31;
    float v = (float)lane;
    if (lane < 16) v = __shfl_xor_sync(0x0000ffffu, v, 1);
    else v = __shfl_xor_sync(0xffff0000u, v, 2);
    float d = __shfl_down_sync(0xffffffffu, v, 3, 8), u = __shfl_up_sync(0xffffffffu, v, 1);
    __syncwarp();
    out[threadIdx.x] = v + 100.f * d + 10000.f * u;
}
static void emu_t_oob_write(float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) out[i] = 1.f;   // one past the end
}
static void emu_t_oob_read(const float* x, float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = x[i + 1];
}
static void emu_t_dyn_oob(float* out, int n) {
    float* s = emu_dyn_shared<float>();
    s[threadIdx.x] = 1.f;   // launched with n floats of dynamic shared memory < blockDim.x
    out[threadIdx.x] = (float)n;
}
static void emu_t_poison(float* out) {   // reads static shared memory no thread wrote
    EMU_SHARED(float, s, [64]);
    if (blockIdx.x == 0) s[threadIdx.x] = 5.f;
    __syncthreads();
    out[blockIdx.x * blockDim.x + threadIdx.x] = s[threadIdx.x];
}
static void emu_t_big_static(float* out) {
    EMU_SHARED(float, big, [12289]);   // 49156 bytes > 48 KiB
    big[threadIdx.x] = 1.f;
    out[threadIdx.x] = big[threadIdx.x];
}
static void emu_t_atomic(float* out) { atomicAdd(out, 1.f); }
static void emu_t_spin(float* out, int n) {
    while (n > 0) out[0] = out[0] + 1.f;   // never ends: the watchdog must stop it
}

static void expect_error(const std::string& what, int want, int got, const char* mustContain = "") {
    std::string e = emu_last_error();
    bool named = e.find(mustContain) != std::string::npos;
    if (got == want && named) std::printf("ok   emulator %s (error %d: %s)\n", what.c_str(), got, e.c_str());
    else { failures++; std::printf("FAIL emulator %s: expected error %d naming '%s', got %d: %s\n", what.c_str(), want, mustContain, got, e.c_str()); }
}

static void test_emulator(const char* self) {
    fvec out(256, 0.f), x(256, 1.f);
    // A write-after-read race between warps is a wrong result every time (any warp order).
    for (int rep = 0; rep < 3; rep++) {
        std::fill(out.begin(), out.end(), 0.f);
        int rc = emu_launch_checked("emu_t_war_race", emu_t_war_race, d1(2), d1(128), 0, 0, out.data());
        int wrong = 0;
        for (int t = 0; t < 256; t++) wrong += out[t] != (float)(2 * ((t % 128 / 32 + 1) % 4) + 10);
        if (rc == 0 && wrong > 0) std::printf("ok   emulator exposes a missing write-after-read barrier (%d of 256 wrong)\n", wrong);
        else { failures++; std::printf("FAIL emulator did not expose a missing barrier (rc %d)\n", rc); }
    }
    expect_error("barrier after exit", EMU_ERR_LAUNCH_FAILED,
                 emu_launch_checked("emu_t_barrier_after_exit", emu_t_barrier_after_exit, d1(1), d1(64), 0, 0, out.data()),
                 "emu_t_barrier_after_exit block (0,0,0) thread (");
    expect_error("barriers at two call sites", EMU_ERR_LAUNCH_FAILED,
                 emu_launch_checked("emu_t_barrier_two_sites", emu_t_barrier_two_sites, d1(1), d1(64), 0, 0, out.data()), "__syncthreads");
    expect_error("shuffle mask naming an exited lane", EMU_ERR_LAUNCH_FAILED,
                 emu_launch_checked("emu_t_shfl_exited_lane", emu_t_shfl_exited_lane, d1(1), d1(32), 0, 0, out.data()), "has exited");
    expect_error("shuffle reading outside its mask", EMU_ERR_LAUNCH_FAILED,
                 emu_launch_checked("emu_t_shfl_outside_mask", emu_t_shfl_outside_mask, d1(1), d1(32), 0, 0, out.data()), "outside the mask");
    {
        int rc = emu_launch_checked("emu_t_shfl_partial", emu_t_shfl_partial, d1(1), d1(32), 0, 0, out.data());
        std::vector<double> ref(32);
        fvec got(out.begin(), out.begin() + 32);
        double v[32];
        for (int l = 0; l < 32; l++) v[l] = l < 16 ? (l ^ 1) : (l ^ 2);
        for (int l = 0; l < 32; l++) {
            int dl = (l & 7) + 3 < 8 ? l + 3 : l, ul = l >= 1 ? l - 1 : l;
            ref[l] = v[l] + 100 * v[dl] + 10000 * v[ul];
        }
        if (rc != 0) { failures++; std::printf("FAIL emulator partial-mask shuffles: %s\n", emu_last_error()); }
        else check("emulator partial-mask, down and up shuffles", ref, got, 0, 0);
    }
    fvec small(100, 0.f), odd(3, 0.f);
    expect_error("out-of-bounds write (guard page)", EMU_ERR_ILLEGAL_ADDRESS,
                 emu_launch_checked("emu_t_oob_write", emu_t_oob_write, d1(4), d1(32), 0, 0, small.data(), 100), "write at");
    expect_error("out-of-bounds read (guard page)", EMU_ERR_ILLEGAL_ADDRESS,
                 emu_launch_checked("emu_t_oob_read", emu_t_oob_read, d1(4), d1(32), 0, 0, (const float*)small.data(), x.data(), 100), "read at");
    expect_error("write into an allocation's slack (canary)", EMU_ERR_LAUNCH_FAILED,
                 emu_launch_checked("emu_t_oob_write", emu_t_oob_write, d1(1), d1(32), 0, 0, odd.data(), 3), "past its end");
    expect_error("dynamic shared memory overrun", EMU_ERR_ILLEGAL_ADDRESS,
                 emu_launch_checked("emu_t_dyn_oob", emu_t_dyn_oob, d1(1), d1(64), 32 * 4, 0, out.data(), 32), "dynamic shared memory");
    {
        std::fill(out.begin(), out.end(), 0.f);
        int rc = emu_launch_checked("emu_t_poison", emu_t_poison, d1(4), d1(64), 0, 0, out.data());
        int nan = 0, five = 0;
        for (int t = 0; t < 256; t++) { nan += std::isnan(out[t]); five += out[t] == 5.f; }
        if (rc == 0 && five == 64 && nan == 192) std::printf("ok   emulator poisons shared memory per block\n");
        else { failures++; std::printf("FAIL emulator shared-memory poisoning (rc %d, %d fives, %d NaN)\n", rc, five, nan); }
    }
    expect_error("static shared memory over 48 KiB", EMU_ERR_OUT_OF_RESOURCES,
                 emu_launch_checked("emu_t_big_static", emu_t_big_static, d1(1), d1(32), 0, 0, out.data()), "static shared");
    expect_error("1026 threads per block", EMU_ERR_OUT_OF_RESOURCES,
                 emu_launch_checked("emu_t_atomic", emu_t_atomic, d1(1), d1(513, 2), 0, 0, out.data()), "1024");
    expect_error("block z 65", EMU_ERR_INVALID_VALUE, emu_launch_checked("emu_t_atomic", emu_t_atomic, d1(1), d1(1, 1, 65), 0, 0, out.data()), "block");
    expect_error("grid y 65536", EMU_ERR_INVALID_VALUE, emu_launch_checked("emu_t_atomic", emu_t_atomic, d1(1, 65536), d1(1), 0, 0, out.data()), "grid");
    expect_error("zero grid", EMU_ERR_INVALID_VALUE, emu_launch_checked("emu_t_atomic", emu_t_atomic, d1(0), d1(1), 0, 0, out.data()), "zero");
    expect_error("dynamic shared memory over 48 KiB without opt-in", EMU_ERR_OUT_OF_RESOURCES,
                 emu_launch_checked("emu_t_atomic", emu_t_atomic, d1(1), d1(1), 48 * 1024 + 4, 0, out.data()), "limit");
    expect_error("opt-in above 227 KiB", EMU_ERR_INVALID_VALUE,
                 emu_launch_checked("emu_t_atomic", emu_t_atomic, d1(1), d1(1), 0, 228 * 1024, out.data()), "maximum");
    std::vector<float> host(4, 0.f);
    expect_error("host pointer argument", EMU_ERR_ILLEGAL_ADDRESS,
                 emu_launch_checked("emu_t_atomic", emu_t_atomic, d1(1), d1(1), 0, 0, host.data()), "not a pointer into device memory");
    {
        out[0] = 0.f;
        int rc = emu_launch_checked("emu_t_atomic", emu_t_atomic, d1(300), d1(1, 32, 4), 100 * 1024, 100 * 1024, out.data());
        if (rc == 0 && out[0] == 300.f * 128) std::printf("ok   emulator atomicAdd over 300 blocks on several workers, 100 KiB opt-in shared memory\n");
        else { failures++; std::printf("FAIL emulator atomicAdd: rc %d, %g (%s)\n", rc, out[0], emu_last_error()); }
    }
    // The watchdog: a child process spins in a kernel; it must end with status 124, naming the kernel.
    {
        int pipefd[2];
        if (pipe(pipefd) != 0) { failures++; std::printf("FAIL emulator watchdog: pipe\n"); return; }
        pid_t pid = fork();
        if (pid == 0) {
            dup2(pipefd[1], 2);
            close(pipefd[0]);
            setenv("DSEMU_LAUNCH_TIMEOUT", "1", 1);
            execl(self, self, "--spin", (char*)nullptr);
            _exit(99);
        }
        close(pipefd[1]);
        std::string err;
        char buf[512];
        ssize_t k;
        while ((k = read(pipefd[0], buf, sizeof buf)) > 0) err.append(buf, (size_t)k);
        close(pipefd[0]);
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 124 && err.find("emu_t_spin") != std::string::npos && err.find("spinning") != std::string::npos)
            std::printf("ok   emulator watchdog ends a spinning launch (status 124, names the kernel)\n");
        else { failures++; std::printf("FAIL emulator watchdog: status %d, stderr: %s\n", st, err.c_str()); }
    }
}

// ------------------------------------------------------------------ tensor cores (tc.cuh on the emulator)

using u16vec = dvec<uint16_t>;
using u32vec = dvec<uint32_t>;

static double bf(float x) { return emu_bf162f(emu_f2bf16_rn(x)); }
static double tf(float x) { return emu_tf322f(emu_f2tf32_rna(x)); }

// One mma.m16n8k16 (bf16) per warp with the fragments gathered from global memory by the PTX ISA's
// formulas, written out independently of the emulator's own tables: A 16x16 row-major, B 16x8 [k][n].
static void emu_t_mma_bf16(const uint16_t* A, const uint16_t* B, const float* C, float* D) {
    const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
    uint32_t a[4], b[2];
    float c[4], d[4];
    for (int r = 0; r < 4; r++) {   // a_{2r}, a_{2r+1}: rows g | g+8 | g | g+8, cols 2t.. | 2t.. | 2t+8.. | 2t+8..
        int row = g + (r & 1) * 8, col = 2 * t + (r >> 1) * 8;
        a[r] = (uint32_t)A[row * 16 + col] | (uint32_t)A[row * 16 + col + 1] << 16;
    }
    for (int r = 0; r < 2; r++) b[r] = (uint32_t)B[(2 * t + 8 * r) * 8 + g] | (uint32_t)B[(2 * t + 8 * r + 1) * 8 + g] << 16;
    for (int i = 0; i < 4; i++) c[i] = C[(g + (i >> 1) * 8) * 8 + 2 * t + (i & 1)];
    tc_mma_bf16_m16n8k16(d, a, b, c);
    for (int i = 0; i < 4; i++) D[(g + (i >> 1) * 8) * 8 + 2 * t + (i & 1)] = d[i];
}
// The same for mma.m16n8k8 (tf32): A 16x8 row-major, B 8x8 [k][n], operands already tf32 bit patterns.
static void emu_t_mma_tf32(const uint32_t* A, const uint32_t* B, const float* C, float* D) {
    const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
    uint32_t a[4] = {A[g * 8 + t], A[(g + 8) * 8 + t], A[g * 8 + t + 4], A[(g + 8) * 8 + t + 4]};
    uint32_t b[2] = {B[t * 8 + g], B[(t + 4) * 8 + g]};
    float c[4], d[4];
    for (int i = 0; i < 4; i++) c[i] = C[(g + (i >> 1) * 8) * 8 + 2 * t + (i & 1)];
    tc_mma_tf32_m16n8k8(d, a, b, c);
    for (int i = 0; i < 4; i++) D[(g + (i >> 1) * 8) * 8 + 2 * t + (i & 1)] = d[i];
}
// ldmatrix from a 32x8 b16 table in shared memory (matrix m = rows 8m..8m+7); each lane writes its
// registers for .x1, .x2, .x4 and .x4.trans: out[lane*11 + ...].
static void emu_t_ldmatrix(const uint16_t* src, uint32_t* out) {
    EMU_SHARED(uint16_t, tab, [32][8]);
    const int lane = threadIdx.x;
    for (int c = 0; c < 8; c++) tab[lane][c] = src[lane * 8 + c];
    __syncwarp();
    uint32_t r1[1], r2[2], r4[4], rt[4];
    tc_ldmatrix_x1(r1, &tab[lane & 7][0]);
    tc_ldmatrix_x2(r2, &tab[lane & 15][0]);
    tc_ldmatrix_x4(r4, &tab[lane][0]);
    tc_ldmatrix_x4_trans(rt, &tab[lane][0]);
    uint32_t* o = out + lane * 11;
    o[0] = r1[0];
    for (int i = 0; i < 2; i++) o[1 + i] = r2[i];
    for (int i = 0; i < 4; i++) { o[3 + i] = r4[i]; o[7 + i] = rt[i]; }
}
static void emu_t_ldmatrix_misaligned(uint32_t* out) {
    EMU_SHARED(uint16_t, tab, [32][16]);
    tab[threadIdx.x][0] = 0;
    __syncwarp();
    uint32_t r[1];
    tc_ldmatrix_x1(r, &tab[threadIdx.x & 7][1]);   // rows start 2 bytes in: not 16-byte aligned
    out[threadIdx.x] = r[0];
}
static void emu_t_mma_half_warp(float* out) {
    uint32_t a[4] = {0, 0, 0, 0}, b[2] = {0, 0};
    float c[4] = {0, 0, 0, 0}, d[4];
    if (threadIdx.x < 16) tc_mma_bf16_m16n8k16(d, a, b, c);   // not .aligned: half the warp
    out[threadIdx.x] = 1.f;
}
// cp.async of 64 floats into shared memory: `early` reads the destination before wait_group (a bug:
// the emulator must show the poisoned old contents), otherwise after wait_group 0 and a barrier.
static void emu_t_cp_async(const float* src, float* out, int early) {
    EMU_SHARED(float, s, [64]);
    const int t = threadIdx.x;   // 16 threads x 4 floats
    tc_cp_async16(&s[4 * t], src + 4 * t, t == 15 ? 8 : 16);   // the last copy reads 2 floats, zero-fills 2
    tc_cp_async_commit();
    if (early) { for (int i = 0; i < 4; i++) out[4 * t + i] = s[4 * t + i]; }
    tc_cp_async_wait<0>();
    __syncthreads();
    if (!early) for (int i = 0; i < 4; i++) out[4 * t + i] = s[63 - (4 * t + i)];
}
static void emu_t_cp_async_misaligned(const float* src, float* out) {
    EMU_SHARED(float, s, [64]);
    tc_cp_async16(&s[4 * threadIdx.x + 1], src, 16);
    tc_cp_async_commit();
    tc_cp_async_wait<0>();
    out[threadIdx.x] = s[0];
}

static void test_tensor_core_instructions() {
    // mma bf16: random bf16 operands, the reference sums the same bf16 values in double
    {
        std::normal_distribution<float> nd(0.f, 1.f);
        u16vec A(256), B(128);
        fvec C(128), D(128, NAN);
        std::vector<double> ref(128);
        for (auto& v : A) v = emu_f2bf16_rn(nd(rng));
        for (auto& v : B) v = emu_f2bf16_rn(nd(rng));
        for (auto& v : C) v = nd(rng);
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 8; n++) {
                double s = C[m * 8 + n];
                for (int k = 0; k < 16; k++) s += (double)emu_bf162f(A[m * 16 + k]) * emu_bf162f(B[k * 8 + n]);
                ref[m * 8 + n] = s;
            }
        LAUNCH(emu_t_mma_bf16, d1(1), d1(32), 0, (const uint16_t*)A.data(), (const uint16_t*)B.data(), (const float*)C.data(), D.data());
        check("tensor core mma.m16n8k16 bf16 fragments (PTX ISA layout)", ref, D, 1e-6, 1e-6);
    }
    // mma tf32: operands with nonzero low mantissa bits, which the hardware ignores
    {
        std::normal_distribution<float> nd(0.f, 1.f);
        u32vec A(128), B(64);
        fvec C(128), D(128, NAN);
        std::vector<double> ref(128);
        auto bits = [](float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; };
        for (auto& v : A) v = bits(nd(rng));
        for (auto& v : B) v = bits(nd(rng));
        for (auto& v : C) v = nd(rng);
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 8; n++) {
                double s = C[m * 8 + n];
                for (int k = 0; k < 8; k++) s += (double)emu_tf322f(A[m * 8 + k]) * emu_tf322f(B[k * 8 + n]);
                ref[m * 8 + n] = s;
            }
        LAUNCH(emu_t_mma_tf32, d1(1), d1(32), 0, (const uint32_t*)A.data(), (const uint32_t*)B.data(), (const float*)C.data(), D.data());
        check("tensor core mma.m16n8k8 tf32 fragments (PTX ISA layout)", ref, D, 1e-6, 1e-6);
    }
    // ldmatrix: lane l holds row l/4, columns 2(l%4), 2(l%4)+1 of each matrix (.trans: of its transpose)
    {
        u16vec src(256);
        for (int i = 0; i < 256; i++) src[i] = (uint16_t)(i * 7 + 3);
        u32vec out(32 * 11, 0xdeadbeefu);
        LAUNCH(emu_t_ldmatrix, d1(1), d1(32), 0, (const uint16_t*)src.data(), out.data());
        int wrong = 0;
        auto at = [&](int m, int r, int c) { return (uint32_t)src[(8 * m + r) * 8 + c]; };
        for (int l = 0; l < 32; l++) {
            const int g = l >> 2, t = l & 3;
            const uint32_t* o = out.data() + l * 11;
            auto pair = [&](int m) { return at(m, g, 2 * t) | at(m, g, 2 * t + 1) << 16; };
            auto tpair = [&](int m) { return at(m, 2 * t, g) | at(m, 2 * t + 1, g) << 16; };
            wrong += o[0] != pair(0);
            for (int i = 0; i < 2; i++) wrong += o[1 + i] != pair(i);
            for (int i = 0; i < 4; i++) wrong += (o[3 + i] != pair(i)) + (o[7 + i] != tpair(i));
        }
        if (wrong == 0) std::printf("ok   tensor core ldmatrix .x1 .x2 .x4 .x4.trans (PTX ISA layout)\n");
        else { failures++; std::printf("FAIL tensor core ldmatrix: %d registers wrong\n", wrong); }
    }
    // cp.async: complete after wait_group; before it the destination still holds the poison
    {
        fvec src = randn(64), out(64, 0.f);
        LAUNCH(emu_t_cp_async, d1(1), d1(16), 0, (const float*)src.data(), out.data(), 0);
        std::vector<double> ref(64);
        for (int i = 0; i < 64; i++) ref[i] = i < 2 ? 0.0 : src[63 - i];   // 62, 63: zero-filled
        check("tensor core cp.async + wait_group (zero fill)", ref, out, 0, 0);
        std::fill(out.begin(), out.end(), 0.f);
        int rc = emu_launch_checked("emu_t_cp_async", emu_t_cp_async, d1(1), d1(16), 0, 0, (const float*)src.data(), out.data(), 1);
        int nan = 0;
        for (float v : out) nan += std::isnan(v);
        if (rc == 0 && nan == 64) std::printf("ok   emulator exposes a read before cp.async.wait_group (64 of 64 poisoned)\n");
        else { failures++; std::printf("FAIL emulator: a read before cp.async.wait_group saw data (rc %d, %d NaN)\n", rc, nan); }
    }
    fvec out(64, 0.f), src = randn(64);
    u32vec uout(32);
    expect_error("ldmatrix row address not 16-byte aligned", EMU_ERR_LAUNCH_FAILED,
                 emu_launch_checked("emu_t_ldmatrix_misaligned", emu_t_ldmatrix_misaligned, d1(1), d1(32), 0, 0, uout.data()), "16-byte aligned");
    expect_error("mma by half a warp", EMU_ERR_LAUNCH_FAILED,
                 emu_launch_checked("emu_t_mma_half_warp", emu_t_mma_half_warp, d1(1), d1(32), 0, 0, out.data()), "never completes");
    expect_error("cp.async to a misaligned shared address", EMU_ERR_MISALIGNED,
                 emu_launch_checked("emu_t_cp_async_misaligned", emu_t_cp_async_misaligned, d1(1), d1(16), 0, 0, (const float*)src.data(), out.data()), "not 16-byte aligned");
}

// Every value must be a bf16 number (the low 16 bits of its float zero): the rounding took place.
static void check_bf16_values(const std::string& what, const fvec& got) {
    for (size_t i = 0; i < got.size(); i++) {
        uint32_t u;
        std::memcpy(&u, &got[i], 4);
        if (u & 0xffffu) {
            failures++;
            std::printf("FAIL %s: element %zu = %.9g is not a bf16 value\n", what.c_str(), i, got[i]);
            return;
        }
    }
}

// The linear epilogues of the GEMM kernels (tc.cuh's TcEpilogue), checked exactly against the same
// kernel's plain output v = alpha * acc + beta * C (the sum order does not change between launches):
// BIAS_BF16: bf16(v + bias[c]) (Backend.linear under autocast); GELU_AUX: aux = bf16(v + bias[c]),
// out = gelu(aux) (linearGelu); SCALED_RESIDUAL: residual + bf16(v + bias[c]) * gamma[c] (linearScaled),
// each operation rounded to float as written here (ISO C++: no contraction into an FMA).
enum class TcEpi { NONE, BIAS_BF16, GELU_AUX, SCALED_RESIDUAL };

struct EpiData {
    fvec bias, gamma, residual, aux;
    TcEpi kind = TcEpi::NONE;
    EpiData(TcEpi k, int N, size_t cElems) : kind(k) {
        if (k == TcEpi::NONE) return;
        bias = randn((size_t)N);
        if (k == TcEpi::GELU_AUX) aux = fvec(cElems, NAN);
        if (k == TcEpi::SCALED_RESIDUAL) { gamma = randn((size_t)N, 0.3f); residual = randn(cElems); }
    }
    const float* b() const { return kind == TcEpi::NONE ? nullptr : bias.data(); }
    int round() const { return kind == TcEpi::NONE ? 0 : 1; }
    int act() const { return kind == TcEpi::GELU_AUX ? 1 : 0; }
    float* a() { return kind == TcEpi::GELU_AUX ? aux.data() : nullptr; }
    const float* g() const { return kind == TcEpi::SCALED_RESIDUAL ? gamma.data() : nullptr; }
    const float* r() const { return kind == TcEpi::SCALED_RESIDUAL ? residual.data() : nullptr; }
    static const char* name(TcEpi k) {
        return k == TcEpi::BIAS_BF16 ? " + bias, bf16 out" : k == TcEpi::GELU_AUX ? " + bias, bf16, GELU (aux)" :
               k == TcEpi::SCALED_RESIDUAL ? " + bias, bf16, LayerScale, residual" : "";
    }
    // what C and aux must hold at offset o (column c) given the plain output v
    void expect(float v, long long o, int c, std::vector<double>& out, std::vector<double>& auxOut) const {
        float x = (float)bf(v + bias[c]);
        if (kind == TcEpi::GELU_AUX) { auxOut.push_back(x); x = 0.5f * x * (1.f + erff(x * 0.70710678118654752f)); }
        if (kind == TcEpi::SCALED_RESIDUAL) { const float p = x * gamma[c]; x = residual[o] + p; }
        out.push_back(x);
    }
};

// Checks an epilogue launch's C (and aux) against plain (the same GEMM without an epilogue): exact.
static void check_epilogue(const std::string& name, const EpiData& ep, const fvec& plain, const fvec& C, int M, int N, int ldc,
                           long long sC, int batch) {
    std::vector<double> want, wantAux;
    fvec got, gotAux;
    for (int z = 0; z < batch; z++)
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                const long long o = z * sC + (long long)m * ldc + n;
                ep.expect(plain[o], o, n, want, wantAux);
                got.push_back(C[o]);
                if (ep.kind == TcEpi::GELU_AUX) gotAux.push_back(ep.aux[o]);
            }
    check(name + " (exact)", want, got, 0, 0);
    if (ep.kind == TcEpi::GELU_AUX) check(name + " aux (exact)", wantAux, gotAux, 0, 0);
}

// gemm_bf16_tc (tf32: gemm_tf32_tc) against a double-precision reference on the rounded operands
// (what the tensor cores multiply); beta != 0 reads C, beta == 0 must not (C starts as NaN).
// ldAlign 4: leading dims rounded up to a multiple of 4 (16-byte cp.async when the base is aligned),
// else tight; off: A and B start `off` floats into their (16-byte aligned) buffers (off 1: 4-byte copies).
// Elements outside the matrices (padding columns) are NaN, so reading one shows. epi: also run with an
// epilogue and check it exactly against the plain result.
static void test_gemm_tc(int tA, int tB, int M, int N, int K, int batch, float alpha, float beta, int gridLimitY = 0, bool tf32 = false,
                         TcEpi epi = TcEpi::NONE, int ldAlign = 0, int off = 0) {
    auto up = [&](int x) { return ldAlign ? (x + ldAlign - 1) / ldAlign * ldAlign : x; };
    const int lda = up(tA ? M : K), ldb = up(tB ? K : N), ldc = N;
    const long long sA = (long long)(tA ? K : M) * lda, sB = (long long)(tB ? N : K) * ldb, sC = (long long)M * N;
    auto alloc = [&](long long n) { return randn((size_t)((off + n + 3) / 4 * 4)); };
    auto A = alloc(sA * batch), B = alloc(sB * batch);
    auto poison = [&](fvec& X, int ld, int cols, long long n) {
        for (long long e = 0; e < n; e++) if (e % ld >= cols) X[off + e] = NAN;
    };
    poison(A, lda, tA ? M : K, sA * batch);
    poison(B, ldb, tB ? K : N, sB * batch);
    const float* pA = A.data() + off;
    const float* pB = B.data() + off;
    const bool vecA = ((uintptr_t)pA & 15) == 0 && lda % 4 == 0 && sA % 4 == 0, vecB = ((uintptr_t)pB & 15) == 0 && ldb % 4 == 0 && sB % 4 == 0;
    const fvec C0 = beta == 0.f ? fvec((size_t)(sC * batch), NAN) : randn((size_t)(sC * batch));
    fvec C = C0;
    const unsigned gy = (unsigned)((M + 127) / 128), gx = (unsigned)((N + 127) / 128);
    const unsigned runY = gridLimitY > 0 ? std::min<unsigned>(gy, (unsigned)gridLimitY) : gy;
    const int rowsChecked = std::min(M, (int)runY * 128);
    std::vector<double> ref;
    fvec got;
    for (int z = 0; z < batch; z++)
        for (int m = 0; m < rowsChecked; m++)
            for (int n = 0; n < N; n++) {
                double s = 0;
                for (int k = 0; k < K; k++) {
                    float a = tA ? pA[z * sA + (long long)k * lda + m] : pA[z * sA + (long long)m * lda + k];
                    float b = tB ? pB[z * sB + (long long)n * ldb + k] : pB[z * sB + (long long)k * ldb + n];
                    s += tf32 ? tf(a) * tf(b) : bf(a) * bf(b);
                }
                double c0 = C0[z * sC + (long long)m * N + n];
                ref.push_back(alpha * s + (beta == 0.f ? 0.0 : beta * c0));
            }
    auto run = [&](fvec& out, EpiData& ep) {
        if (tf32)
            LAUNCH_OPT(GEMM_TC_SMEM, gemm_tf32_tc, d1(gx, runY, (unsigned)batch), d1(256), GEMM_TC_SMEM, tA, tB, M, N, K, alpha, pA, lda, sA,
                       pB, ldb, sB, beta, out.data(), ldc, sC, 0LL, ep.b(), ep.round(), ep.act(), ep.a(), ep.g(), ep.r());
        else
            LAUNCH_OPT(GEMM_TC_SMEM, gemm_bf16_tc, d1(gx, runY, (unsigned)batch), d1(256), GEMM_TC_SMEM, tA, tB, M, N, K, alpha, pA, lda, sA,
                       pB, ldb, sB, beta, out.data(), ldc, sC, 0LL, ep.b(), ep.round(), ep.act(), ep.a(), ep.g(), ep.r());
    };
    EpiData none(TcEpi::NONE, N, 0);
    run(C, none);
    for (int z = 0; z < batch; z++)
        for (int m = 0; m < rowsChecked; m++)
            for (int n = 0; n < N; n++) got.push_back(C[z * sC + (long long)m * N + n]);
    std::string name = emu_fmt("%s %s%s M%d N%d K%d x%d alpha %g beta %g, %s/%s copies", tf32 ? "gemm_tf32_tc" : "gemm_bf16_tc", tA ? "T" : "N",
                               tB ? "T" : "N", M, N, K, batch, alpha, beta, vecA ? "16-byte" : "4-byte", vecB ? "16-byte" : "4-byte");
    if (gridLimitY > 0) name += emu_fmt(" (first %d rows)", rowsChecked);
    // fp32 accumulation of K exact products: error ~ sqrt(K) * |terms| * 2^-24 per partial sum
    check(name, ref, got, 1e-4, 1e-5 * std::sqrt((double)std::max(K, 1)));
    if (epi == TcEpi::NONE) return;
    EpiData ep(epi, N, (size_t)(sC * batch));
    fvec CE = C0;
    run(CE, ep);
    check_epilogue(name + EpiData::name(epi), ep, C, CE, rowsChecked, N, ldc, sC, batch);
}

// sgemm_batched's epilogue (the fp32 path of linearGelu / linearScaled without cuBLAS), exactly against
// its own plain output, batch 2 (aux and residual move with C's batch stride).
static void test_sgemm_epilogue(TcEpi epi) {
    const int M = 67, N = 45, K = 33, batch = 2;
    const long long sA = (long long)M * K, sB = (long long)N * K, sC = (long long)M * N;
    auto A = randn((size_t)(sA * batch)), B = randn((size_t)(sB * batch));
    fvec plain((size_t)(sC * batch), NAN), C = plain;
    EpiData none(TcEpi::NONE, N, 0), ep(epi, N, (size_t)(sC * batch));
    const EmuDim grid = d1((N + 127) / 128, (M + 127) / 128, batch);
    LAUNCH(sgemm_batched, grid, d1(256), 0, 0, 1, M, N, K, 1.f, (const float*)A.data(), K, sA, (const float*)B.data(), K, sB, 0.f,
           plain.data(), N, sC, 0LL, none.b(), 0, 0, none.a(), none.g(), none.r());
    LAUNCH(sgemm_batched, grid, d1(256), 0, 0, 1, M, N, K, 1.f, (const float*)A.data(), K, sA, (const float*)B.data(), K, sB, 0.f,
           C.data(), N, sC, 0LL, ep.b(), ep.round(), ep.act(), ep.a(), ep.g(), ep.r());
    check_epilogue(emu_fmt("sgemm_batched NT M%d N%d K%d x%d%s", M, N, K, batch, EpiData::name(epi)), ep, plain, C, M, N, N, sC, batch);
}

// attention_fwd_bf16_tc_{64,128} against a double-precision reference of its arithmetic: q, k, v
// rounded to bf16, scaled scores, the online softmax over 64-key tiles with P rounded to bf16
// relative to the running max before P.V (so the reference rounds the same values the kernel does;
// only exp's last bit may flip a rounding), the row sum from unrounded P. rowsChecked < N: only the
// first blocks of query rows run (model size).
static void test_attention_tc(int B, int N, int H, int D, int rowBlocks = 0, bool negative = false) {
    const float scale = 1.f / std::sqrt((float)D);
    auto qkv = randn((size_t)B * N * 3 * H * D);
    if (negative)   // every score near -120: an empty key's score must not enter the max
        for (long long r = 0; r < (long long)B * N; r++)
            for (int e = 0; e < 2 * H * D; e++) {
                float& v = qkv[(size_t)(r * 3 * H * D + e)];
                v = e < H * D ? 2.f + 0.25f * v : -60.f / (scale * D) + 0.25f * v;
            }
    const long long rs = 3LL * H * D;
    const int blocks = (N + 63) / 64, runBlocks = rowBlocks > 0 ? std::min(blocks, rowBlocks) : blocks;
    const int rows = std::min(N, runBlocks * 64);
    std::vector<double> ref, lref;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            auto at = [&](int i, int part, int d) { return bf(qkv[((size_t)b * N + i) * rs + part * H * D + h * D + d]); };
            for (int i = 0; i < rows; i++) {
                double m = -INFINITY, l = 0;
                std::vector<double> o(D, 0.0);
                for (int j0 = 0; j0 < N; j0 += 64) {
                    int nk = std::min(64, N - j0);
                    std::vector<double> sc(nk);
                    double mx = -INFINITY;
                    for (int j = 0; j < nk; j++) {
                        double dot = 0;
                        for (int d = 0; d < D; d++) dot += at(i, 0, d) * at(j0 + j, 1, d);
                        sc[j] = (double)(float)((float)dot * scale);
                        mx = std::max(mx, sc[j]);
                    }
                    double mn = std::max(m, mx), c = std::exp(m - mn);
                    l *= c;
                    for (auto& v : o) v *= c;
                    for (int j = 0; j < nk; j++) {
                        float p = std::exp((float)(sc[j] - mn));
                        l += p;
                        double pb = bf(p);
                        for (int d = 0; d < D; d++) o[d] += pb * at(j0 + j, 2, d);
                    }
                    m = mn;
                }
                for (int d = 0; d < D; d++) ref.push_back(o[d] / l);
                lref.push_back(m + std::log(l));
            }
        }
    const int DP = D <= 64 ? 64 : 128;
    const size_t shared = 3 * 64 * (size_t)(DP + 8) * 2 + (DP == 64 ? 32768 : 0);   // + the K/V cp.async staging
    fvec out((size_t)B * N * H * D, NAN), lse((size_t)B * H * N, NAN);
    if (DP == 64)
        LAUNCH_OPT(optin(shared), attention_fwd_bf16_tc_64, d1(runBlocks, B * H), d1(128), shared, (const float*)qkv.data(), out.data(), lse.data(), N, H, D, scale);
    else
        LAUNCH_OPT(optin(shared), attention_fwd_bf16_tc_128, d1(runBlocks, B * H), d1(128), shared, (const float*)qkv.data(), out.data(), lse.data(), N, H, D, scale);
    fvec got, lgot;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < rows; i++) {
                for (int d = 0; d < D; d++) got.push_back(out[((size_t)b * N + i) * H * D + h * D + d]);
                lgot.push_back(lse[((size_t)b * H + h) * N + i]);
            }
    std::string c = emu_fmt(" B%d N%d H%d D%d%s%s", B, N, H, D, negative ? " scores near -120" : "",
                            rowBlocks > 0 ? emu_fmt(" (first %d rows)", rows).c_str() : "");
    check("attention_fwd_bf16_tc out" + c, ref, got, 1e-4, 1e-4);   // a flipped bf16 rounding of one P: ~2e-5
    check("attention_fwd_bf16_tc lse" + c, lref, lgot, 1e-5, 1e-4);
}

// attention_bwd_{dkdv,dq}_bf16_tc_{64,128} against a double-precision reference of their arithmetic: q, k,
// v and gout rounded to bf16; P = exp(fp32 score * scale - lse) and dS = P (dP - delta) from fp32 values;
// P rounded for dV = P^T dO, dS rounded for dK = scale dS^T Q and dQ = scale dS K. lse and delta are
// given (the forward's and attention_bwd_dot's jobs): lse of the exact softmax, delta = rowsum(dO o O) of
// the exact output. Every gqkv element must be written (NaN-filled before).
static void test_attention_tc_bwd(int B, int N, int H, int D) {
    const float scale = 1.f / std::sqrt((float)D);
    const long long rs = 3LL * H * D, os = (long long)H * D;
    auto qkv = randn((size_t)B * N * rs), gout = randn((size_t)B * N * os);
    fvec lse((size_t)B * H * N), delta((size_t)B * H * N);
    std::vector<double> ref((size_t)B * N * rs, 0.0);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            auto at = [&](int i, int part, int d) { return bf(qkv[((size_t)b * N + i) * rs + part * H * D + h * D + d]); };
            auto dO = [&](int i, int d) { return bf(gout[((size_t)b * N + i) * os + h * D + d]); };
            std::vector<float> sc((size_t)N * N);
            for (int i = 0; i < N; i++) {
                double mx = -INFINITY;
                for (int j = 0; j < N; j++) {
                    double dot = 0;
                    for (int d = 0; d < D; d++) dot += at(i, 0, d) * at(j, 1, d);
                    sc[(size_t)i * N + j] = (float)dot;
                    mx = std::max(mx, (double)sc[(size_t)i * N + j] * scale);
                }
                double l = 0;
                for (int j = 0; j < N; j++) l += std::exp((double)sc[(size_t)i * N + j] * scale - mx);
                const float L = (float)(mx + std::log(l));
                double dl = 0;
                for (int d = 0; d < D; d++) {
                    double o = 0;
                    for (int j = 0; j < N; j++) o += std::exp((double)sc[(size_t)i * N + j] * scale - mx) / l * at(j, 2, d);
                    dl += dO(i, d) * o;
                }
                lse[((size_t)b * H + h) * N + i] = L;
                delta[((size_t)b * H + h) * N + i] = (float)dl;
            }
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++) {
                    const float L = lse[((size_t)b * H + h) * N + i], dl = delta[((size_t)b * H + h) * N + i];
                    const float p = std::exp(sc[(size_t)i * N + j] * scale - L);
                    double dp = 0;
                    for (int d = 0; d < D; d++) dp += dO(i, d) * at(j, 2, d);
                    const double pb = bf(p), dsb = bf(p * ((float)dp - dl));
                    for (int d = 0; d < D; d++) {
                        ref[((size_t)b * N + i) * rs + h * D + d] += scale * dsb * at(j, 1, d);            // dQ
                        ref[((size_t)b * N + j) * rs + H * D + h * D + d] += scale * dsb * at(i, 0, d);    // dK
                        ref[((size_t)b * N + j) * rs + 2 * H * D + h * D + d] += pb * dO(i, d);            // dV
                    }
                }
        }
    const int DP = D <= 64 ? 64 : 128;
    const size_t tile = 64 * (size_t)(DP + 8) * 2;
    fvec g((size_t)B * N * rs, NAN);
    const int blocks = (N + 63) / 64;
    if (DP == 64) {
        LAUNCH_OPT(optin(4 * tile + 512), attention_bwd_dkdv_bf16_tc_64, d1(blocks, B * H), d1(128), 4 * tile + 512, (const float*)qkv.data(),
                   (const float*)gout.data(), (const float*)lse.data(), (const float*)delta.data(), g.data(), N, H, D, scale);
        LAUNCH_OPT(optin(4 * tile), attention_bwd_dq_bf16_tc_64, d1(blocks, B * H), d1(128), 4 * tile, (const float*)qkv.data(),
                   (const float*)gout.data(), (const float*)lse.data(), (const float*)delta.data(), g.data(), N, H, D, scale);
    } else {
        LAUNCH_OPT(optin(4 * tile + 512), attention_bwd_dkdv_bf16_tc_128, d1(blocks, B * H), d1(128), 4 * tile + 512, (const float*)qkv.data(),
                   (const float*)gout.data(), (const float*)lse.data(), (const float*)delta.data(), g.data(), N, H, D, scale);
        LAUNCH_OPT(optin(4 * tile), attention_bwd_dq_bf16_tc_128, d1(blocks, B * H), d1(128), 4 * tile, (const float*)qkv.data(),
                   (const float*)gout.data(), (const float*)lse.data(), (const float*)delta.data(), g.data(), N, H, D, scale);
    }
    // the kernel sums dP in fp32 (the reference in double): now and then a dS rounds the other way, moving
    // a gradient by 2^-8 of one term (up to ~7e-4 seen at D = 100); a wrong fragment or mask moves it by O(1)
    check(emu_fmt("attention_bwd_bf16_tc gqkv B%d N%d H%d D%d", B, N, H, D), ref, g, 1e-3, 1e-3);
}

// Split-K as CudaGemmOps.splitKGemm runs it: gemm_bf16_tc over `full` K slices of kc (a batch whose
// stride moves along K), the remaining K as one more launch, then splitk_reduce sums the partials in
// slice order with alpha and beta (C read: beta != 0). transA: A stored k x m (a weight gradient).
static void test_splitk(int M, int N, int K, int kc, float alpha, float beta, TcEpi epi = TcEpi::NONE) {
    auto A = randn((size_t)K * M), B = randn((size_t)K * N);
    const fvec C0 = randn((size_t)M * N);
    const int full = K / kc, rest = K - full * kc, S = full + (rest > 0);
    std::vector<double> ref((size_t)M * N);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += bf(A[(size_t)k * M + m]) * bf(B[(size_t)k * N + n]);
            ref[(size_t)m * N + n] = alpha * s + beta * C0[(size_t)m * N + n];
        }
    const unsigned gy = (unsigned)((M + 127) / 128), gx = (unsigned)((N + 127) / 128);
    const long long mn = (long long)M * N;
    EpiData none(TcEpi::NONE, N, 0);
    auto run = [&](fvec& C, EpiData& ep) {
        fvec P((size_t)S * M * N, NAN);
        LAUNCH_OPT(GEMM_TC_SMEM, gemm_bf16_tc, d1(gx, gy, (unsigned)full), d1(256), GEMM_TC_SMEM, 1, 0, M, N, kc, 1.f, (const float*)A.data(), M,
                   (long long)kc * M, (const float*)B.data(), N, (long long)kc * N, 0.f, P.data(), N, mn, 0LL, none.b(), 0, 0, none.a(), none.g(), none.r());
        if (rest > 0)
            LAUNCH_OPT(GEMM_TC_SMEM, gemm_bf16_tc, d1(gx, gy, 1), d1(256), GEMM_TC_SMEM, 1, 0, M, N, rest, 1.f, (const float*)A.data() + (size_t)full * kc * M,
                       M, 0LL, (const float*)B.data() + (size_t)full * kc * N, N, 0LL, 0.f, P.data() + (size_t)full * mn, N, 0LL, 0LL, none.b(), 0, 0,
                       none.a(), none.g(), none.r());
        LAUNCH(splitk_reduce, d1(3), d1(64), 0, (const float*)P.data(), C.data(), N, M, N, S, alpha, beta, ep.b(), ep.round(), ep.act(), ep.a(),
               ep.g(), ep.r());
    };
    fvec C = C0;
    run(C, none);
    const std::string name = emu_fmt("split-K gemm_bf16_tc + splitk_reduce TN M%d N%d K%d in %d slices alpha %g beta %g", M, N, K, S, alpha, beta);
    check(name, ref, C, 1e-4, 1e-5 * std::sqrt((double)K));
    if (epi == TcEpi::NONE) return;
    EpiData ep(epi, N, (size_t)mn);
    fvec CE = C0;
    run(CE, ep);
    check_epilogue(name + EpiData::name(epi), ep, C, CE, M, N, N, mn, 1);
}

// round_bf16_f and round_tf32_f (Backend.roundTo) against rounding written here with integer arithmetic
// (not the emulator's): bf16 to nearest even, tf32 to nearest with ties away from zero; exact. The inputs
// include ties, carries into the exponent, the largest finite values and subnormals.
static void test_round_kernels() {
    auto bits = [](float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; };
    auto fl = [](uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; };
    fvec x = randn(1000, 3.f);
    const float special[] = {1.f + 0x1p-8f, 1.f + 0x3p-8f, 1.f + 0x1p-11f, 1.f + 0x3p-11f, -(1.f + 0x3p-11f),
                             0x1.fdp127f, -2.5f, 0.f, 0x1.fffffep0f, 1e-40f};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) x[i] = special[i];
    const long long n = (long long)x.size();
    std::vector<double> rb(n), rt(n);
    for (long long i = 0; i < n; i++) {
        const uint32_t u = bits(x[i]);
        rb[i] = fl((u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u);
        rt[i] = fl((u + 0x1000u) & 0xffffe000u);
    }
    fvec yb(n, NAN), yt(n, NAN);
    LAUNCH(round_bf16_f, d1(3), d1(64), 0, (const float*)x.data(), yb.data(), n);
    LAUNCH(round_tf32_f, d1(3), d1(64), 0, (const float*)x.data(), yt.data(), n);
    check("round_bf16_f", rb, yb, 0, 0);
    check("round_tf32_f", rt, yt, 0, 0);
}

static void test_tensor_core() {
    test_tensor_core_instructions();
    test_round_kernels();
    for (int tf32 = 0; tf32 < 2; tf32++)
        for (int tA = 0; tA < 2; tA++)
            for (int tB = 0; tB < 2; tB++) {
                test_gemm_tc(tA, tB, 37, 45, 70, 2, 1.f, 0.f, 0, tf32);                        // tight: 4-byte copies
                test_gemm_tc(tA, tB, 37, 45, 70, 2, 1.f, 0.f, 0, tf32, TcEpi::NONE, 4);        // 16-byte copies, partial chunks
                test_gemm_tc(tA, tB, 20, 36, 200, 1, 1.f, 0.f, 0, tf32, TcEpi::NONE, 4);       // 13 K tiles: the stage ring wraps
                test_gemm_tc(tA, tB, 9, 12, 71, 1, 1.f, 0.f, 0, tf32, TcEpi::NONE, 4);         // K = 71: chunks 3 and -1 elements inside K
            }
    test_gemm_tc(0, 1, 130, 260, 33, 1, 2.f, 0.5f);     // several blocks, partial tiles on every edge, beta
    test_gemm_tc(0, 1, 130, 260, 33, 1, 2.f, 0.5f, 0, true);
    test_gemm_tc(1, 0, 36, 44, 40, 2, 1.f, 0.f, 0, false, TcEpi::NONE, 4, 1);   // aligned leading dims, misaligned base
    test_gemm_tc(1, 0, 9, 17, 1, 1, 1.f, 0.f);          // K = 1: one partial K tile
    test_gemm_tc(1, 0, 9, 17, 1, 1, 1.f, 0.f, 0, true);     // tf32 with one and two K tiles: fewer tiles than prologue stages
    test_gemm_tc(0, 1, 9, 17, 20, 1, 1.f, 0.f, 0, true);
    test_gemm_tc(0, 0, 9, 17, 0, 1, 1.f, 0.5f);         // K = 0: C = beta * C
    // weight-gradient shape of ViT-S/14 at 644, batch 4: dW[384 x 384] = X^T dY over K = 4 x 2117 tokens
    // (first block row only; still streams all 530 K tiles)
    test_gemm_tc(1, 0, 384, 128, 8468, 1, 1.f, 0.f, 1);
    // the epilogues, batch 2 (aux and residual follow C's batch stride)
    for (TcEpi e : {TcEpi::BIAS_BF16, TcEpi::GELU_AUX, TcEpi::SCALED_RESIDUAL}) {
        test_gemm_tc(0, 1, 130, 70, 48, 2, 1.f, 0.f, 0, false, e, 4);   // F.linear under autocast: x W^T + b
        test_sgemm_epilogue(e);
    }
    test_gemm_tc(0, 1, 37, 45, 70, 2, 1.f, 0.f, 0, true, TcEpi::GELU_AUX);          // the tf32 kernel's epilogue
    test_gemm_tc(0, 1, 37, 45, 70, 1, 1.f, 0.f, 0, true, TcEpi::SCALED_RESIDUAL);
    test_splitk(37, 45, 300, 96, -2.f, 0.5f);                      // three equal slices and a short fourth
    test_splitk(37, 45, 300, 96, 1.f, 0.f, TcEpi::BIAS_BF16);      // with Backend.linear's epilogue
    test_splitk(37, 45, 300, 96, 1.f, 0.f, TcEpi::GELU_AUX);
    test_splitk(37, 45, 300, 96, 1.f, 0.f, TcEpi::SCALED_RESIDUAL);
    test_splitk(20, 9, 192, 64, 1.f, 0.f);      // slices only
    test_attention_tc(2, 37, 2, 16);            // one partial key tile; D padded to 64
    test_attention_tc(1, 30, 2, 64);            // the last row is a lane's second row (g + 8)
    test_attention_tc(1, 130, 1, 64);           // three key tiles, the last partial; three row blocks
    test_attention_tc(1, 65, 1, 64, 0, true);   // last tile of one key, scores near -120
    test_attention_tc(1, 70, 1, 100);           // D padded to 128 (opt-in shared memory)
    test_attention_tc(1, 70, 2, 30);            // D % 4 != 0: 4-byte cp.async copies, two key tiles
    test_attention_tc(1, 2117, 2, 64, 1);       // ViT-S/14 at 644: first block of query rows
    test_attention_tc_bwd(1, 30, 2, 64);        // a partial tile of keys and queries: rows g + 8 beyond N
    test_attention_tc_bwd(1, 130, 1, 64);       // three key and query tiles, the last partial
    test_attention_tc_bwd(1, 65, 1, 64);        // a last tile of one key and one query (the loops' bounds)
    test_attention_tc_bwd(2, 37, 2, 16);        // D padded to 64, two batches
    test_attention_tc_bwd(1, 70, 1, 100);       // D padded to 128 (opt-in shared memory)
}

static int spin_child() {
    fvec out(1, 0.f);
    emu_launch_checked("emu_t_spin", emu_t_spin, d1(2), d1(64), 0, 0, out.data(), 1);
    return 0;   // not reached: the watchdog ends the process
}

int main(int argc, char** argv) {
    if (argc == 2 && std::string(argv[1]) == "--spin") return spin_child();
    const std::set<std::string> known = {"gemm", "attention", "layernorm", "elementwise", "batchnorm", "conv",
                                         "resize", "cross_entropy", "adamw", "tensor_core", "emulator"};
    std::set<std::string> want;
    for (int i = 1; i < argc; i++) {
        if (!known.count(argv[i])) { std::fprintf(stderr, "check_kernels: unknown family '%s'\n", argv[i]); return 2; }
        want.insert(argv[i]);
    }
    auto last = std::chrono::steady_clock::now();
    auto on = [&](const char* f) {
        auto now = std::chrono::steady_clock::now();
        if (std::getenv("DSEMU_TIMES")) std::printf("(%.2f s)\n", std::chrono::duration<double>(now - last).count());
        last = now;
        return want.empty() || want.count(f) > 0;
    };
    auto t0 = std::chrono::steady_clock::now();
    if (on("emulator")) test_emulator(argv[0]);
    if (on("gemm")) { test_gemm(); test_gemm_model_size(); }
    if (on("attention")) {
        test_attention(2, 37, 2, 16);
        test_attention(1, 40, 1, 64);
        test_attention(1, 5, 2, 100);
        test_attention(1, 1, 1, 128);
        test_attention(1, 70, 1, 100);         // D > 96 (a fourth dim per lane) over three key tiles
        test_attention(1, 33, 2, 16, true);    // last tile of one key (N = 32 + 1), scores near -120
        test_attention_model_size(3);
    }
    if (on("layernorm")) { test_layernorm(33, 37); test_layernorm(300, 64); test_layernorm(2117, 384); test_layernorm(19, 768); test_layernorm(7, 1024); }
    if (on("elementwise")) { test_elementwise(); test_reductions(); test_elementwise_model_size(); }
    if (on("batchnorm")) {
        test_batchnorm(3, 4, 10);
        test_batchnorm(1, 3, 1);   // one value per channel (the unbiased variance is undefined)
        test_batchnorm(2, 3, 1);   // two values: the smallest count with Bessel's correction
        test_batchnorm(2, 64, 46 * 46);
    }
    if (on("conv")) test_conv();
    if (on("resize")) test_resize();
    if (on("cross_entropy")) {
        test_cross_entropy(2, 5, 13, false, CeLabels::MIXED);
        test_cross_entropy(2, 5, 13, true, CeLabels::MIXED);
        test_cross_entropy(2, 5, 13, false, CeLabels::ALL_IGNORED);
        test_cross_entropy(2, 5, 13, true, CeLabels::ONE_KEPT);
        test_cross_entropy(2, 5, 13, true, CeLabels::MIXED, false, true);
        test_cross_entropy(1, 150, 161 * 161, true, CeLabels::MIXED, false);   // ADE20K classes, logits at 1/4 of 644
        test_confusion(2, 21, 1000, 1, 3);
        test_confusion(2, 21, 1000, 0, 3);
        test_confusion(1, 150, 777, 0, 2);
        test_confusion(3, 1, 50, 1, 1);
    }
    if (on("adamw")) { test_adamw(300); test_adamw(1 << 20); }
    if (on("tensor_core")) test_tensor_core();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("(%.1f s)\n", secs);
    std::printf(failures == 0 ? "all kernel checks passed\n" : "%d kernel checks FAILED\n", failures);
    return failures == 0 ? 0 : 1;
}
