package dinoseg.backend.cuda;

import static dinoseg.backend.cuda.CudaContext.THREADS;
import static dinoseg.backend.cuda.CudaMemory.ptr;
import static dinoseg.backend.cuda.CudaMemory.ptrOrNull;

import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/**
 * Normalisation launchers: LayerNorm (kernels/layernorm.cu, one warp per row; parameter gradients
 * as per-chunk column partials summed by a second kernel) and BatchNorm2d (kernels/batchnorm.cu,
 * one block per channel for the statistics). Arguments are checked by the backend (OpContract)
 * first; optional saved statistics the caller did not ask for go to a temporary.
 */
final class CudaNormOps {
    /** Rows per chunk of the LayerNorm parameter-gradient partials. */
    private static final int LN_ROWS_PER_CHUNK = 128;

    private final CudaContext ctx;
    private final CudaMemory mem;

    CudaNormOps(CudaContext ctx, CudaMemory mem) {
        this.ctx = ctx;
        this.mem = mem;
    }

    void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd, int rows) {
        ctx.bind();
        ctx.launchWarps("layernorm_fwd", rows, new KernelArgs().ptr(ptr(x)).ptr(ptrOrNull(gamma)).ptr(ptrOrNull(beta))
                .ptr(ptr(y)).ptr(ptrOrNull(mean)).ptr(ptrOrNull(rstd)).i(rows).i(x.dim(-1)).f(eps));
    }

    /** Blocks of the one-pass LayerNorm backward at most (its partials: 2 × blocks × C floats). */
    static final int LN_FUSED_BLOCKS = 256;

    /**
     * Values per lane of the one-pass LayerNorm backward kernel for rows of c (the smallest of 4, 8, 12,
     * 16, 24 with 32·V ≥ c), or 0 above 768 (ViT-L/g widths use the two-kernel path).
     */
    static int fusedValuesPerLane(int c) {
        for (int v : new int[]{4, 8, 12, 16, 24}) if (32 * v >= c) return v;
        return 0;
    }

    void layerNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd,
                           Tensor gx, Tensor ggamma, Tensor gbeta, int rows) {
        ctx.bind();
        int c = x.dim(-1);
        int v = fusedValuesPerLane(c);
        if ((ggamma != null || gbeta != null) && v > 0) {
            // one pass: gx and the parameter partials per block of 8 warps, then the column sums
            int blocks = Math.max(1, Math.min((rows + 7) / 8, LN_FUSED_BLOCKS));
            try (Tensor partial = mem.empty(Shape.of(2 * blocks * c), DType.F32)) {
                ctx.launch("layernorm_bwd_fused_" + v, blocks, 1, 1, 256, 2 * c * 4,
                        new KernelArgs().ptr(ptr(gy)).ptr(ptr(x)).ptr(ptrOrNull(gamma)).ptr(ptr(mean)).ptr(ptr(rstd))
                                .ptr(ptr(gx)).ptr(ptr(partial)).i(rows).i(c));
                int g = (c + THREADS - 1) / THREADS;
                if (ggamma != null) ctx.launch("column_sum_finalize", g, 1, 1, THREADS, 0,
                        new KernelArgs().ptr(ptr(partial)).ptr(ptr(ggamma)).i(blocks).i(c));
                if (gbeta != null) ctx.launch("column_sum_finalize", g, 1, 1, THREADS, 0,
                        new KernelArgs().ptr(ptr(partial, (long) blocks * c)).ptr(ptr(gbeta)).i(blocks).i(c));
            }
            return;
        }
        if (ggamma != null || gbeta != null) {
            // parameter gradients first: gx may be gy (in place)
            int chunks = Math.max(1, (rows + LN_ROWS_PER_CHUNK - 1) / LN_ROWS_PER_CHUNK);
            try (Tensor partial = mem.empty(Shape.of(2 * chunks * c), DType.F32)) {
                ctx.launch("layernorm_bwd_params_partial", (c + 31) / 32, chunks, 1, 32, 8, 0,
                        new KernelArgs().ptr(ptr(gy)).ptr(ptr(x)).ptr(ptr(mean)).ptr(ptr(rstd)).ptr(ptr(partial))
                                .i(rows).i(c).i(LN_ROWS_PER_CHUNK));
                int g = (c + THREADS - 1) / THREADS;
                if (ggamma != null) ctx.launch("column_sum_finalize", g, 1, 1, THREADS, 0,
                        new KernelArgs().ptr(ptr(partial)).ptr(ptr(ggamma)).i(chunks).i(c));
                if (gbeta != null) ctx.launch("column_sum_finalize", g, 1, 1, THREADS, 0,
                        new KernelArgs().ptr(ptr(partial, (long) chunks * c)).ptr(ptr(gbeta)).i(chunks).i(c));
            }
        }
        ctx.launchWarps("layernorm_bwd_dx", rows, new KernelArgs().ptr(ptr(gy)).ptr(ptr(x)).ptr(ptrOrNull(gamma))
                .ptr(ptr(mean)).ptr(ptr(rstd)).ptr(ptr(gx)).i(rows).i(c));
    }

    void batchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                   boolean training, float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveRstd) {
        int b = x.dim(0), c = x.dim(1);
        long hw = (long) x.dim(2) * x.dim(3);
        ctx.bind();
        // the kernels normalise with saveMean/saveRstd: a temporary stands in for those not wanted
        try (Tensor temp = saveMean == null || saveRstd == null ? mem.empty(Shape.of(2 * c), DType.F32) : null) {
            Tensor sm = saveMean != null ? saveMean : temp, sr = saveRstd != null ? saveRstd : temp;
            long smOff = 0, srOff = saveRstd != null ? 0 : c;
            if (training) {
                try (Tensor stats = mem.empty(Shape.of(2 * c), DType.F32)) {
                    ctx.launch("bn_stats", c, 1, 1, THREADS, 0, new KernelArgs().ptr(ptr(x)).i(b).i(c).l(hw)
                            .ptr(ptr(stats)).ptr(ptr(stats, c)));
                    ctx.launch("bn_finalize", (c + THREADS - 1) / THREADS, 1, 1, THREADS, 0, new KernelArgs()
                            .ptr(ptr(stats)).ptr(ptr(stats, c)).ptr(ptrOrNull(runningMean)).ptr(ptrOrNull(runningVar))
                            .ptr(ptr(sm, smOff)).ptr(ptr(sr, srOff)).i(c).i(1).f(momentum).f(eps).l(b * hw));
                }
            } else {
                ctx.launch("bn_finalize", (c + THREADS - 1) / THREADS, 1, 1, THREADS, 0, new KernelArgs()
                        .ptr(null).ptr(null).ptr(ptr(runningMean)).ptr(ptr(runningVar))
                        .ptr(ptr(sm, smOff)).ptr(ptr(sr, srOff)).i(c).i(0).f(momentum).f(eps).l(b * hw));
            }
            ctx.launchN("bn_apply", x.numel(), new KernelArgs().ptr(ptr(x)).ptr(ptrOrNull(gamma)).ptr(ptrOrNull(beta))
                    .ptr(ptr(sm, smOff)).ptr(ptr(sr, srOff)).ptr(ptr(y)).i(c).l(hw).l(x.numel()));
        }
    }

    void batchNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor saveMean, Tensor saveRstd,
                           boolean training, Tensor gx, Tensor ggamma, Tensor gbeta) {
        int b = x.dim(0), c = x.dim(1);
        long hw = (long) x.dim(2) * x.dim(3);
        ctx.bind();
        try (Tensor sums = mem.empty(Shape.of(2 * c), DType.F32)) {
            ctx.launch("bn_bwd_reduce", c, 1, 1, THREADS, 0, new KernelArgs().ptr(ptr(gy)).ptr(ptr(x)).ptr(ptr(saveMean))
                    .ptr(ptr(saveRstd)).i(b).i(c).l(hw).ptr(ptr(sums)).ptr(ptrOrNull(ggamma)).ptr(ptrOrNull(gbeta)));
            ctx.launchN("bn_bwd_dx", x.numel(), new KernelArgs().ptr(ptr(gy)).ptr(ptr(x)).ptr(ptrOrNull(gamma))
                    .ptr(ptr(saveMean)).ptr(ptr(saveRstd)).ptr(ptr(sums)).ptr(ptr(gx)).i(training ? 1 : 0)
                    .i(b).i(c).l(hw));
        }
    }
}
