package dinoseg.backend.cuda;

import static dinoseg.backend.cuda.CudaContext.THREADS;
import static dinoseg.backend.cuda.CudaMemory.PARTIALS;
import static dinoseg.backend.cuda.CudaMemory.ptr;
import static dinoseg.backend.cuda.CudaMemory.ptrOrNull;

import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * Reduction launchers: sumTo (the adjoint of broadcasting, kernels/elementwise.cu), whole-tensor
 * sums in double through a two-stage reduction into the shared scratch, softmax and argmax over an
 * axis, and softmax cross-entropy (kernels/cross_entropy.cu). Arguments are checked by the backend
 * (OpContract) first.
 */
final class CudaReductionOps {
    private final CudaContext ctx;
    private final CudaMemory mem;

    CudaReductionOps(CudaContext ctx, CudaMemory mem) {
        this.ctx = ctx;
        this.mem = mem;
    }

    /** Rows of x at least, for the column-sum path of sumTo (fewer go to sum_to_thread/block). */
    static final long COLUMN_SUM_MIN_ROWS = 64;
    /** Rows per chunk of sum_rows_partial (more when the chunks would pass the grid's y limit). */
    static final int COLUMN_SUM_ROWS_PER_CHUNK = 256;

    /**
     * When out keeps x's trailing dims and sums all the leading ones (out's shape, right-aligned, is
     * 1 on a prefix of x's dims and equal after it), the number of kept elements per row; else 0.
     */
    static long trailingKept(Shape x, Shape out) {
        int xr = x.rank(), lead = xr - out.rank();
        if (lead < 0) return 0;
        int k = xr;   // x's axes k.. are kept: out has them with the same sizes
        while (k > 0 && k - 1 >= lead && out.dim(k - 1 - lead) == x.dim(k - 1)) k--;
        for (int i = lead; i < k; i++) if (out.dim(i - lead) != 1) return 0;   // the rest is summed
        long cols = 1;
        for (int i = k; i < xr; i++) cols *= x.dim(i);
        return k == 0 ? 0 : cols;
    }

    void sumTo(Tensor x, Tensor out) {
        ctx.bind();
        if (out.numel() == x.numel()) { mem.copy(x, out); return; }
        long cols = trailingKept(x.shape(), out.shape());
        if (cols > 0 && cols <= Integer.MAX_VALUE && x.numel() / cols >= COLUMN_SUM_MIN_ROWS) {
            // a sum over leading dims (bias gradients): coalesced column partials, then the chunks in order
            long rows = x.numel() / cols;
            int per = (int) Math.max(COLUMN_SUM_ROWS_PER_CHUNK, (rows + 65534) / 65535);
            int chunks = (int) ((rows + per - 1) / per);
            try (Tensor partial = mem.empty(Shape.of(Math.toIntExact(chunks * cols)), DType.F32)) {
                ctx.launch("sum_rows_partial", (int) ((cols + 31) / 32), chunks, 1, 32, 8, 0,
                        new KernelArgs().ptr(ptr(x)).ptr(ptr(partial)).l(rows).i((int) cols).i(per));
                ctx.launch("column_sum_finalize", (int) ((cols + THREADS - 1) / THREADS), 1, 1, THREADS, 0,
                        new KernelArgs().ptr(ptr(partial)).ptr(ptr(out)).i(chunks).i((int) cols));
            }
            return;
        }
        long[][] desc = Dims.sumTo("sumTo", x.shape(), out.shape());
        long[] kept = desc[0], red = desc[1];
        long nOut = out.numel(), r = nOut == 0 ? 0 : x.numel() / nOut;
        if (nOut == 0) return;
        KernelArgs args = new KernelArgs().ptr(ptr(x)).ptr(ptr(out)).l(nOut).l(r).dims(kept).dims(red);
        if (r >= 256) ctx.launch("sum_to_block", (int) Math.min(nOut, 65535L * 16), 1, 1, THREADS, 0, args);
        else ctx.launchN("sum_to_thread", nOut, args);
    }

