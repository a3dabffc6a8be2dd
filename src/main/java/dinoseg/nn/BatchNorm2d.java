package dinoseg.nn;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.tensor.Shape;

/**
 * BatchNorm over the channels of NCHW input with PyTorch's names: {@code weight}, {@code bias}
 * and the buffers {@code running_mean}, {@code running_var} (PyTorch's integer
 * {@code num_batches_tracked} counter is not kept: with a fixed momentum it is never read).
 * Uses batch statistics while {@link #isTraining()}, the running ones otherwise.
 */
public final class BatchNorm2d extends Module implements Layer {
    public final Parameter weight, bias, runningMean, runningVar;
    public final float eps, momentum;

    public BatchNorm2d(Backend be, int channels) { this(be, channels, 1e-5f, 0.1f); }

    public BatchNorm2d(Backend be, int channels, float eps, float momentum) {
        super(be);
        this.eps = eps;
        this.momentum = momentum;
        this.weight = param("weight", new Parameter(be.full(Shape.of(channels), 1f)));
        this.bias = param("bias", new Parameter(be.zeros(Shape.of(channels))));
        this.runningMean = param("running_mean", new Parameter(be.zeros(Shape.of(channels)), true));
        this.runningVar = param("running_var", new Parameter(be.full(Shape.of(channels), 1f), true));
    }

    @Override public Var forward(Ops ops, Var x) {
        return ops.batchNorm2d(x, weight, bias, runningMean.value(), runningVar.value(), isTraining(), momentum, eps);
    }
}
