// check_kernels.cpp — runs every kernel of kernels/*.cu through the CPU emulator (emu.h) on small
// random inputs and compares with plain double-precision reference loops written here (forward
// ops), with finite differences or adjoint identities (backward ops). Exit status 1 on any mismatch.
// Build and run: bash kernels/test/run.sh
#include "emu.h"
#include "all_kernels_emu.cu"

#include <cstdio>
#include <functional>
#include <random>
#include <string>

static int failures = 0;
static std::mt19937_64 rng(12345);

static std::vector<float> randn(size_t n, float s = 1.f) {
    std::normal_distribution<float> d(0.f, s);
    std::vector<float> v(n);
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

static void check(const std::string& what, const std::vector<double>& ref, const std::vector<float>& got,
                  double rtol, double atol) {
    if (ref.size() != got.size()) { failures++; std::printf("FAIL %s: sizes\n", what.c_str()); return; }
    check(what, ref, got.data(), got.size(), rtol, atol);
}

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
                emu_launch(sgemm_batched, d1((N + 127) / 128, (M + 127) / 128, batch), d1(256), 0, ta, tb, M, N, K, alpha,
                           A.data(), lda, sA, B.data(), ldb, sB, beta, C.data(), ldc, sC, 0LL);
                // NaN padding stays NaN on both sides
                for (size_t i = 0; i < ref.size(); i++) if (std::isnan(ref[i]) && std::isnan(C[i])) { ref[i] = 0; C[i] = 0; }
                check("gemm ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " v" + std::to_string(variant), ref, C, 1e-5, 1e-5);
            }
}

// ------------------------------------------------------------------ attention

