package dinoseg.nn;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.tensor.Shape;

import java.util.OptionalDouble;
import java.util.SplittableRandom;

/**
 * A pre-norm transformer block: x + dp(ls1(attn(norm1(x)))), then x + dp(ls2(mlp(norm2(x)))), where dp
 * is stochastic depth ({@link #setDropPath}; the identity unless set and training).
 */
public final class Block extends Module implements Layer {
    public final LayerNorm norm1, norm2;
    public final Attention attn;
    public final LayerScale ls1, ls2;
    public final Layer mlp;
    private double dropPath;
    private long dropPathKey;

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
     * after another instead, so each adapted Linear adds its low-rank branch;
     * stochastic depth ({@link #setDropPath}) applies to both branches either way.
     */
    @Override public Var forward(Ops ops, Var x) {
        if (!hasLora() && !(isTraining() && dropPath > 0) && (mlp instanceof Mlp || mlp instanceof SwiGluFfn)) {
            // each residual add runs in the pass of its branch's LayerScale (Ops.linearScaled / geluLinear with a residual)
            Var x1 = attentionBranch(ops, x, x);
            Var out = feedForward(ops, x1, ls2 == null ? null : ls2.gamma, x1);
            ops.release(x1);
            return out;
        }
        Var p = dropPath(ops, attentionBranch(ops, x), 0);
        Var x1 = ops.add(x, p);
        ops.release(p);
        Var m = dropPath(ops, feedForwardBranch(ops, x1), 1);
        Var out = ops.add(x1, m);
        ops.release(x1, m);
        return out;
    }

    /** Whether any Linear of this block carries a LoRA adapter. */
    public boolean hasLora() { return hasLora(this); }

    private static boolean hasLora(Module m) {
        for (Module c : m.children().values())
            if (c instanceof Linear l ? l.hasLora() : hasLora(c)) return true;
        return false;
    }

    /** ls1(attn(norm1(x))) as the modules one after another (an adapted Linear adds its low-rank branch). */
    private Var attentionBranchUnfused(Ops ops, Var x) {
        Var n1 = norm1.forward(ops, x);
        Var a = attn.forward(ops, n1);
        ops.release(n1);
        if (ls1 == null) return a;
        Var p = ls1.forward(ops, a);
        ops.release(a);
        return p;
    }

    /** ls2(mlp(norm2(x1))) as the modules one after another. */
    private Var feedForwardBranchUnfused(Ops ops, Var x1) {
        Var n2 = norm2.forward(ops, x1);
        Var m = mlp.forward(ops, n2);
        ops.release(n2);
        if (ls2 == null) return m;
        Var s = ls2.forward(ops, m);
        ops.release(m);
        return s;
    }

    /** The first residual branch, ls1(attn(norm1(x))), [B, N, C]. */
    public Var attentionBranch(Ops ops, Var x) {
        if (hasLora()) return attentionBranchUnfused(ops, x);   // each adapted Linear adds its low-rank branch
        return attentionBranch(ops, x, null);
    }

    /** residual + ls1(attn(norm1(x))), or the branch alone when residual is null (no LoRA adapters). */
    private Var attentionBranch(Ops ops, Var x, Var residual) {
        Var qkv = ops.layerNormLinear(x, norm1.weight, norm1.bias, norm1.eps, attn.qkv.weight, attn.qkv.bias);
        Var a = ops.attention(qkv, attn.heads);
        ops.release(qkv);
        Var p = ops.linearScaled(a, attn.proj.weight, attn.proj.bias, ls1 == null ? null : ls1.gamma, residual);
        ops.release(a);
        return p;
    }

    /** The second residual branch, ls2(mlp(norm2(x1))), [B, N, C]. */
    public Var feedForwardBranch(Ops ops, Var x1) {
        return hasLora() ? feedForwardBranchUnfused(ops, x1) : feedForward(ops, x1, ls2 == null ? null : ls2.gamma, null);
    }

    // ------------------------------------------------------------------ stochastic depth

    /**
     * Stochastic depth on both residual branches (timm's {@code DropPath}, the per-sample path of
     * DINOv2's {@code drop_path}): while {@link #isTraining() training}, each sample's branch output is
     * kept with probability 1−rate and then scaled by 1/(1−rate), or zeroed; in eval it is the
     * identity. 0 turns it off.
     *
     * @throws IllegalArgumentException unless 0 &lt;= rate &lt; 1
     */
    public void setDropPath(double rate) {
        if (!(rate >= 0 && rate < 1)) throw new IllegalArgumentException("drop path rate must be in [0, 1), got " + rate);
        dropPath = rate;
    }

    public double dropPath() { return dropPath; }

    /**
     * The key of the next forward's drop-path masks: the same key draws the same masks (so a
     * recomputed checkpointed block and a resumed run see the ones of the original step).
     */
    public void setDropPathKey(long key) { dropPathKey = key; }

    /**
     * The per-sample factors of a branch: 1/(1−rate) (kept, drawn with probability 1−rate) or 0,
     * from {@code SplittableRandom(key)}. [batch] floats.
     */
    public static float[] dropPathFactors(int batch, double rate, long key) {
        SplittableRandom r = new SplittableRandom(key);
        float keep = (float) (1 / (1 - rate));
        float[] f = new float[batch];
        for (int b = 0; b < batch; b++) f[b] = r.nextDouble() < rate ? 0f : keep;
        return f;
    }

    /** The key of branch 0 (attention) or 1 (feed-forward) of this block for its current key. */
    public long branchKey(int branch) { return mix(dropPathKey * 2 + branch); }

    /** SplitMix64's finaliser: a well-spread 64-bit hash, to derive independent keys from (seed, epoch, step, block, branch). */
    public static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** branch · factors[b] per sample (released), or branch itself when off. */
    private Var dropPath(Ops ops, Var branch, int which) {
        if (!isTraining() || dropPath == 0) return branch;
        int b = branch.dim(0);
        Var f = ops.constant(be.fromFloats(dropPathFactors(b, dropPath, branchKey(which)), Shape.of(b, 1, 1)));
        Var y = ops.mul(branch, f);
        ops.release(branch, f);
        return y;
    }

    /** residual + ls2(mlp(norm2(x1))) (without ls2 when g2 is null, without residual when it is null). */
    private Var feedForward(Ops ops, Var x1, Var g2, Var residual) {
        if (mlp instanceof Mlp f) {
            Var h = ops.layerNormLinearGelu(x1, norm2.weight, norm2.bias, norm2.eps, f.fc1.weight, f.fc1.bias);
            Var m = ops.geluLinear(h, f.fc2.weight, f.fc2.bias, g2, residual);
            ops.release(h);
            return m;
        }
        if (mlp instanceof SwiGluFfn f) {
            Var x12 = ops.layerNormLinear(x1, norm2.weight, norm2.bias, norm2.eps, f.w12.weight, f.w12.bias);
            Var h = ops.swiglu(x12);
            ops.release(x12);
            Var m = ops.linearScaled(h, f.w3.weight, f.w3.bias, g2, residual);
            ops.release(h);
            return m;
        }
        Var n2 = norm2.forward(ops, x1);
        Var m = mlp.forward(ops, n2);
        ops.release(n2);
        if (g2 != null) {
            Var s = ops.mul(m, g2);
            ops.release(m);
            m = s;
        }
        if (residual == null) return m;
        Var r = ops.add(residual, m);
        ops.release(m);
        return r;
    }
}
