package dinoseg.autograd;

import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/**
 * A value in the computation graph: a tensor, whether gradients flow to it, and its gradient once
 * {@link Tape#backward} has run. Leaves that require gradients are parameters (see nn.Parameter);
 * other Vars are intermediates produced by {@link Ops}.
 */
public class Var {
    private Tensor value;
    private boolean requiresGrad;
    /** Accumulated gradient, same shape as value; null until something flows into it. */
    Tensor grad;
    /** True for values produced by an {@link Ops} method (owned by its tape; their grads are freed after backward). */
    final boolean intermediate;
    /** Set once {@link Tape#release} dropped this Var's hold on its tensor. */
    boolean released;

    public Var(Tensor value, boolean requiresGrad) {
        this(value, requiresGrad, false);
    }

    Var(Tensor value, boolean requiresGrad, boolean intermediate) {
        this.value = value;
        this.requiresGrad = requiresGrad;
        this.intermediate = intermediate;
    }

    /** A constant: no gradient flows to it. */
    public static Var constant(Tensor t) { return new Var(t, false); }

    public Tensor value() { return value; }

    /** Replaces the value (loading weights, optimizer updates on a new tensor). Shapes must match. */
    public void setValue(Tensor t) {
        if (!t.shape().equals(value.shape()))
            throw new IllegalArgumentException("setValue: shape " + t.shape() + " does not match " + value.shape());
        this.value = t;
    }

    public boolean requiresGrad() { return requiresGrad; }

    public void setRequiresGrad(boolean r) {
        if (intermediate) throw new IllegalStateException("requiresGrad is fixed for intermediate values");
        this.requiresGrad = r;
    }

    /** The accumulated gradient, or null when none has flowed here. */
    public Tensor grad() { return grad; }

    /**
     * Frees the accumulated gradient (its memory goes back to the backend now) and forgets it; a
     * tensor obtained earlier from {@link #grad()} must not be used afterwards.
     */
    public void zeroGrad() {
        if (grad != null) grad.close();
        grad = null;
    }

    public Shape shape() { return value.shape(); }

    public int dim(int i) { return value.dim(i); }

    public int rank() { return value.rank(); }

    @Override public String toString() { return "Var" + value.shape() + (requiresGrad ? " (grad)" : ""); }
}
