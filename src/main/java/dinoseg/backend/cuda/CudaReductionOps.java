package dinoseg.backend.cuda;

import static dinoseg.backend.cuda.CudaContext.THREADS;
import static dinoseg.backend.cuda.CudaMemory.PARTIALS;
import static dinoseg.backend.cuda.CudaMemory.ptr;
import static dinoseg.backend.cuda.CudaMemory.ptrOrNull;

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

    void sumTo(Tensor x, Tensor out) {
        ctx.bind();
        if (out.numel() == x.numel()) { mem.copy(x, out); return; }
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
