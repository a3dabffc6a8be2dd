package dinoseg.nn;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;

import java.util.SplittableRandom;

/**
 * fc2(gelu(fc1(x))), exact GELU. The GELU and fc2 run as one op ({@link Ops#geluLinear}) that
 * keeps only fc1's output for the backward and recomputes the GELU there (unfused when fc2 has a
 * LoRA adapter).
 */
public final class Mlp extends Module implements Layer {
    public final Linear fc1, fc2;

    public Mlp(Backend be, int dim, int hidden, SplittableRandom rng) {
        super(be);
        this.fc1 = child("fc1", new Linear(be, dim, hidden, true, rng));
        this.fc2 = child("fc2", new Linear(be, hidden, dim, true, rng));
    }

    @Override public Var forward(Ops ops, Var x) {
        Var h = fc1.forward(ops, x);
        if (fc2.hasLora()) {   // the adapter needs gelu(h) as fc2's input: the unfused ops
            Var a = ops.gelu(h);
            ops.release(h);
            Var y = fc2.forward(ops, a);
            ops.release(a);
            return y;
        }
        Var y = ops.geluLinear(h, fc2.weight, fc2.bias);
        ops.release(h);
        return y;
    }
}
