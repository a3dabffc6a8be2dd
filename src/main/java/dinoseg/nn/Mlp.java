package dinoseg.nn;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;

import java.util.SplittableRandom;

/** fc2(gelu(fc1(x))), exact GELU. */
public final class Mlp extends Module implements Layer {
    public final Linear fc1, fc2;

    public Mlp(Backend be, int dim, int hidden, SplittableRandom rng) {
        super(be);
        this.fc1 = child("fc1", new Linear(be, dim, hidden, true, rng));
        this.fc2 = child("fc2", new Linear(be, hidden, dim, true, rng));
    }

    @Override public Var forward(Ops ops, Var x) { return fc2.forward(ops, ops.gelu(fc1.forward(ops, x))); }
}
