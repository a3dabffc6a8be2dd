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

    /**
     * The block on x; releases everything it made except the result (x stays the caller's). The
     * LayerNorms run fused with the Linear after them ({@link Ops#layerNormLinear}) and each
     * LayerScale with the Linear before it ({@link Ops#linearScaled}, {@link Ops#geluLinear}), so the
     * backward keeps neither the normalised tokens nor the unscaled branch outputs: the same values
     * and gradients as the modules one after another, with 4 fewer token-sized tensors per block saved.
     * A block with a LoRA adapter on any of its Linears ({@link Linear#addLora}) runs the modules one
     * after another instead ({@link #forwardUnfused}), so each adapted Linear adds its low-rank branch.
     */
    @Override public Var forward(Ops ops, Var x) {
        if (hasLora()) return forwardUnfused(ops, x);
        Var g1 = ls1 == null ? null : ls1.gamma, g2 = ls2 == null ? null : ls2.gamma;
        Var qkv = ops.layerNormLinear(x, norm1.weight, norm1.bias, norm1.eps, attn.qkv.weight, attn.qkv.bias);
        Var a = ops.attention(qkv, attn.heads);
        ops.release(qkv);
        Var p = ops.linearScaled(a, attn.proj.weight, attn.proj.bias, g1);
        ops.release(a);
        Var x1 = ops.add(x, p);
        ops.release(p);
        Var m = feedForward(ops, x1, g2);
        Var out = ops.add(x1, m);
        ops.release(x1, m);
        return out;
    }

    /** Whether any Linear of this block carries a LoRA adapter. */
    public boolean hasLora() {
        for (Module m : linears()) if (((Linear) m).hasLora()) return true;
        return false;
    }

    private java.util.List<Module> linears() {
        java.util.List<Module> out = new java.util.ArrayList<>();
        collectLinears(this, out);
        return out;
    }

    private static void collectLinears(Module m, java.util.List<Module> out) {
        for (Module c : m.children().values()) {
            if (c instanceof Linear) out.add(c);
            else collectLinears(c, out);
        }
    }

    /** The block as its modules one after another: x1 = x + ls1(attn(norm1(x))), x1 + ls2(mlp(norm2(x1))). */
    Var forwardUnfused(Ops ops, Var x) {
        Var n1 = norm1.forward(ops, x);
        Var a = attn.forward(ops, n1);
        ops.release(n1);
        Var p = a;
        if (ls1 != null) { p = ls1.forward(ops, a); ops.release(a); }
        Var x1 = ops.add(x, p);
        ops.release(p);
        Var n2 = norm2.forward(ops, x1);
        Var m = mlp.forward(ops, n2);
        ops.release(n2);
        if (ls2 != null) { Var s = ls2.forward(ops, m); ops.release(m); m = s; }
        Var out = ops.add(x1, m);
        ops.release(x1, m);
        return out;
    }

    /** ls2(mlp(norm2(x1))) (without ls2 when g2 is null). */
    private Var feedForward(Ops ops, Var x1, Var g2) {
        if (mlp instanceof Mlp f) {
            Var h = ops.layerNormLinear(x1, norm2.weight, norm2.bias, norm2.eps, f.fc1.weight, f.fc1.bias);
            Var m = ops.geluLinear(h, f.fc2.weight, f.fc2.bias, g2);
            ops.release(h);
            return m;
        }
        if (mlp instanceof SwiGluFfn f) {
            Var x12 = ops.layerNormLinear(x1, norm2.weight, norm2.bias, norm2.eps, f.w12.weight, f.w12.bias);
            Var h = ops.swiglu(x12);
            ops.release(x12);
            Var m = ops.linearScaled(h, f.w3.weight, f.w3.bias, g2);
            ops.release(h);
            return m;
        }
        Var n2 = norm2.forward(ops, x1);
        Var m = mlp.forward(ops, n2);
        ops.release(n2);
        if (g2 == null) return m;
        Var s = ops.mul(m, g2);
        ops.release(m);
        return s;
    }
}
