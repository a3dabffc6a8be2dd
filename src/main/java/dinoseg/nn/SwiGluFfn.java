package dinoseg.nn;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;

import java.util.SplittableRandom;

/**
 * DINOv2's SwiGLU feed-forward (the giant models): {@code w3(silu(x1) * x2)} where
 * {@code [x1, x2] = w12(x)}. The hidden width follows the official SwiGLUFFNFused:
 * {@code (int(hidden * 2 / 3) + 7) / 8 * 8}, see {@link #fusedHidden}.
 */
public final class SwiGluFfn extends Module implements Layer {
    public final Linear w12, w3;
    public final int hidden;

    public SwiGluFfn(Backend be, int dim, int hidden, SplittableRandom rng) {
        super(be);
        this.hidden = hidden;
        this.w12 = child("w12", new Linear(be, dim, 2 * hidden, true, rng));
        this.w3 = child("w3", new Linear(be, hidden, dim, true, rng));
    }

    /** The hidden width SwiGLUFFNFused derives from dim * mlp_ratio. */
    public static int fusedHidden(int mlpHidden) { return ((int) (mlpHidden * 2.0 / 3.0) + 7) / 8 * 8; }

    @Override public Var forward(Ops ops, Var x) {
        Var x12 = w12.forward(ops, x);
        Var h = ops.swiglu(x12);
        ops.release(x12);
        Var y = w3.forward(ops, h);
        ops.release(h);
        return y;
    }
}
