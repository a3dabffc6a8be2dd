package dinoseg.nn;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.tensor.Shape;

import java.util.SplittableRandom;

/** A square-kernel 2-D convolution with PyTorch's names and layout: weight [out, in, k, k], bias [out]. */
public final class Conv2d extends Module implements Layer {
    public final Parameter weight, bias;
    public final int in, out, kernel, stride, pad;

    /** PyTorch's default initialisation: uniform(±1/sqrt(fanIn)) for weight and bias. */
    public Conv2d(Backend be, int in, int out, int kernel, int stride, int pad, boolean bias, SplittableRandom rng) {
        super(be);
        this.in = in;
        this.out = out;
        this.kernel = kernel;
        this.stride = stride;
        this.pad = pad;
        double bound = 1 / Math.sqrt((double) in * kernel * kernel);
        this.weight = param("weight", new Parameter(Init.uniform(be, rng, Shape.of(out, in, kernel, kernel), bound)));
        this.bias = bias ? param("bias", new Parameter(Init.uniform(be, rng, Shape.of(out), bound))) : null;
    }

    /** Output spatial size for an input size along one axis. */
    public int outSize(int size) { return (size + 2 * pad - kernel) / stride + 1; }

    @Override public Var forward(Ops ops, Var x) { return ops.conv2d(x, weight, bias, stride, pad); }
}
