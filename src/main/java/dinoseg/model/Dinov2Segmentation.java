package dinoseg.model;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Tape;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.nn.Module;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A DINOv2 backbone and a segmentation head: the chosen blocks' outputs (after the final norm,
 * class and register tokens removed) are laid out as [B, C, H/p, W/p], concatenated along the
 * channels, classified by the head and upsampled bilinearly to the label size.
 *
 * <p>State-dict names: {@code backbone.*} (the official backbone names) and {@code head.*} (see
 * {@link SegmentationHead}). By default the backbone is frozen: it runs without a tape and its
 * parameters do not require gradients; {@link #setFineTune} changes that.
 */
public final class Dinov2Segmentation extends Module {
    public final DinoVisionTransformer backbone;
    public final SegmentationHead head;
    private final int[] layers;
    private boolean fineTune;

    public Dinov2Segmentation(DinoVisionTransformer backbone, SegmentationHead.Kind kind, int numClasses, int[] layers, long seed) {
        super(backbone.backend());
        this.layers = layers == null ? backbone.cfg.defaultLayers() : Arrays.stream(layers).sorted().distinct().toArray();
        for (int l : this.layers)
            if (l < 0 || l >= backbone.depth())
                throw new IllegalArgumentException("segmentation: layer " + l + " outside the backbone's blocks 0.." + (backbone.depth() - 1));
        this.backbone = child("backbone", backbone);
        this.head = child("head", SegmentationHead.create(be, kind, this.layers.length * backbone.embedDim(), numClasses, seed));
        setFineTune(false);
    }

    /** Convenience: a random backbone from a config (weights are usually loaded afterwards). */
    public static Dinov2Segmentation create(Backend be, BackboneConfig cfg, SegmentationHead.Kind kind, int numClasses, int[] layers, long seed) {
        return new Dinov2Segmentation(new DinoVisionTransformer(be, cfg, seed), kind, numClasses, layers, seed + 1);
    }

    public int[] layers() { return layers.clone(); }

    public int numClasses() { return head.numClasses; }

    public boolean isFineTune() { return fineTune; }

    /** Fine-tuning trains the backbone with the head; otherwise it is frozen and runs without a tape. */
    public void setFineTune(boolean on) { setFineTune(on, 0); }

    /**
     * As {@link #setFineTune(boolean)}; with {@code on} and {@code unfreezeLast} n > 0 only the last n
     * blocks and the final norm train, the rest of the backbone is frozen and runs without a tape
     * ({@link DinoVisionTransformer#trainOnlyLast}). n = 0: the whole backbone.
     *
     * @throws IllegalArgumentException when n is negative, above the depth, or given without {@code on}
     */
    public void setFineTune(boolean on, int unfreezeLast) {
        if (unfreezeLast < 0 || (!on && unfreezeLast > 0))
            throw new IllegalArgumentException("--unfreeze-last " + unfreezeLast + " needs fine-tuning and a number of blocks >= 1");
        this.fineTune = on;
        backbone.setRequiresGrad(on);
        if (on && unfreezeLast > 0) backbone.trainOnlyLast(unfreezeLast);
    }

    /**
     * Adds LoRA adapters to the backbone ({@link Lora#apply}) and trains through it: the backbone's
     * base weights are frozen, only the adapters (and the head) take gradients, as PEFT's
     * {@code get_peft_model}. Call after loading the base weights: a strict load into the adapted
     * model expects the {@code lora_*} tensors too.
     *
     * @return the adapted Linears by backbone-relative module path
     */
    public java.util.Map<String, dinoseg.nn.Linear> enableLora(Lora lora, long seed) {
        java.util.Map<String, dinoseg.nn.Linear> layers = lora.apply(backbone, seed);
        this.fineTune = true;                 // the tape runs through the backbone, for the adapters' gradients
        backbone.setRequiresGrad(false);
        for (dinoseg.nn.Linear l : layers.values()) {
            l.loraA().setRequiresGrad(true);
            l.loraB().setRequiresGrad(true);
        }
        return layers;
    }

    /** Head input: the chosen layers' maps concatenated, [B, L*C, H/p, W/p]. */
    @SuppressWarnings("try")
    public Var features(Ops ops, Var images) {
        if (fineTune) return concatLayers(ops, images);
        try (Tape.Scope s = ops.noGrad()) {
            return concatLayers(ops, images);
        }
    }

    private Var concatLayers(Ops ops, Var images) {
        List<DinoVisionTransformer.LayerOutput> outs = backbone.getIntermediateLayers(ops, images, layers, true, true, false);
        if (outs.size() == 1) return outs.get(0).features();
        List<Var> maps = new ArrayList<>();
        for (var o : outs) maps.add(o.features());
        Var cat = ops.concat(maps, 1);
        for (Var m : maps) ops.release(m);
        return cat;
    }

    /** Logits at the patch grid, [B, K, H/p, W/p]; the features are released. */
    public Var forwardGrid(Ops ops, Var images) {
        Var f = features(ops, images);
        Var y = head.forward(ops, f);
        ops.release(f);
        return y;
    }

    /** Logits [B, K, labelH, labelW], upsampled bilinearly (align_corners=false) from the patch grid. */
    public Var forward(Ops ops, Var images, int labelH, int labelW) {
        Var grid = forwardGrid(ops, images);
        Var y = ops.resizeBilinear(grid, labelH, labelW);
        if (y != grid) ops.release(grid);
        return y;
    }

    /** Logits at the image size. */
    public Var forward(Ops ops, Var images) { return forward(ops, images, images.dim(2), images.dim(3)); }
}
