package dinoseg.nn;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;

import java.util.SplittableRandom;

/** Multi-head self-attention: qkv Linear (with bias), the fused attention op, proj Linear. */
public final class Attention extends Module implements Layer {
    public final Linear qkv, proj;
    public final int heads;

    public Attention(Backend be, int dim, int heads, boolean qkvBias, SplittableRandom rng) {
        super(be);
        if (dim % heads != 0) throw new IllegalArgumentException("attention: dim " + dim + " is not divisible by heads " + heads);
        this.heads = heads;
        this.qkv = child("qkv", new Linear(be, dim, 3 * dim, qkvBias, rng));
        this.proj = child("proj", new Linear(be, dim, dim, true, rng));
    }

    @Override public Var forward(Ops ops, Var x) {
        Var q = qkv.forward(ops, x);
        Var a = ops.attention(q, heads);
        ops.release(q);
        Var y = proj.forward(ops, a);
        ops.release(a);
        return y;
    }
}
