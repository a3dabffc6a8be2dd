package dinoseg.backend.cuda;

import static dinoseg.backend.cuda.CudaMemory.ptr;

import dinoseg.tensor.Tensor;

/**
 * Elementwise launchers (kernels/elementwise.cu): fill, broadcast add and mul, scale, axpy, GELU,
 * ReLU and SwiGLU with their backwards, all grid-stride over the output. Arguments are checked by
 * the backend (OpContract) first; a broadcast that collapses to more than {@link Dims#MAX_RANK}
 * dims fails in {@link Dims}.
 */
final class CudaElementwiseOps {
    private final CudaContext ctx;

    CudaElementwiseOps(CudaContext ctx) { this.ctx = ctx; }

    void fill(Tensor t, float value) {
        ctx.bind();
        ctx.launchN("fill_f", t.numel(), new KernelArgs().ptr(ptr(t)).f(value).l(t.numel()));
    }

    /** out = a (op) b with b broadcast to a; {@code alpha} is passed to add kernels (null for mul). */
    private void binary(String op, String same, String bcast, Tensor a, Tensor b, Tensor out, Float alpha) {
        ctx.bind();
        long n = a.numel();
        KernelArgs args = new KernelArgs().ptr(ptr(a)).ptr(ptr(b));
        if (alpha != null) args.f(alpha);
        args.ptr(ptr(out)).l(n);
        if (b.shape().equals(a.shape())) ctx.launchN(same, n, args);
        else ctx.launchN(bcast, n, args.dims(Dims.broadcast(op, a.shape(), b.shape())));
    }

    void add(Tensor a, Tensor b, float alpha, Tensor out) { binary("add", "add_same", "add_bcast", a, b, out, alpha); }

    void mul(Tensor a, Tensor b, Tensor out) { binary("mul", "mul_same", "mul_bcast", a, b, out, null); }

    /** addcmul_trailing: out = input + t1 * t2[i % len], the product rounded first (as add after mul). */
    void addcmul(Tensor input, Tensor t1, Tensor t2, Tensor out) {
        ctx.bind();
        long n = input.numel();
        if (n == 0) return;
        ctx.launchN("addcmul_trailing", n, new KernelArgs().ptr(ptr(input)).ptr(ptr(t1)).ptr(ptr(t2)).ptr(ptr(out))
                .l(n).l(Math.max(1, t2.numel())));
    }

    void scale(Tensor x, float alpha, Tensor out) {
        ctx.bind();
        ctx.launchN("scale_f", x.numel(), new KernelArgs().ptr(ptr(x)).f(alpha).ptr(ptr(out)).l(x.numel()));
    }

    /** out = x rounded to bf16 or tf32 (round_bf16_f in kernels/attention_tc.cu, round_tf32_f in gemm_tc.cu). */
    void roundTo(Tensor x, dinoseg.backend.Precision p, Tensor out) {
        if (x.numel() == 0) return;
        if (p == dinoseg.backend.Precision.FP32) throw new IllegalArgumentException("roundTo: fp32 is a copy, not a kernel");
        ctx.bind();
        ctx.launchN(p == dinoseg.backend.Precision.BF16 ? "round_bf16_f" : "round_tf32_f", x.numel(),
                new KernelArgs().ptr(ptr(x)).ptr(ptr(out)).l(x.numel()));
    }

    void axpy(float alpha, Tensor x, Tensor y) {
        ctx.bind();
        ctx.launchN("axpy_f", x.numel(), new KernelArgs().f(alpha).ptr(ptr(x)).ptr(ptr(y)).l(x.numel()));
    }

    /** out = f(x) with kernel {@code kernel}(x, out, n). */
    void unary(String kernel, Tensor x, Tensor out) {
        ctx.bind();
        ctx.launchN(kernel, x.numel(), new KernelArgs().ptr(ptr(x)).ptr(ptr(out)).l(x.numel()));
    }

    /** gx = gy * f'(x) with kernel {@code kernel}(x, gy, gx, n). */
    void unaryBackward(String kernel, Tensor x, Tensor gy, Tensor gx) {
        ctx.bind();
        ctx.launchN(kernel, x.numel(), new KernelArgs().ptr(ptr(x)).ptr(ptr(gy)).ptr(ptr(gx)).l(x.numel()));
    }

    /** out [..., H] = silu(x12[..., :H]) * x12[..., H:]. */
    void swiglu(Tensor x12, Tensor out, int h) {
        ctx.bind();
        long rows = h == 0 ? 0 : out.numel() / h;
        ctx.launchN("swiglu_fwd", out.numel(), new KernelArgs().ptr(ptr(x12)).ptr(ptr(out)).l(rows).i(h));
    }

    void swigluBackward(Tensor x12, Tensor gy, Tensor gx12, int h) {
        ctx.bind();
        long rows = h == 0 ? 0 : gy.numel() / h;
        ctx.launchN("swiglu_bwd", gy.numel(), new KernelArgs().ptr(ptr(x12)).ptr(ptr(gy)).ptr(ptr(gx12)).l(rows).i(h));
    }
}