static void attention_ref(const std::vector<float>& qkv, int B, int N, int H, int D, float scale,
                          const std::vector<float>& gout, std::vector<double>& out, std::vector<double>& lse,
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

static void test_attention(int B, int N, int H, int D) {
    float scale = 1.f / std::sqrt((float)D);
    auto qkv = randn((size_t)B * N * 3 * H * D), gout = randn((size_t)B * N * H * D);
    std::vector<double> out, lse, gq;
    attention_ref(qkv, B, N, H, D, scale, gout, out, lse, gq);
    std::vector<float> o(out.size(), NAN), l(lse.size(), NAN), dv(lse.size(), NAN), g(qkv.size(), NAN);
    std::string c = " B" + std::to_string(B) + " N" + std::to_string(N) + " H" + std::to_string(H) + " D" + std::to_string(D);
    unsigned grid = (N + 15) / 16;
    emu_launch(attention_fwd, d1(grid, B * H), d1(128), 4 * (16 * D + 32 * (D + 1) + 32 * D), qkv.data(), o.data(), l.data(), N, H, D, scale);
    check("attention out" + c, out, o, 1e-4, 1e-5);
    check("attention lse" + c, lse, l, 1e-5, 1e-5);
    long long rows = (long long)B * H * N;
    emu_launch(attention_bwd_dot, d1((unsigned)((rows * 32 + 255) / 256)), d1(256), 0, o.data(), gout.data(), dv.data(), B, N, H, D);
    emu_launch(attention_bwd_dq, d1(grid, B * H), d1(128), 4 * (2 * 16 * D + 2 * 32 * (D + 1)), qkv.data(), gout.data(), l.data(), dv.data(), g.data(), N, H, D, scale);
    emu_launch(attention_bwd_dkdv, d1(grid, B * H), d1(128), 4 * (2 * 16 * D + 2 * 32 * (D + 1) + 64), qkv.data(), gout.data(), l.data(), dv.data(), g.data(), N, H, D, scale);
    check("attention gqkv" + c, gq, g, 1e-3, 1e-4);
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
    std::vector<float> Y(y.size(), NAN), M(rows, NAN), R(rows, NAN), GX(y.size(), NAN), GG(C, NAN), GB(C, NAN);
    unsigned wb = (unsigned)(((long long)rows * 32 + 255) / 256);
    emu_launch(layernorm_fwd, d1(wb), d1(256), 0, x.data(), gamma.data(), beta.data(), Y.data(), M.data(), R.data(), rows, C, eps);
    std::string c = " " + std::to_string(rows) + "x" + std::to_string(C);
    check("layernorm y" + c, y, Y, 1e-4, 1e-5);
    check("layernorm mean" + c, mean, M, 1e-4, 1e-6);
    check("layernorm rstd" + c, rstd, R, 1e-4, 1e-5);
    int per = 128, chunks = std::max(1, (rows + per - 1) / per);
    std::vector<float> partial((size_t)2 * chunks * C, NAN);
    emu_launch(layernorm_bwd_params_partial, d1((C + 31) / 32, chunks), d1(32, 8), 0, gy.data(), x.data(), M.data(), R.data(), partial.data(), rows, C, per);
    emu_launch(column_sum_finalize, d1((C + 255) / 256), d1(256), 0, partial.data(), GG.data(), chunks, C);
    emu_launch(column_sum_finalize, d1((C + 255) / 256), d1(256), 0, partial.data() + (size_t)chunks * C, GB.data(), chunks, C);
    emu_launch(layernorm_bwd_dx, d1(wb), d1(256), 0, gy.data(), x.data(), gamma.data(), M.data(), R.data(), GX.data(), rows, C);
    check("layernorm gx" + c, gx, GX, 1e-4, 1e-4);
    check("layernorm ggamma" + c, gg, GG, 1e-4, 1e-4);
    check("layernorm gbeta" + c, gb, GB, 1e-4, 1e-4);
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
    std::vector<float> out(120, NAN);
    DsDims bd = dims({2, 3, 4, 5}, {0, 5, 0, 1});
    emu_launch(add_bcast, d1(2), d1(32), 0, a.data(), b.data(), -0.5f, out.data(), 120LL, bd);
    check("add_bcast", ref, out, 1e-6, 1e-6);
    emu_launch(mul_bcast, d1(2), d1(32), 0, a.data(), b.data(), out.data(), 120LL, bd);
    check("mul_bcast", refm, out, 1e-6, 1e-6);
    for (int i = 0; i < 120; i++) { ref[i] = a[i] + 2.0 * a[(i * 7) % 120]; }
    std::vector<float> a2(120);
    for (int i = 0; i < 120; i++) a2[i] = a[(i * 7) % 120];
    emu_launch(add_same, d1(3), d1(32), 0, a.data(), a2.data(), 2.f, out.data(), 120LL);
    check("add_same", ref, out, 1e-6, 1e-6);

    size_t n = 1000;
    auto x = randn(n, 2.f), gy = randn(n);
    std::vector<float> o(n, NAN), g(n, NAN);
    std::vector<double> r(n), rg(n);
    emu_launch(gelu_fwd, d1(2), d1(64), 0, x.data(), o.data(), (long long)n);
    for (size_t i = 0; i < n; i++) r[i] = 0.5 * x[i] * (1 + std::erf(x[i] / std::sqrt(2.0)));
    check("gelu", r, o, 1e-5, 1e-6);
    emu_launch(gelu_bwd, d1(2), d1(64), 0, x.data(), gy.data(), g.data(), (long long)n);
    for (size_t i = 0; i < n; i++) {
        double h = 1e-4, xp = x[i] + h, xm = x[i] - h;
        double fp = 0.5 * xp * (1 + std::erf(xp / std::sqrt(2.0))), fm = 0.5 * xm * (1 + std::erf(xm / std::sqrt(2.0)));
        rg[i] = gy[i] * (fp - fm) / (2 * h);
    }
    check("gelu_bwd (finite differences)", rg, g, 1e-4, 1e-5);
    emu_launch(relu_fwd, d1(2), d1(64), 0, x.data(), o.data(), (long long)n);
    for (size_t i = 0; i < n; i++) r[i] = x[i] > 0 ? x[i] : 0;
    check("relu", r, o, 0, 0);
    emu_launch(relu_bwd, d1(2), d1(64), 0, x.data(), gy.data(), g.data(), (long long)n);
    for (size_t i = 0; i < n; i++) r[i] = x[i] > 0 ? gy[i] : 0;
    check("relu_bwd", r, g, 0, 0);
    emu_launch(scale_f, d1(2), d1(64), 0, x.data(), 3.f, o.data(), (long long)n);
    for (size_t i = 0; i < n; i++) r[i] = 3.0 * x[i];
    check("scale", r, o, 1e-7, 0);
    std::vector<float> y = gy;
    emu_launch(axpy_f, d1(2), d1(64), 0, -2.f, x.data(), y.data(), (long long)n);
    for (size_t i = 0; i < n; i++) r[i] = gy[i] - 2.0 * x[i];
    check("axpy", r, y, 1e-6, 1e-6);
    emu_launch(fill_f, d1(2), d1(64), 0, o.data(), 7.5f, (long long)n);
    for (size_t i = 0; i < n; i++) r[i] = 7.5;
    check("fill", r, o, 0, 0);

    // swiglu: rows 6, H 7
    int R = 6, H = 7;
    auto x12 = randn((size_t)R * 2 * H), gs = randn((size_t)R * H);
    std::vector<float> so((size_t)R * H, NAN), sg((size_t)R * 2 * H, NAN);
    std::vector<double> sr((size_t)R * H), sgr((size_t)R * 2 * H);
    auto silu = [](double v) { return v / (1 + std::exp(-v)); };
    for (int rr = 0; rr < R; rr++) for (int h = 0; h < H; h++) {
        double x1 = x12[rr * 2 * H + h], x2 = x12[rr * 2 * H + H + h], e = 1e-4;
        sr[rr * H + h] = silu(x1) * x2;
        sgr[rr * 2 * H + h] = gs[rr * H + h] * x2 * (silu(x1 + e) - silu(x1 - e)) / (2 * e);
        sgr[rr * 2 * H + H + h] = gs[rr * H + h] * silu(x1);
    }
    emu_launch(swiglu_fwd, d1(1), d1(64), 0, x12.data(), so.data(), (long long)R, H);
    check("swiglu", sr, so, 1e-5, 1e-6);
    emu_launch(swiglu_bwd, d1(1), d1(64), 0, x12.data(), gs.data(), sg.data(), (long long)R, H);
    check("swiglu_bwd (finite differences)", sgr, sg, 1e-4, 1e-5);

    // flip, permute [2,3,4] -> perm (2,0,1): out [4,2,3], strides of x (12,4,1) permuted -> (1,12,4)
    auto p = randn(24);
    std::vector<float> f(24, NAN), pm(24, NAN);
    std::vector<double> fr(24), pr(24);
    for (int i = 0; i < 24; i++) fr[i] = p[(i / 4) * 4 + 3 - i % 4];
    emu_launch(flip_last_dim, d1(1), d1(32), 0, (const unsigned*)p.data(), (unsigned*)f.data(), 24LL, 4);
    check("flip_last_dim", fr, f, 0, 0);
    for (int o0 = 0; o0 < 4; o0++) for (int o1 = 0; o1 < 2; o1++) for (int o2 = 0; o2 < 3; o2++)
        pr[(o0 * 2 + o1) * 3 + o2] = p[o1 * 12 + o2 * 4 + o0];
    emu_launch(permute_u32, d1(1), d1(32), 0, (const unsigned*)p.data(), (unsigned*)pm.data(), 24LL, dims({4, 2, 3}, {1, 12, 4}));
    check("permute", pr, pm, 0, 0);

    // copy blocks: 3 rows of 4 from src stride 6 offset 1 into dst stride 5 offset 2, then accumulate
    auto src = randn(20), dst = randn(16);
    std::vector<double> cr(dst.begin(), dst.end());
    for (int rr = 0; rr < 3; rr++) for (int c = 0; c < 4; c++) cr[2 + rr * 5 + c] = src[1 + rr * 6 + c];
    std::vector<float> d2 = dst;
    emu_launch(copy_blocks_u32, d1(1), d1(32), 0, (const unsigned*)(src.data() + 1), 6LL, (unsigned*)(d2.data() + 2), 5LL, 3LL, 4LL);
    check("copy_blocks", cr, d2, 0, 0);
    for (int rr = 0; rr < 3; rr++) for (int c = 0; c < 4; c++) cr[2 + rr * 5 + c] += src[1 + rr * 6 + c];
    emu_launch(copy_blocks_add, d1(1), d1(32), 0, src.data() + 1, 6LL, d2.data() + 2, 5LL, 3LL, 4LL);
    check("copy_blocks accumulate", cr, d2, 1e-6, 1e-6);
}

static void test_reductions() {
    // x [4,3,5] summed to out [3,1]: kept dim 1 (stride 5), reduced dims 0 (15) and 2 (1)
    auto x = randn(60);
    std::vector<double> r(3, 0);
    for (int i = 0; i < 4; i++) for (int j = 0; j < 3; j++) for (int k = 0; k < 5; k++) r[j] += x[i * 15 + j * 5 + k];
    std::vector<float> o(3, NAN);
    emu_launch(sum_to_thread, d1(1), d1(32), 0, x.data(), o.data(), 3LL, 20LL, dims({3}, {5}), dims({4, 5}, {15, 1}));
    check("sum_to_thread", r, o, 1e-5, 1e-5);
    std::fill(o.begin(), o.end(), NAN);
    emu_launch(sum_to_block, d1(2), d1(64), 0, x.data(), o.data(), 3LL, 20LL, dims({3}, {5}), dims({4, 5}, {15, 1}));
    check("sum_to_block", r, o, 1e-5, 1e-5);

    auto v = randn(5000);
    std::vector<double> partial(8, NAN), tot(1, NAN);
    std::vector<float> f(1, NAN);
    double s = 0, ss = 0;
    for (float a : v) { s += a; ss += (double)a * a; }
    emu_launch(sum_partial_d, d1(8), d1(64), 0, v.data(), 5000LL, 0, partial.data());
    emu_launch(reduce_partials_d, d1(1), d1(64), 0, partial.data(), 8, tot.data(), f.data());
    check("sumAll", {s}, f, 1e-6, 1e-6);
    emu_launch(sum_partial_d, d1(8), d1(64), 0, v.data(), 5000LL, 1, partial.data());
    emu_launch(reduce_partials_d, d1(1), d1(64), 0, partial.data(), 8, tot.data(), (float*)nullptr);
    std::vector<float> tf = {(float)tot[0]};
    check("sumSquares", {ss}, tf, 1e-6, 0);

    // softmax over axis 1 of [2,5,3], over the last dim of [4,37], argmax over axis 1
    auto sx = randn(30);
    std::vector<float> so(30, NAN);
    std::vector<double> sr(30);
    std::vector<int> am(6, -1);
    std::vector<double> amr(6);
    for (int o0 = 0; o0 < 2; o0++) for (int in = 0; in < 3; in++) {
        double mx = -1e300, sum = 0; int arg = 0;
        for (int k = 0; k < 5; k++) { double val = sx[o0 * 15 + k * 3 + in]; if (val > mx) { mx = val; arg = k; } }
        for (int k = 0; k < 5; k++) sum += std::exp(sx[o0 * 15 + k * 3 + in] - mx);
        for (int k = 0; k < 5; k++) sr[o0 * 15 + k * 3 + in] = std::exp(sx[o0 * 15 + k * 3 + in] - mx) / sum;
        amr[o0 * 3 + in] = arg;
    }
    emu_launch(softmax_axis, d1(1), d1(32), 0, sx.data(), so.data(), 2LL, 5, 3LL);
    check("softmax_axis", sr, so, 1e-5, 1e-7);
    emu_launch(argmax_axis, d1(1), d1(32), 0, sx.data(), am.data(), 2LL, 5, 3LL);
    std::vector<float> amf(am.begin(), am.end());
    check("argmax_axis", amr, amf, 0, 0);
    auto lx = randn(4 * 37);
    std::vector<float> lo(4 * 37, NAN);
    std::vector<double> lr(4 * 37);
    for (int r0 = 0; r0 < 4; r0++) {
        double mx = -1e300, sum = 0;
        for (int k = 0; k < 37; k++) mx = std::max(mx, (double)lx[r0 * 37 + k]);
        for (int k = 0; k < 37; k++) sum += std::exp(lx[r0 * 37 + k] - mx);
        for (int k = 0; k < 37; k++) lr[r0 * 37 + k] = std::exp(lx[r0 * 37 + k] - mx) / sum;
    }
    emu_launch(softmax_lastdim, d1(1), d1(128), 0, lx.data(), lo.data(), 4LL, 37);
    check("softmax_lastdim", lr, lo, 1e-5, 1e-7);
}

// ------------------------------------------------------------------ batchnorm

static void test_batchnorm() {
    int B = 3, C = 4, HW = 10;
    long long n = (long long)B * HW;
    auto x = randn((size_t)B * C * HW), gamma = randn(C), beta = randn(C), gy = randn((size_t)B * C * HW);
    std::vector<float> rm = randn(C), rv(C, 1.5f);
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
        rvr[c] = (1 - mom) * rv[c] + mom * v * n / (n - 1);
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
    std::vector<float> stats(2 * C, NAN), sm(C, NAN), sr(C, NAN), Y(x.size(), NAN), sums(2 * C, NAN), GX(x.size(), NAN), GG(C, NAN), GB(C, NAN);
    emu_launch(bn_stats, d1(C), d1(64), 0, x.data(), B, C, (long long)HW, stats.data(), stats.data() + C);
    emu_launch(bn_finalize, d1(1), d1(32), 0, stats.data(), stats.data() + C, rm.data(), rv.data(), sm.data(), sr.data(), C, 1, mom, eps, n);
    emu_launch(bn_apply, d1(2), d1(64), 0, x.data(), gamma.data(), beta.data(), sm.data(), sr.data(), Y.data(), C, (long long)HW, (long long)x.size());
    check("batchnorm mean", mean, sm, 1e-5, 1e-6);
    check("batchnorm running mean", rmr, rm, 1e-5, 1e-6);
    check("batchnorm running var", rvr, rv, 1e-5, 1e-6);
    check("batchnorm y", y, Y, 1e-4, 1e-5);
    emu_launch(bn_bwd_reduce, d1(C), d1(64), 0, gy.data(), x.data(), sm.data(), sr.data(), B, C, (long long)HW, sums.data(), GG.data(), GB.data());
    emu_launch(bn_bwd_dx, d1(2), d1(64), 0, gy.data(), x.data(), gamma.data(), sm.data(), sr.data(), sums.data(), GX.data(), 1, B, C, (long long)HW);
    check("batchnorm gx", gx, GX, 1e-4, 1e-5);
    check("batchnorm ggamma", gg, GG, 1e-4, 1e-5);
    check("batchnorm gbeta", gb, GB, 1e-4, 1e-5);
}

// ------------------------------------------------------------------ conv, resize (adjoint identities)

static double dot(const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); i++) s += (double)a[i] * b[i];
    return s;
}