    /** Two-stage double-precision sum (or sum of squares) into scratch double 2*PARTIALS (and outF as a float when given). */
    private void reduceAll(Tensor x, boolean squares, CUdeviceptr outF) {
        long n = x.numel();
        int blocks = (int) Math.max(1, Math.min(PARTIALS, (n + THREADS - 1) / THREADS));
        ctx.launch("sum_partial_d", blocks, 1, 1, THREADS, 0,
                new KernelArgs().ptr(ptr(x)).l(n).i(squares ? 1 : 0).ptr(mem.scratchD(0)));
        ctx.launch("reduce_partials_d", 1, 1, 1, THREADS, 0,
                new KernelArgs().ptr(mem.scratchD(0)).i(blocks).ptr(mem.scratchD(2 * PARTIALS)).ptr(outF));
    }

    void sumAll(Tensor x, Tensor out) {
        ctx.bind();
        reduceAll(x, false, ptr(out));
    }

    double sumSquares(Tensor x) {
        ctx.bind();
        reduceAll(x, true, null);
        double[] r = new double[1];
        mem.download(Pointer.to(r), mem.scratchD(2 * PARTIALS), 8);
        return r[0];
    }

    /** Softmax over the non-negative axis {@code ax}: one warp per row when it is the last axis. */
    void softmax(Tensor x, int ax, Tensor out) {
        ctx.bind();
        long outer = x.shape().prod(0, ax), inner = x.shape().prod(ax + 1, x.rank());
        int k = x.dim(ax);
        if (x.numel() == 0) return;
        if (inner == 1) ctx.launchWarps("softmax_lastdim", outer, new KernelArgs().ptr(ptr(x)).ptr(ptr(out)).l(outer).i(k));
        else ctx.launchN("softmax_axis", outer * inner, new KernelArgs().ptr(ptr(x)).ptr(ptr(out)).l(outer).i(k).l(inner));
    }

    void argmax(Tensor x, Tensor out) {
        ctx.bind();
        long inner = x.shape().prod(2, x.rank());
        ctx.launchN("argmax_axis", out.numel(), new KernelArgs().ptr(ptr(x)).ptr(ptr(out)).l(x.dim(0)).i(x.dim(1)).l(inner));
    }

    /**
     * confusion_update: a shared-memory histogram per block when the K×K counts fit 48 KiB (K ≤ 110;
     * VOC's 21), merged into counts with one atomicAdd per non-zero cell; global atomics otherwise.
     */
    void confusionMatrix(Tensor logits, Tensor labels, int ignoreIndex, Tensor counts) {
        ctx.bind();
        int k = logits.dim(1);
        long b = logits.dim(0), inner = logits.shape().prod(2, logits.rank()), n = b * inner;
        boolean shared = (long) k * k * 4 <= 48 * 1024;
        int blocks = (int) Math.max(1, Math.min(PARTIALS, (n + THREADS - 1) / THREADS));
        ctx.launch("confusion_update", blocks, 1, 1, THREADS, shared ? k * k * 4 : 0, new KernelArgs().ptr(ptr(logits))
                .ptr(ptr(labels)).l(b).i(k).l(inner).i(ignoreIndex).i(shared ? 1 : 0).ptr(ptr(counts)));
    }

    void softmaxCrossEntropy(Tensor logits, Tensor labels, Tensor classWeights, int ignoreIndex, Tensor loss, Tensor glogits) {
        ctx.bind();
        int k = logits.dim(1);
        long b = logits.dim(0), inner = logits.shape().prod(2, logits.rank()), n = b * inner;
        int blocks = (int) Math.max(1, Math.min(PARTIALS, (n + THREADS - 1) / THREADS));
        ctx.launch("ce_partial", blocks, 1, 1, THREADS, 0, new KernelArgs().ptr(ptr(logits)).ptr(ptr(labels))
                .ptr(ptrOrNull(classWeights)).l(b).i(k).l(inner).i(ignoreIndex).ptr(mem.scratchD(0)));
        ctx.launch("ce_finalize", 1, 1, 1, THREADS, 0, new KernelArgs().ptr(mem.scratchD(0)).i(blocks).ptr(ptr(loss))
                .ptr(mem.scratchD(2 * PARTIALS + 2)));
        if (glogits != null)
            ctx.launchN("ce_grad", n, new KernelArgs().ptr(ptr(logits)).ptr(ptr(labels)).ptr(ptrOrNull(classWeights))
                    .l(b).i(k).l(inner).i(ignoreIndex).ptr(mem.scratchD(2 * PARTIALS + 2)).ptr(ptr(glogits)));
    }
}
