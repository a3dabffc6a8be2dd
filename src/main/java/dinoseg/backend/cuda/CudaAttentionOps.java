package dinoseg.backend.cuda;

import static dinoseg.backend.cuda.CudaMemory.ptr;

import dinoseg.backend.Checks;
import dinoseg.backend.OpContract.Heads;
import dinoseg.backend.Precision;
import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/**
 * Fused attention launchers (kernels/attention.cu): a flash-attention forward of 16 query rows per
 * block streaming 32-key tiles through shared memory, and a FlashAttention-2 backward (dot(out,
 * gout) per row, then dq and dk/dv kernels that recompute P from lse). Arguments are checked by
 * the backend (OpContract) first; the kernels' own limit is a head dimension of at most
 * {@value #MAX_HEAD_DIM}. Under {@link Precision#BF16} forward and backward are kernels/attention_tc.cu's
 * FlashAttention-2 on bf16 tensor cores (64 rows per block of 4 warps; head dim padded to 64 or 128).
 */
final class CudaAttentionOps {
    private static final int ROWS = 16, TILE = 32, THREADS = 128;
    /** The largest head dimension the kernels' shared-memory tiles hold. */
    static final int MAX_HEAD_DIM = 128;

    private final CudaContext ctx;
    private final CudaMemory mem;
    private volatile Precision precision = Precision.FP32;

    /** BF16: forward and backward run on the tensor-core kernels of kernels/attention_tc.cu. */
    void setPrecision(Precision p) { precision = p; }

    CudaAttentionOps(CudaContext ctx, CudaMemory mem) {
        this.ctx = ctx;
        this.mem = mem;
    }

    /** The kernels' limit, checked after the contract: 1 &lt;= D &lt;= 128 unless there is nothing to do. */
    private static void supported(String op, Heads s, Tensor qkv) {
        Checks.check(s.empty() || s.headDim() <= MAX_HEAD_DIM, op, "head dim " + s.headDim()
                + " unsupported by the CUDA kernels (1.." + MAX_HEAD_DIM + ") for qkv " + qkv.shape());
    }

    void attention(Tensor qkv, Heads s, float scale, Tensor out, Tensor lse) {
        supported("attention", s, qkv);
        if (s.empty()) return;
        int b = s.batch(), n = s.tokens(), h = s.heads(), d = s.headDim();
        ctx.bind();
        // the kernel always writes the row statistics: a temporary takes them when the caller wants none
        try (Tensor temp = lse == null ? mem.empty(Shape.of(b, h, n), DType.F32) : null) {
            Tensor l = lse != null ? lse : temp;
            if (precision == Precision.BF16) {   // 64 query rows per block of 4 warps; head dim padded to 64 or 128
                int dp = d <= 64 ? 64 : 128;
                // Q, K, V tiles in bf16, plus (head dim 64) the fp32 staging of the next K/V tile's cp.async copies
                ctx.launch("attention_fwd_bf16_tc_" + dp, (n + 63) / 64, b * h, 1, THREADS, 3 * 64 * (dp + 8) * 2 + (dp == 64 ? 32768 : 0),
                        new KernelArgs().ptr(ptr(qkv)).ptr(ptr(out)).ptr(ptr(l)).i(n).i(h).i(d).f(scale));
                return;
            }
            int shared = 4 * (ROWS * d + TILE * (d + 1) + TILE * d);
            ctx.launch("attention_fwd", (n + ROWS - 1) / ROWS, b * h, 1, THREADS, shared,
                    new KernelArgs().ptr(ptr(qkv)).ptr(ptr(out)).ptr(ptr(l)).i(n).i(h).i(d).f(scale));
        }
    }

    void attentionBackward(Tensor qkv, Tensor out, Tensor lse, Tensor gout, Heads s, float scale, Tensor gqkv) {
        supported("attentionBackward", s, qkv);
        if (s.empty()) {
            if (gqkv.numel() > 0) { ctx.bind(); mem.zero(gqkv); }
            return;
        }
        int b = s.batch(), n = s.tokens(), h = s.heads(), d = s.headDim();
        ctx.bind();
        if (precision == Precision.BF16) {   // FlashAttention-2 backward on tensor cores: kernels/attention_tc.cu
            int dp = d <= 64 ? 64 : 128, grid = (n + 63) / 64, tile = 64 * (dp + 8) * 2;
            try (Tensor dv = mem.empty(Shape.of(b, h, n), DType.F32); Tensor gr = mem.empty(gout.shape(), DType.F32)) {
                // delta = rowsum(dO o O) of the bf16 dO the products use
                ctx.launchN("round_bf16_f", gout.numel(), new KernelArgs().ptr(ptr(gout)).ptr(ptr(gr)).l(gout.numel()));
                ctx.launchWarps("attention_bwd_dot", (long) b * h * n,
                        new KernelArgs().ptr(ptr(out)).ptr(ptr(gr)).ptr(ptr(dv)).i(b).i(n).i(h).i(d));
                ctx.launch("attention_bwd_dkdv_bf16_tc_" + dp, grid, b * h, 1, THREADS, 4 * tile + 2 * 64 * 4,
                        new KernelArgs().ptr(ptr(qkv)).ptr(ptr(gr)).ptr(ptr(lse)).ptr(ptr(dv)).ptr(ptr(gqkv)).i(n).i(h).i(d).f(scale));
                ctx.launch("attention_bwd_dq_bf16_tc_" + dp, grid, b * h, 1, THREADS, 4 * tile,
                        new KernelArgs().ptr(ptr(qkv)).ptr(ptr(gr)).ptr(ptr(lse)).ptr(ptr(dv)).ptr(ptr(gqkv)).i(n).i(h).i(d).f(scale));
            }
            return;
        }
        try (Tensor dv = mem.empty(Shape.of(b, h, n), DType.F32)) {
            ctx.launchWarps("attention_bwd_dot", (long) b * h * n,
                    new KernelArgs().ptr(ptr(out)).ptr(ptr(gout)).ptr(ptr(dv)).i(b).i(n).i(h).i(d));
            int grid = (n + ROWS - 1) / ROWS;
            int sharedDq = 4 * (2 * ROWS * d + 2 * TILE * (d + 1));
            ctx.launch("attention_bwd_dq", grid, b * h, 1, THREADS, sharedDq, new KernelArgs().ptr(ptr(qkv)).ptr(ptr(gout))
                    .ptr(ptr(lse)).ptr(ptr(dv)).ptr(ptr(gqkv)).i(n).i(h).i(d).f(scale));
            int sharedKv = 4 * (2 * ROWS * d + 2 * TILE * (d + 1) + 2 * TILE);
            ctx.launch("attention_bwd_dkdv", grid, b * h, 1, THREADS, sharedKv, new KernelArgs().ptr(ptr(qkv)).ptr(ptr(gout))
                    .ptr(ptr(lse)).ptr(ptr(dv)).ptr(ptr(gqkv)).i(n).i(h).i(d).f(scale));
        }
    }
}
