package dinoseg.backend.cuda;

import static dinoseg.backend.cuda.CudaMemory.ptr;

import dinoseg.backend.OpContract.Conv;
import dinoseg.tensor.Tensor;

/**
 * Launchers for ops on NCHW images: im2col and col2im (kernels/conv.cu) and bilinear resize with
 * its adjoint (kernels/resize.cu, align_corners=false). Arguments are checked by the backend
 * (OpContract) first.
 */
final class CudaImageOps {
    private final CudaContext ctx;
    private final CudaMemory mem;

    CudaImageOps(CudaContext ctx, CudaMemory mem) {
        this.ctx = ctx;
        this.mem = mem;
    }

    void im2col(Tensor x, int kh, int kw, int stride, int pad, Tensor cols, Conv g) {
        ctx.bind();
        ctx.launchN("im2col_f", cols.numel(), new KernelArgs().ptr(ptr(x)).ptr(ptr(cols)).i(g.b()).i(g.c()).i(g.h()).i(g.w())
                .i(kh).i(kw).i(stride).i(pad).i(g.oh()).i(g.ow()));
    }

    void col2im(Tensor cols, int kh, int kw, int stride, int pad, Tensor gx, Conv g) {
        ctx.bind();
        ctx.launchN("col2im_f", gx.numel(), new KernelArgs().ptr(ptr(cols)).ptr(ptr(gx)).i(g.b()).i(g.c()).i(g.h()).i(g.w())
                .i(kh).i(kw).i(stride).i(pad).i(g.oh()).i(g.ow()));
    }

    void resizeBilinear(Tensor x, Tensor out) {
        ctx.bind();
        long planes = (long) x.dim(0) * x.dim(1);
        ctx.launchN("resize_bilinear_fwd", out.numel(), new KernelArgs().ptr(ptr(x)).ptr(ptr(out)).l(planes)
                .i(x.dim(2)).i(x.dim(3)).i(out.dim(2)).i(out.dim(3)));
    }

    /** gx is zeroed, then every gout element scatters its four weighted contributions. */
    void resizeBilinearBackward(Tensor gout, Tensor gx) {
        ctx.bind();
        long planes = (long) gx.dim(0) * gx.dim(1);
        ctx.launchN("resize_bilinear_bwd", gx.numel(), new KernelArgs().ptr(ptr(gout)).ptr(ptr(gx)).l(planes)
                .i(gx.dim(2)).i(gx.dim(3)).i(gout.dim(2)).i(gout.dim(3)));
    }
}
