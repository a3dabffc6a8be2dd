package dinoseg.nn;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.tensor.Shape;

/** x * gamma, a learned per-channel factor (DINOv2's ls1/ls2). */
public final class LayerScale extends Module implements Layer {
    public final Parameter gamma;

    public LayerScale(Backend be, int dim, float init) {
        super(be);
        this.gamma = param("gamma", new Parameter(be.full(Shape.of(dim), init)));
    }

    @Override public Var forward(Ops ops, Var x) { return ops.mul(x, gamma); }
}
