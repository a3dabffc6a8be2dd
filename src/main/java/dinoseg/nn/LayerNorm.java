package dinoseg.nn;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.tensor.Shape;

/** LayerNorm over the last dimension; DINOv2 uses eps 1e-6. */
public final class LayerNorm extends Module implements Layer {
    public final Parameter weight, bias;
    public final float eps;

    public LayerNorm(Backend be, int dim, float eps) {
        super(be);
        this.eps = eps;
        this.weight = param("weight", new Parameter(be.full(Shape.of(dim), 1f)));
        this.bias = param("bias", new Parameter(be.zeros(Shape.of(dim))));
    }

    @Override public Var forward(Ops ops, Var x) { return ops.layerNorm(x, weight, bias, eps); }
}
