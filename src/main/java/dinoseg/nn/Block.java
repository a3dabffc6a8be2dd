package dinoseg.nn;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;

import java.util.OptionalDouble;
import java.util.SplittableRandom;

/** A pre-norm transformer block: x + ls1(attn(norm1(x))), then x + ls2(mlp(norm2(x))). */
public final class Block extends Module implements Layer {
    public final LayerNorm norm1, norm2;
    public final Attention attn;
    public final LayerScale ls1, ls2;
    public final Layer mlp;

    /**
     * @param ffn the feed-forward module registered as {@code mlp} (an {@link Mlp}, or a SwiGLU FFN
     *            for the giant models); must be a Module
     * @param layerScaleInit initial value of both LayerScale factors ({@code ls1}, {@code ls2}); empty: no
     *                       LayerScale (the official {@code init_values=None}, dinov2/layers/block.py)
     */
    public Block(Backend be, int dim, int heads, Module ffn, OptionalDouble layerScaleInit, SplittableRandom rng) {
        super(be);
        this.norm1 = child("norm1", new LayerNorm(be, dim, 1e-6f));
        this.attn = child("attn", new Attention(be, dim, heads, true, rng));
        this.ls1 = layerScaleInit.isEmpty() ? null : child("ls1", new LayerScale(be, dim, (float) layerScaleInit.getAsDouble()));
        this.norm2 = child("norm2", new LayerNorm(be, dim, 1e-6f));
        this.mlp = (Layer) child("mlp", ffn);
        this.ls2 = layerScaleInit.isEmpty() ? null : child("ls2", new LayerScale(be, dim, (float) layerScaleInit.getAsDouble()));
    }

    /** The block on x; releases everything it made except the result (x stays the caller's). */
    @Override public Var forward(Ops ops, Var x) {
        Var n1 = norm1.forward(ops, x);
        Var a = attn.forward(ops, n1);
        ops.release(n1);
        if (ls1 != null) a = scaled(ops, ls1, a);
        Var x1 = ops.add(x, a);
        ops.release(a);
        Var n2 = norm2.forward(ops, x1);
        Var m = mlp.forward(ops, n2);
        ops.release(n2);
        if (ls2 != null) m = scaled(ops, ls2, m);
        Var out = ops.add(x1, m);
        ops.release(x1, m);
        return out;
    }

    private static Var scaled(Ops ops, LayerScale ls, Var v) {
        Var s = ls.forward(ops, v);
        ops.release(v);
        return s;
    }
}
