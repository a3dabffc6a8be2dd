package dinoseg.model;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Tape;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.nn.Block;
import dinoseg.nn.Module;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

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
    public void setFineTune(boolean on) {
        this.fineTune = on;
        backbone.setRequiresGrad(on);
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
        return ops.concat(maps, 1);
    }

    /** Logits at the patch grid, [B, K, H/p, W/p]. */
    public Var forwardGrid(Ops ops, Var images) { return head.forward(ops, features(ops, images)); }

    /** Logits [B, K, labelH, labelW], upsampled bilinearly (align_corners=false) from the patch grid. */
    public Var forward(Ops ops, Var images, int labelH, int labelW) {
        return ops.resizeBilinear(forwardGrid(ops, images), labelH, labelW);
    }

    /** Logits at the image size. */
    public Var forward(Ops ops, Var images) { return forward(ops, images, images.dim(2), images.dim(3)); }

    // ------------------------------------------------------------------ any-size inference

    /** Where an h×w image sits inside its padded, patch-aligned canvas. */
    public record Padding(int height, int width, int top, int left) { }

    /** The centred padding of an h×w image to the next multiples of the patch size. */
    public Padding padding(int h, int w) {
        int p = backbone.patch();
        int ph = Shape.roundUp(h, p), pw = Shape.roundUp(w, p);
        return new Padding(ph, pw, (ph - h) / 2, (pw - w) / 2);
    }

    /**
     * Inference at any size, without a tape: images [B, 3, H, W] (normalised) are padded centred
     * with zeros (the mean colour) to multiples of the patch size, the logits are computed at the
     * padded size and cropped back to [B, K, H, W].
     */
    @SuppressWarnings("try")
    public Tensor predictPadded(Ops ops, Tensor images) {
        if (images.rank() != 4 || images.dim(1) != 3)
            throw new IllegalArgumentException("predict: expected images [B, 3, H, W], got " + images.shape());
        int b = images.dim(0), h = images.dim(2), w = images.dim(3), k = numClasses();
        Padding pad = padding(h, w);
        try (Tape.Scope s = ops.noGrad()) {
            Tensor x = images;
            if (pad.height() != h || pad.width() != w) {
                x = be.zeros(Shape.of(b, 3, pad.height(), pad.width()));
                place(images, x, b * 3, h, w, pad, false);
            }
            Tensor logits = forward(ops, Var.constant(x), pad.height(), pad.width()).value();
            if (x == images) return logits;
            Tensor out = be.empty(Shape.of(b, k, h, w));
            place(logits, out, b * k, h, w, pad, true);
            return out;
        }
    }

    /** Copies planes between an h×w tensor and its padded canvas (crop: canvas -> small). */
    private void place(Tensor from, Tensor to, int planes, int h, int w, Padding pad, boolean crop) {
        long small = (long) h * w, big = (long) pad.height() * pad.width();
        long inner = (long) pad.top() * pad.width() + pad.left();
        for (int i = 0; i < planes; i++) {
            if (crop) be.copyBlocks(from, i * big + inner, pad.width(), to, i * small, w, h, w, false);
            else be.copyBlocks(from, i * small, w, to, i * big + inner, pad.width(), h, w, false);
        }
    }

    // ------------------------------------------------------------------ summary

    /** One line of a torchinfo-like table. */
    public record SummaryRow(int depth, String name, String type, int[] input, int[] output, long params, boolean trainable) { }

    /**
     * The layer table for a batch of {@code batch} images of h×w pixels, with shapes computed from
     * the configuration (no forward pass). Sizes must be multiples of the patch size.
     */
    public List<SummaryRow> summary(int batch, int h, int w) {
        int p = backbone.patch(), c = backbone.embedDim();
        if (h % p != 0 || w % p != 0)
            throw new IllegalArgumentException("summary: image size " + h + "x" + w + " is not a multiple of the patch size " + p);
        int h0 = h / p, w0 = w / p, np = h0 * w0, tokens = 1 + backbone.numRegisters() + np;
        boolean bt = fineTune;
        List<SummaryRow> rows = new ArrayList<>();
        rows.add(new SummaryRow(0, "", "Dinov2Segmentation", new int[]{batch, 3, h, w}, new int[]{batch, numClasses(), h, w}, parameterCount(false), parameterCount(true) > 0));
        rows.add(new SummaryRow(1, "backbone", "DinoVisionTransformer", new int[]{batch, 3, h, w},
                new int[]{batch, layers.length * c, h0, w0}, backbone.parameterCount(false), bt));
        rows.add(new SummaryRow(2, "backbone.patch_embed", "PatchEmbed", new int[]{batch, 3, h, w}, new int[]{batch, np, c},
                backbone.patchEmbed.parameterCount(false), bt));
        String tokNames = "cls+pos" + (backbone.registerTokens != null ? "+registers" : "") + "+mask";
        rows.add(new SummaryRow(2, "backbone.tokens", "Tokens " + tokNames, new int[]{batch, np, c}, new int[]{batch, tokens, c},
                backbone.tokenParameterCount(), bt));
        int last = layers[layers.length - 1];
        for (int i = 0; i < backbone.depth(); i++) {
            Block b = backbone.blocks.get(i);
            String note = i > last ? " (unused)" : "";
            rows.add(new SummaryRow(2, "backbone.blocks." + i, "Block" + note, new int[]{batch, tokens, c}, new int[]{batch, tokens, c},
                    b.parameterCount(false), bt));
        }
        rows.add(new SummaryRow(2, "backbone.norm", "LayerNorm (x" + layers.length + ")", new int[]{batch, tokens, c}, new int[]{batch, tokens, c},
                backbone.norm.parameterCount(false), bt));
        rows.add(new SummaryRow(2, "backbone.concat", "Concat " + Arrays.toString(layers), new int[]{batch, tokens, c},
                new int[]{batch, layers.length * c, h0, w0}, 0, bt));
        rows.add(new SummaryRow(1, "head", "SegmentationHead(" + head.kind.id() + ")", new int[]{batch, head.inChannels, h0, w0},
                new int[]{batch, numClasses(), h0, w0}, head.parameterCount(false), true));
        int ch = head.inChannels;
        for (SegmentationHead.Part part : head.describe()) {
            rows.add(new SummaryRow(2, "head." + part.name(), part.type(), new int[]{batch, ch, h0, w0},
                    new int[]{batch, part.outChannels(), h0, w0}, part.params(), true));
            ch = part.outChannels();
        }
        rows.add(new SummaryRow(1, "upsample", "Bilinear", new int[]{batch, numClasses(), h0, w0}, new int[]{batch, numClasses(), h, w}, 0, false));
        return rows;
    }
}
