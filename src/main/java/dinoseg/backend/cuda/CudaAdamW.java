package dinoseg.backend.cuda;

import static dinoseg.backend.cuda.CudaMemory.ptr;

import dinoseg.tensor.Tensor;

/** The AdamW step on the GPU (kernels/adamw.cu, torch.optim.AdamW), bias corrections computed on the host in double. */
final class CudaAdamW {
    private final CudaContext ctx;

    CudaAdamW(CudaContext ctx) { this.ctx = ctx; }

    void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
               float eps, float weightDecay, int step) {
        ctx.bind();
        double bc1 = 1 - Math.pow(beta1, step), bc2 = 1 - Math.pow(beta2, step);
        ctx.launchN("adamw_step", param.numel(), new KernelArgs().ptr(ptr(param)).ptr(ptr(grad)).ptr(ptr(m)).ptr(ptr(v))
                .l(param.numel()).f(lr).f(beta1).f(beta2).f(eps).f(weightDecay)
                .f((float) (lr / bc1)).f((float) Math.sqrt(bc2)));
    }

    /** The step with lr, lr / bc1 and sqrt(bc2) read from row {@code row} of scalars [R, 3] when the kernel runs. */
    void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor scalars, int row, float beta1, float beta2,
               float eps, float weightDecay) {
        ctx.bind();
        ctx.launchN("adamw_step_scalars", param.numel(), new KernelArgs().ptr(ptr(param)).ptr(ptr(grad)).ptr(ptr(m))
                .ptr(ptr(v)).l(param.numel()).ptr(CudaMemory.ptr(scalars, 3L * row)).f(beta1).f(beta2).f(eps).f(weightDecay));
    }
}
