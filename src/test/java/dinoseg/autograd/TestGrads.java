package dinoseg.autograd;

import dinoseg.tensor.Tensor;

/** Test access to a Var's gradient slot (package-private in main code): sets a gradient directly. */
public final class TestGrads {
    private TestGrads() { }

    public static void set(Var v, Tensor g) {
        if (!g.shape().equals(v.shape())) throw new IllegalArgumentException("gradient shape " + g.shape() + " vs " + v.shape());
        v.grad = g;
    }
}
