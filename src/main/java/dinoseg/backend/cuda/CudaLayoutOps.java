package dinoseg.backend.cuda;

import static dinoseg.backend.cuda.CudaMemory.ptr;

import dinoseg.tensor.Tensor;

/**
 * Layout launchers (kernels/elementwise.cu), moving 32-bit elements of either dtype: strided block
 * copies (optionally accumulating floats), axis permutation and the horizontal flip. Arguments are
 * checked by the backend (OpContract) first; a permutation that collapses to more than
 * {@link Dims#MAX_RANK} dims fails in {@link Dims}.
 */
final class CudaLayoutOps {
    private final CudaContext ctx;

    CudaLayoutOps(CudaContext ctx) { this.ctx = ctx; }

    void copyBlocks(Tensor src, long srcOff, long srcStride, Tensor dst, long dstOff, long dstStride,
                    int rows, long rowLen, boolean accumulate) {
        ctx.bind();
        ctx.launchN(accumulate ? "copy_blocks_add" : "copy_blocks_u32", rows * rowLen, new KernelArgs()
                .ptr(ptr(src, srcOff)).l(srcStride).ptr(ptr(dst, dstOff)).l(dstStride).l(rows).l(rowLen));
    }

    void permute(Tensor x, int[] perm, Tensor out) {
        ctx.bind();
        ctx.launchN("permute_u32", x.numel(), new KernelArgs().ptr(ptr(x)).ptr(ptr(out)).l(x.numel())
                .dims(Dims.permute("permute", x.shape(), perm)));
    }

    void flipLastDim(Tensor x, Tensor out) {
        ctx.bind();
        ctx.launchN("flip_last_dim", x.numel(), new KernelArgs().ptr(ptr(x)).ptr(ptr(out)).l(x.numel()).i(x.dim(-1)));
    }
}
