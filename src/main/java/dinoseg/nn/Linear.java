package dinoseg.nn;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.tensor.Shape;

import java.util.SplittableRandom;

/** y = x W^T + b with PyTorch's names and layout: weight [out, in], bias [out]. */
public final class Linear extends Module implements Layer {
    public final Parameter weight, bias;
    public final int in, out;

    public Linear(Backend be, int in, int out, boolean bias, SplittableRandom rng) {
        super(be);
        this.in = in;
        this.out = out;
        this.weight = param("weight", new Parameter(Init.truncNormal(be, rng, Shape.of(out, in), 0.02)));
        this.bias = bias ? param("bias", new Parameter(be.zeros(Shape.of(out)))) : null;
    }

    @Override public Var forward(Ops ops, Var x) { return ops.linear(x, weight, bias); }
}