static void test_conv() {
    int cases[][8] = {{2, 3, 9, 11, 3, 3, 2, 1}, {1, 2, 28, 28, 14, 14, 14, 0}, {1, 2, 6, 7, 3, 2, 1, 2}};
    for (auto& c : cases) {
        int B = c[0], C = c[1], H = c[2], W = c[3], kh = c[4], kw = c[5], st = c[6], pad = c[7];
        int OH = (H + 2 * pad - kh) / st + 1, OW = (W + 2 * pad - kw) / st + 1;
        long long K = (long long)C * kh * kw;
        auto x = randn((size_t)B * C * H * W);
        std::vector<float> cols((size_t)B * OH * OW * K, NAN);
        std::vector<double> ref(cols.size());
        for (int b = 0; b < B; b++) for (int oy = 0; oy < OH; oy++) for (int ox = 0; ox < OW; ox++)
            for (int ch = 0; ch < C; ch++) for (int ky = 0; ky < kh; ky++) for (int kx = 0; kx < kw; kx++) {
                int iy = oy * st - pad + ky, ix = ox * st - pad + kx;
                double v = iy >= 0 && iy < H && ix >= 0 && ix < W ? x[((b * C + ch) * H + iy) * W + ix] : 0;
                ref[((size_t)(b * OH + oy) * OW + ox) * K + (ch * kh + ky) * kw + kx] = v;
            }
        emu_launch(im2col_f, d1(4), d1(64), 0, x.data(), cols.data(), B, C, H, W, kh, kw, st, pad, OH, OW);
        std::string name = " " + std::to_string(kh) + "x" + std::to_string(kw) + " s" + std::to_string(st) + " p" + std::to_string(pad);
        check("im2col" + name, ref, cols, 0, 0);
        auto gc = randn(cols.size());
        std::vector<float> gx(x.size(), NAN);
        emu_launch(col2im_f, d1(4), d1(64), 0, gc.data(), gx.data(), B, C, H, W, kh, kw, st, pad, OH, OW);
        double lhs = dot(cols, gc), rhs = dot(x, gx);   // <im2col(x), g> == <x, col2im(g)>
        std::vector<float> got = {(float)rhs};
        check("col2im adjoint" + name, {lhs}, got, 1e-5, 1e-4);
    }
}

