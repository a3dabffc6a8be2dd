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

    @Override public Var forward(Ops ops, Var x) {
        Var a = attn.forward(ops, norm1.forward(ops, x));
        if (ls1 != null) a = ls1.forward(ops, a);
        x = ops.add(x, a);
        Var m = mlp.forward(ops, norm2.forward(ops, x));
        if (ls2 != null) m = ls2.forward(ops, m);
        return ops.add(x, m);
    }
}
