package dinoseg.model;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Tape;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.nn.Block;
import dinoseg.nn.Init;
import dinoseg.nn.LayerNorm;
import dinoseg.nn.Mlp;
import dinoseg.nn.Module;
import dinoseg.nn.ModuleList;
import dinoseg.nn.Parameter;
import dinoseg.nn.PatchEmbed;
import dinoseg.nn.SwiGluFfn;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The DINOv2 vision transformer, with the official state-dict names: {@code cls_token} [1,1,C],
 * {@code pos_embed} [1, 1+G², C], {@code register_tokens} [1,R,C] (register models),
 * {@code mask_token} [1,C] (only used in pre-training, kept so official checkpoints load strictly),
 * {@code patch_embed.proj.*}, {@code blocks.N.*}, {@code norm.*}.
 *
 * <p>Tokens are built as the official {@code prepare_tokens_with_masks}: patch tokens, the class
 * token in front, position embeddings added (interpolated to the input's grid, see
 * {@link #positionEmbedding}), then the register tokens inserted after the class token.
 */
public final class DinoVisionTransformer extends Module {
    public final BackboneConfig cfg;
    public final Parameter clsToken, posEmbed, registerTokens, maskToken;
    public final PatchEmbed patchEmbed;
    public final ModuleList<Block> blocks;
    public final LayerNorm norm;
    /** Side of the position-embedding grid (37 for the presets). */
    public final int grid;
    private final Map<Long, Var[]> interpCache = new HashMap<>();
    private boolean checkpointBlocks;
    /** Blocks before this index, and the embeddings, are frozen and run without a tape; -1: none ({@link #trainOnlyLast}). */
    private int frozenPrefix = -1;

    /** A randomly initialised backbone (trunc-normal 0.02 weights as the official init). */
    public DinoVisionTransformer(Backend be, BackboneConfig cfg, long seed) {
        super(be);
        this.cfg = cfg;
        this.grid = cfg.posGrid();
        SplittableRandom rng = new SplittableRandom(seed);
        int c = cfg.embedDim();
        this.clsToken = param("cls_token", new Parameter(Init.truncNormal(be, rng, Shape.of(1, 1, c), 1e-6)));
        this.posEmbed = param("pos_embed", new Parameter(Init.truncNormal(be, rng, Shape.of(1, 1 + grid * grid, c), 0.02)));
        this.registerTokens = cfg.registers() > 0
                ? param("register_tokens", new Parameter(Init.truncNormal(be, rng, Shape.of(1, cfg.registers(), c), 1e-6))) : null;
        this.maskToken = param("mask_token", new Parameter(be.zeros(Shape.of(1, c))));
        this.patchEmbed = child("patch_embed", new PatchEmbed(be, 3, c, cfg.patch(), rng));
        this.blocks = child("blocks", new ModuleList<>(be));
        for (int i = 0; i < cfg.depth(); i++) {
            Module ffn = cfg.swiglu() ? new SwiGluFfn(be, c, cfg.ffnHidden(), rng) : new Mlp(be, c, cfg.ffnHidden(), rng);
            blocks.add(new Block(be, c, cfg.heads(), ffn, java.util.OptionalDouble.of(cfg.layerScaleInit()), rng));
        }
        this.norm = child("norm", new LayerNorm(be, c, 1e-6f));
        // mask_token takes no part in the forward pass and never receives a gradient.
        maskToken.setRequiresGrad(false);
    }

    public int embedDim() { return cfg.embedDim(); }

    public int patch() { return cfg.patch(); }

    public int numRegisters() { return cfg.registers(); }

    public int depth() { return cfg.depth(); }

    /**
     * Activation checkpointing per block: when on, a recorded forward keeps only each block's input
     * and the backward recomputes the block ({@link Ops#checkpoint}): about one block's activations
     * instead of all of them, for a second forward of the blocks. Values and gradients are unchanged.
     */
    public void setCheckpointBlocks(boolean on) { checkpointBlocks = on; }

    public boolean checkpointBlocks() { return checkpointBlocks; }

    /** Block i on t (checkpointed when asked). */
    private Var runBlock(Ops ops, int i, Var t) {
        Block blk = blocks.get(i);
        return checkpointBlocks ? ops.checkpoint(t, blk::forward) : blk.forward(ops, t);
    }

    /** All parameters (mask_token excepted: it never gets a gradient) train or not; clears {@link #trainOnlyLast}. */
    @Override public void setRequiresGrad(boolean r) {
        super.setRequiresGrad(r);
        maskToken.setRequiresGrad(false);
        frozenPrefix = -1;
    }

    /**
     * Partial fine-tuning ({@code --unfreeze-last n}): only the last {@code n} blocks and the final
     * {@code norm} require gradients; the embeddings and blocks {@code 0 .. depth-n-1} are frozen and
     * run inside {@link Ops#noGrad} (no tape nodes, their activations freed as the forward goes).
     * {@link #setRequiresGrad} undoes it.
     *
     * @throws IllegalArgumentException when n is not in 1..depth
     */
    public void trainOnlyLast(int n) {
        if (n < 1 || n > cfg.depth())
            throw new IllegalArgumentException("--unfreeze-last " + n + ": the backbone has " + cfg.depth() + " blocks (give 1.." + cfg.depth() + ")");
        setRequiresGrad(false);
        for (int i = cfg.depth() - n; i < cfg.depth(); i++) blocks.get(i).setRequiresGrad(true);
        norm.setRequiresGrad(true);
        frozenPrefix = cfg.depth() - n;
    }

    /**
     * Stochastic depth over the blocks (timm/DINOv2 {@code drop_path_rate}): block i of L gets
     * {@code rate * i / (L - 1)} (torch.linspace(0, rate, L): 0 for the first block, rate for the
     * last; a single block gets 0). Active only while training ({@link Block#setDropPath}).
     *
     * @throws IllegalArgumentException unless 0 &lt;= rate &lt; 1
     */
    public void setDropPath(double rate) {
        if (!(rate >= 0 && rate < 1)) throw new IllegalArgumentException("--drop-path must be in [0, 1), got " + rate);
        int l = cfg.depth();
        for (int i = 0; i < l; i++) blocks.get(i).setDropPath(l == 1 ? 0 : rate * i / (l - 1));
    }

    /** Keys the next forward's drop-path masks (block i: a hash of key and i); see {@link Block#setDropPathKey}. */
    public void setDropPathKey(long key) {
        for (int i = 0; i < cfg.depth(); i++) blocks.get(i).setDropPathKey(Block.mix(key * 31 + i));
    }

    /** The number of leading blocks frozen by {@link #trainOnlyLast} (with the embeddings), or -1 when it is off. */
    public int frozenPrefix() { return frozenPrefix; }

    /** Tokens of x: under no-grad when the embeddings are frozen by {@link #trainOnlyLast}. */
    @SuppressWarnings("try")
    private Var tokens(Ops ops, Var x) {
        if (frozenPrefix < 0) return prepareTokens(ops, x);
        try (Tape.Scope s = ops.noGrad()) {
            return prepareTokens(ops, x);
        }
    }

    /** Block i on t, under no-grad when it is in the frozen prefix. */
    @SuppressWarnings("try")
    private Var block(Ops ops, int i, Var t) {
        if (i >= frozenPrefix) return runBlock(ops, i, t);
        try (Tape.Scope s = ops.noGrad()) {
            return runBlock(ops, i, t);
        }
    }

    // ------------------------------------------------------------------ tokens

    /** Checks an image batch [B, 3, H, W] with H and W multiples of the patch size. */
    public void checkInput(Var x) {
        if (x.rank() != 4 || x.dim(1) != 3)
            throw new IllegalArgumentException("backbone: expected images [B, 3, H, W], got " + x.shape());
        int p = cfg.patch();
        if (x.dim(2) % p != 0 || x.dim(3) % p != 0 || x.dim(2) == 0 || x.dim(3) == 0)
            throw new IllegalArgumentException("backbone: image size " + x.dim(2) + "x" + x.dim(3)
                    + " is not a positive multiple of the patch size " + p + " (resize or pad to " + Shape.roundUp(x.dim(2), p) + "x" + Shape.roundUp(x.dim(3), p) + ")");
    }

    /** [B, 1 + R + HW/p², C]: class token, registers, patch tokens with position embeddings. */
    public Var prepareTokens(Ops ops, Var x) {
        checkInput(x);
        int b = x.dim(0), h0 = x.dim(2) / cfg.patch(), w0 = x.dim(3) / cfg.patch();
        Var patches = patchEmbed.forward(ops, x);
        Var cls = expand(ops, clsToken, b);
        Var t = ops.concat(List.of(cls, patches), 1);
        ops.release(cls, patches);
        Var pos = positionEmbedding(ops, h0, w0);
        Var withPos = ops.add(t, pos);
        ops.release(t, pos);
        t = withPos;
        if (registerTokens != null) {
            int n = t.dim(1);
            Var head = ops.slice(t, 1, 0, 1), regs = expand(ops, registerTokens, b), rest = ops.slice(t, 1, 1, n - 1);
            Var all = ops.concat(List.of(head, regs, rest), 1);
            ops.release(t, head, regs, rest);
            t = all;
        }
        return t;
    }

    /** A [1, n, C] parameter repeated to [b, n, C] (gradients sum back); the zeros are released here. */
    private Var expand(Ops ops, Var v, int b) {
        if (b == 1) return v;
        Var zeros = ops.constant(be.zeros(Shape.of(b, v.dim(1), v.dim(2))));
        Var e = ops.add(zeros, v);
        ops.release(zeros);
        return e;
    }

    /**
     * Position embeddings [1, 1 + h0*w0, C] for an h0×w0 patch grid: {@code pos_embed} itself when
     * the grid is the trained square one, else the class entry followed by the patch entries
     * resampled bicubically (see {@link PosEmbedInterpolation}) as two matrix products, so
     * gradients reach {@code pos_embed} when fine-tuning.
     */
    public Var positionEmbedding(Ops ops, int h0, int w0) {
        int m = grid, c = cfg.embedDim();
        if (h0 == m && w0 == m) return posEmbed;
        Var[] mats = interpolationMatrices(h0, w0);
        Var cls = ops.slice(posEmbed, 1, 0, 1);
        Var grid = ops.slice(posEmbed, 1, 1, m * m);
        Var patches = ops.reshape(grid, m, m * c);
        Var wyP = ops.matmul(mats[0], false, patches, false);                             // Wy · P
        Var rows = ops.reshape(wyP, h0, m, c);
        Var both = ops.matmul(mats[1], false, rows, false);                               // (Wy · P) · Wxᵀ per row
        Var flat = ops.reshape(both, 1, h0 * w0, c);
        Var r = ops.concat(List.of(cls, flat), 1);
        ops.release(cls, grid, patches, wyP, rows, both, flat);
        return r;
    }

    /** {Wy [h0, G], Wx repeated [h0, w0, G]} as constants on this backend, cached per grid. */
    private synchronized Var[] interpolationMatrices(int h0, int w0) {
        long key = ((long) h0 << 32) | w0;
        Var[] cached = interpCache.get(key);
        if (cached != null) return cached;
        int m = grid;
        float[] wy = PosEmbedInterpolation.official(m, h0, cfg.interpolateAntialias(), cfg.interpolateOffset());
        float[] wx = PosEmbedInterpolation.official(m, w0, cfg.interpolateAntialias(), cfg.interpolateOffset());
        float[] rep = new float[h0 * w0 * m];
        for (int i = 0; i < h0; i++) System.arraycopy(wx, 0, rep, i * w0 * m, w0 * m);
        Var[] mats = {Var.constant(be.fromFloats(wy, Shape.of(h0, m))), Var.constant(be.fromFloats(rep, Shape.of(h0, w0, m)))};
        if (interpCache.size() > 64) interpCache.clear();
        interpCache.put(key, mats);
        return mats;
    }

    // ------------------------------------------------------------------ outputs

    /** One requested block's output: features [B,C,h0,w0] (or tokens [B,h0*w0,C]) and the class token [B,C] or null. */
    public record LayerOutput(int block, Var features, Var classToken) { }

    /** The block indices of the last {@code n} blocks. */
    public int[] lastBlocks(int n) {
        if (n < 1 || n > cfg.depth()) throw new IllegalArgumentException("backbone: cannot take the last " + n + " of " + cfg.depth() + " blocks");
        int[] r = new int[n];
        for (int i = 0; i < n; i++) r[i] = cfg.depth() - n + i;
        return r;
    }

    /**
     * The official {@code get_intermediate_layers}: runs the blocks, keeps the outputs of the
     * requested ones (in block order), applies the final {@code norm} to each when asked, removes
     * the class and register tokens and, when {@code reshape}, lays the patch tokens out as
     * [B, C, H/p, W/p]; otherwise they stay [B, HW/p², C]. The class token is returned when asked.
     * Every intermediate is released as soon as the blocks are past it (x stays the caller's).
     */
    public List<LayerOutput> getIntermediateLayers(Ops ops, Var x, int[] blockIndices, boolean reshape,
                                                   boolean norm, boolean returnClassToken) {
        int[] take = sortedBlocks(blockIndices);
        int b = x.dim(0), h0 = x.dim(2) / cfg.patch(), w0 = x.dim(3) / cfg.patch();
        Var t = tokens(ops, x);
        int skip = 1 + cfg.registers();
        List<LayerOutput> out = new ArrayList<>();
        int next = 0;
        for (int i = 0; i <= take[take.length - 1]; i++) {
            Var nt = block(ops, i, t);
            ops.release(t);
            t = nt;
            if (i != take[next]) continue;
            next++;
            Var o = norm ? this.norm.forward(ops, t) : t;
            Var cls = null;
            if (returnClassToken) {
                Var c0 = ops.slice(o, 1, 0, 1);
                cls = ops.reshape(c0, b, cfg.embedDim());
                ops.release(c0);
            }
            Var patches = ops.slice(o, 1, skip, h0 * w0);
            if (reshape) {
                Var grid = ops.reshape(patches, b, h0, w0, cfg.embedDim());
                Var chw = ops.permute(grid, 0, 3, 1, 2);
                ops.release(patches, grid);
                patches = chw;
            }
            if (o != t) ops.release(o);
            out.add(new LayerOutput(i, patches, cls));
        }
        ops.release(t);
        return out;
    }

    private int[] sortedBlocks(int[] blockIndices) {
        if (blockIndices == null || blockIndices.length == 0) throw new IllegalArgumentException("backbone: no blocks requested");
        int[] s = Arrays.stream(blockIndices).sorted().distinct().toArray();
        if (s[0] < 0 || s[s.length - 1] >= cfg.depth())
            throw new IllegalArgumentException("backbone: block indices " + Arrays.toString(blockIndices) + " outside 0.." + (cfg.depth() - 1));
        return s;
    }

    /** All tokens after every block and the final norm: [B, 1 + R + HW/p², C] (the official forward_features' x_norm). */
    public Var forwardFeatures(Ops ops, Var x) {
        Var t = tokens(ops, x);
        for (int i = 0; i < cfg.depth(); i++) {
            Var nt = block(ops, i, t);
            ops.release(t);
            t = nt;
        }
        Var y = norm.forward(ops, t);
        ops.release(t);
        return y;
    }

    /** Elements of cls_token, pos_embed, register_tokens and mask_token (for summaries). */
    public long tokenParameterCount() {
        long n = clsToken.value().numel() + posEmbed.value().numel() + maskToken.value().numel();
        if (registerTokens != null) n += registerTokens.value().numel();
        return n;
    }

    /** Convenience for callers holding a raw tensor. */
    public List<LayerOutput> getIntermediateLayers(Ops ops, Tensor x, int[] blockIndices) {
        return getIntermediateLayers(ops, Var.constant(x), blockIndices, true, true, false);
    }
}