static void test_resize() {
    int cases[][4] = {{7, 9, 3, 4}, {4, 4, 13, 10}, {5, 5, 5, 5}, {1, 3, 8, 1}};
    for (auto& c : cases) {
        int H = c[0], W = c[1], OH = c[2], OW = c[3], planes = 2;
        auto x = randn((size_t)planes * H * W);
        std::vector<double> ref((size_t)planes * OH * OW);
        auto src = [](int d, int in, int out, int& i0, int& i1, double& w) {
            double s = ((double)d + 0.5) * in / out - 0.5;
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
        std::vector<float> o(ref.size(), NAN);
        emu_launch(resize_bilinear_fwd, d1(2), d1(64), 0, x.data(), o.data(), (long long)planes, H, W, OH, OW);
        std::string name = " " + std::to_string(H) + "x" + std::to_string(W) + "->" + std::to_string(OH) + "x" + std::to_string(OW);
        check("resize" + name, ref, o, 1e-5, 1e-6);
        auto go = randn(o.size());
        std::vector<float> gx(x.size(), 0.f);
        emu_launch(resize_bilinear_bwd, d1(2), d1(64), 0, go.data(), gx.data(), (long long)planes, H, W, OH, OW);
        std::vector<float> got = {(float)dot(x, gx)};
        check("resize backward adjoint" + name, {dot(o, go)}, got, 1e-5, 1e-5);
    }
}

// ------------------------------------------------------------------ cross entropy, adamw

static void test_cross_entropy(bool weighted, bool allIgnored) {
    int B = 2, K = 5, P = 13;
    auto logits = randn((size_t)B * K * P, 2.f);
    std::vector<float> w = randn(K);
    for (auto& v : w) v = std::fabs(v) + 0.1f;
    std::vector<int> labels((size_t)B * P);
    std::uniform_int_distribution<int> u(0, 9);
    for (auto& l : labels) { int r = u(rng); l = allIgnored ? 255 : r < 7 ? r % K : r == 7 ? 255 : r == 8 ? -2 : K + 1; }
    auto loss_of = [&](const std::vector<float>& lg) {
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
    std::vector<double> partial(8, NAN), stats(2, NAN);
    std::vector<float> loss(1, NAN), g(logits.size(), NAN);
    const float* wp = weighted ? w.data() : nullptr;
    emu_launch(ce_partial, d1(4), d1(64), 0, logits.data(), labels.data(), wp, (long long)B, K, (long long)P, 255, partial.data());
    emu_launch(ce_finalize, d1(1), d1(64), 0, partial.data(), 4, loss.data(), stats.data());
    emu_launch(ce_grad, d1(2), d1(64), 0, logits.data(), labels.data(), wp, (long long)B, K, (long long)P, 255, (const double*)stats.data(), g.data());
    std::string name = std::string(weighted ? " weighted" : "") + (allIgnored ? " all ignored" : "");
    check("cross_entropy loss" + name, {loss_of(logits)}, loss, 1e-5, 1e-6);
    std::vector<double> fd(logits.size());
    for (size_t i = 0; i < logits.size(); i++) {
        auto lp = logits, lm = logits;
        lp[i] += 1e-2f; lm[i] -= 1e-2f;
        fd[i] = (loss_of(lp) - loss_of(lm)) / ((double)lp[i] - lm[i]);
    }
    check("cross_entropy glogits (finite differences)" + name, fd, g, 2e-3, 2e-5);
}

static void test_adamw() {
    size_t n = 300;
    auto p = randn(n), m = randn(n, 0.1f), g = randn(n);
    std::vector<float> v(n);
    for (auto& a : v) a = std::fabs(randn(1)[0]) * 0.01f;
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
    emu_launch(adamw_step, d1(2), d1(64), 0, p.data(), g.data(), m.data(), v.data(), (long long)n, lr, b1, b2, eps, wd,
               (float)(lr / bc1), (float)std::sqrt(bc2));
    check("adamw param", pr, p, 1e-6, 1e-7);
    check("adamw m", mr, m, 1e-6, 1e-7);
    check("adamw v", vr, v, 1e-5, 1e-9);
}

int main() {
    test_gemm();
    test_attention(2, 37, 2, 16);
    test_attention(1, 40, 1, 64);
    test_attention(1, 5, 2, 100);
    test_attention(1, 1, 1, 128);
    test_layernorm(33, 37);
    test_layernorm(300, 64);
    test_elementwise();
    test_reductions();
    test_batchnorm();
    test_conv();
    test_resize();
    test_cross_entropy(false, false);
    test_cross_entropy(true, false);
    test_cross_entropy(false, true);
    test_adamw();
    std::printf(failures == 0 ? "all kernel checks passed\n" : "%d kernel checks FAILED\n", failures);
    return failures == 0 ? 0 : 1;
}
