package dinoseg.nn;

import dinoseg.autograd.Var;
import dinoseg.tensor.Tensor;

/**
 * A named, trainable leaf value of a module. A buffer (BatchNorm running statistics) is a
 * Parameter that is part of the state dict but never trained.
 */
public final class Parameter extends Var {
    private final boolean buffer;

    public Parameter(Tensor value, boolean buffer) {
        super(value, !buffer);
        this.buffer = buffer;
    }

    public Parameter(Tensor value) { this(value, false); }

    /** True for state that is saved and loaded but never receives gradients. */
    public boolean isBuffer() { return buffer; }

    @Override public void setRequiresGrad(boolean r) {
        if (buffer && r) throw new IllegalStateException("a buffer never requires a gradient");
        super.setRequiresGrad(r);
    }
}
