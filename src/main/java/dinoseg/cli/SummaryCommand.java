package dinoseg.cli;

import dinoseg.backend.meta.MetaBackend;
import dinoseg.model.BackboneConfig;
import dinoseg.model.DinoVisionTransformer;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.Lora;
import dinoseg.model.SegmentationHead;
import dinoseg.nn.Block;
import dinoseg.train.ParamGroups;
import dinoseg.train.TrainConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/**
 * {@code dinoseg summary}: the layer table of a segmentation model, like torchinfo's, with totals. The model
 * is built on the meta device (shapes, no values) and the table is computed from its configuration.
 */
@Command(name = "summary", mixinStandardHelpOptions = true,
        description = "Print the layers of a DINOv2 segmentation model (name, type, input and output shape, parameters, trainable) and the totals.")
public final class SummaryCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--backbone", paramLabel = "B", defaultValue = "small",
            description = "Preset (small, base, large, giant, or *_reg) or a JSON file (default: ${DEFAULT-VALUE}).")
    String backbone;

    @Option(names = "--imgsz", arity = "1..2", paramLabel = "W [H]", hideParamSyntax = true, defaultValue = "644",
            description = "Input width and height in pixels (one value: square); rounded up to a multiple of the patch size (default: ${DEFAULT-VALUE}).")
    int[] imgsz;

    @Option(names = "--classes", paramLabel = "K", defaultValue = "21", description = "Number of classes (default: ${DEFAULT-VALUE}).")
    int classes;

    @Option(names = "--head", paramLabel = "KIND", defaultValue = "linear", description = "Head: linear, bn or conv (default: ${DEFAULT-VALUE}).")
    String head;

    @Option(names = "--layers", paramLabel = "I[,J...]", hideParamSyntax = true, split = ",", description = "Backbone blocks feeding the head (default: the last four).")
    int[] layers;

    @Option(names = "--batch", paramLabel = "N", defaultValue = "1", description = "Batch size shown in the shapes (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--fine-tune", description = "Count the backbone as trainable (default: frozen, only the head trains).")
    boolean fineTune;

    @Option(names = "--lora-rank", paramLabel = "R", description = "Count LoRA adapters of rank R on the --lora-targets layers as the trainable backbone parameters, as train --lora-rank (default: off).")
    Integer loraRank;

    @Option(names = "--lora-alpha", paramLabel = "A", description = "LoRA alpha (shown in the table; default: 8, as PEFT).")
    Double loraAlpha;

    @Option(names = "--lora-targets", paramLabel = "L", split = ",", arity = "1..*",
            description = "LoRA: the layers adapted in every block: qkv, proj, fc1, fc2 (w12, w3 for SwiGLU; default: qkv).")
    String[] loraTargets;
    @Option(names = "--unfreeze-last", paramLabel = "N",
            description = "Count only the last N backbone blocks and the final norm as trainable, as train --unfreeze-last (turns on --fine-tune).")
    Integer unfreezeLast;

    @Option(names = "--layer-decay", paramLabel = "D",
            description = "Layer-wise lr decay as train --layer-decay: the backbone's optimizer groups per layer in the totals (fine-tuning).")
    Double layerDecay;

    @Option(names = "--drop-path", paramLabel = "P", description = "As train --drop-path (checked and shown; no effect on the counts).")
    Double dropPath;

    @Option(names = "--accum-steps", paramLabel = "K", description = "As train --accum-steps (checked and shown; no effect on the counts).")
    Integer accumSteps;

    @Option(names = "--clip-grad", paramLabel = "NORM", description = "As train --clip-grad (checked and shown; no effect on the counts).")
    Double clipGrad;

    @Override public Integer call() {
        picocli.CommandLine cl = spec.commandLine();
        // the flags first: a bad value is a usage error (exit 2); a bad backbone JSON file is a run-time one (exit 1)
        Flags.require(cl, classes >= 1, "--classes must be at least 1, got " + classes);
        Flags.require(cl, batch >= 1, "--batch must be at least 1, got " + batch);
        int[] size = Flags.imageSize(cl, imgsz);
        SegmentationHead.Kind kind = Flags.check(cl, "--head", () -> SegmentationHead.Kind.parse(head));
        BackboneConfig cfg = Flags.backbone(cl, backbone);
        if (layers != null)
            for (int b : layers)
                Flags.require(cl, b >= 0 && b < cfg.depth(),
                        "--layers: block " + b + " is outside 0.." + (cfg.depth() - 1) + " of the " + cfg.name() + " backbone");
        if (unfreezeLast != null)
            Flags.require(cl, unfreezeLast >= 1 && unfreezeLast <= cfg.depth(),
                    "--unfreeze-last must be in 1.." + cfg.depth() + " for the " + cfg.name() + " backbone, got " + unfreezeLast);
        int w = size[0], h = size[1];
        PrintWriter out = cl.getOut(), err = cl.getErr();
        int p = cfg.patch();
        int w14 = (w + p - 1) / p * p, h14 = (h + p - 1) / p * p;
        if (w14 != w || h14 != h) err.println("note: image size " + w + "x" + h + " rounded up to " + w14 + "x" + h14 + " (multiple of patch size " + p + ")");
        Flags.require(cl, loraRank != null || (loraAlpha == null && loraTargets == null), (loraAlpha != null ? "--lora-alpha" : "--lora-targets") + " needs --lora-rank R");
        Flags.require(cl, loraRank == null || !fineTune, "--lora-rank trains adapters on a frozen backbone: it cannot be combined with --fine-tune");
        Lora lora = loraRank == null ? null : Flags.check(cl, () -> new Lora(loraRank, loraAlpha == null ? 8 : loraAlpha,
                loraTargets == null ? List.of("qkv") : Lora.parseTargets(String.join(",", loraTargets))));
        Dinov2Segmentation m = Dinov2Segmentation.create(new MetaBackend(), cfg, kind, classes, layers, 0);
        Flags.require(cl, lora == null || unfreezeLast == null, "--lora-rank trains adapters on a frozen backbone: it cannot be combined with --unfreeze-last");
        if (lora != null) Flags.check(cl, () -> m.enableLora(lora, 0));
        else m.setFineTune(fineTune || unfreezeLast != null, unfreezeLast == null ? 0 : unfreezeLast);
        boolean ft = m.isFineTune() && lora == null;   // LoRA trains adapters on a frozen backbone
        TrainConfig recipe = Flags.check(cl, () -> TrainConfig.builder().fineTune(ft).lora(loraRank == null ? 0 : loraRank,
                loraAlpha == null ? 8 : loraAlpha, lora == null ? null : lora.targets()).unfreezeLast(unfreezeLast == null ? 0 : unfreezeLast)
                .layerDecay(layerDecay == null ? 1 : layerDecay).dropPath(dropPath == null ? 0 : dropPath)
                .accumSteps(accumSteps == null ? 1 : accumSteps).clipGrad(clipGrad == null ? 0 : clipGrad).build());
        out.print(render(m, batch, h14, w14, cfg, recipe.layerDecay()));
        List<String> notes = new ArrayList<>();
        if (recipe.dropPath() > 0) notes.add("drop path " + recipe.dropPath());
        if (recipe.accumSteps() > 1) notes.add("accum steps " + recipe.accumSteps());
        if (recipe.clipGrad() > 0) notes.add("clip grad " + recipe.clipGrad());
        if (!notes.isEmpty()) out.println("Recipe (no effect on the counts): " + String.join(", ", notes));
        out.flush();
        err.flush();
        return 0;
    }

    static String shape(int[] s) { return Arrays.stream(s).mapToObj(Integer::toString).collect(Collectors.joining(", ", "[", "]")); }

    static String n(long v) { return String.format(Locale.ROOT, "%,d", v); }

    /** One line of a torchinfo-like table. */
    record Row(int depth, String name, String type, int[] input, int[] output, long params, long trainable) { }

    /**
     * The layer table for a batch of {@code batch} images of h×w pixels, with shapes computed from
     * the model's configuration (no forward pass). Sizes must be multiples of the patch size.
     */
    static List<Row> rows(Dinov2Segmentation m, int batch, int h, int w) {
        DinoVisionTransformer backbone = m.backbone;
        SegmentationHead head = m.head;
        int[] layers = m.layers();
        int k = m.numClasses();
        int p = backbone.patch(), c = backbone.embedDim();
        if (h % p != 0 || w % p != 0)
            throw new IllegalArgumentException("summary: image size " + h + "x" + w + " is not a multiple of the patch size " + p);
        int h0 = h / p, w0 = w / p, np = h0 * w0, tokens = 1 + backbone.numRegisters() + np;
        long tokTrainable = 0;
        for (var t : new dinoseg.nn.Parameter[]{backbone.clsToken, backbone.posEmbed, backbone.registerTokens, backbone.maskToken})
            if (t != null && t.requiresGrad()) tokTrainable += t.value().numel();
        List<Row> rows = new ArrayList<>();
        rows.add(new Row(0, "", "Dinov2Segmentation", new int[]{batch, 3, h, w}, new int[]{batch, k, h, w}, m.parameterCount(false), m.parameterCount(true)));
        rows.add(new Row(1, "backbone", "DinoVisionTransformer", new int[]{batch, 3, h, w},
                new int[]{batch, layers.length * c, h0, w0}, backbone.parameterCount(false), backbone.parameterCount(true)));
        rows.add(new Row(2, "backbone.patch_embed", "PatchEmbed", new int[]{batch, 3, h, w}, new int[]{batch, np, c},
                backbone.patchEmbed.parameterCount(false), backbone.patchEmbed.parameterCount(true)));
        String tokNames = "cls+pos" + (backbone.registerTokens != null ? "+registers" : "") + "+mask";
        rows.add(new Row(2, "backbone.tokens", "Tokens " + tokNames, new int[]{batch, np, c}, new int[]{batch, tokens, c},
                backbone.tokenParameterCount(), tokTrainable));
        int last = layers[layers.length - 1];
        for (int i = 0; i < backbone.depth(); i++) {
            Block b = backbone.blocks.get(i);
            String note = (i > last ? " (unused)" : "") + (b.hasLora() ? " +LoRA" : "");
            rows.add(new Row(2, "backbone.blocks." + i, "Block" + note, new int[]{batch, tokens, c}, new int[]{batch, tokens, c},
                    b.parameterCount(false), b.parameterCount(true)));
        }
        rows.add(new Row(2, "backbone.norm", "LayerNorm (x" + layers.length + ")", new int[]{batch, tokens, c}, new int[]{batch, tokens, c},
                backbone.norm.parameterCount(false), backbone.norm.parameterCount(true)));
        rows.add(new Row(2, "backbone.concat", "Concat " + Arrays.toString(layers), new int[]{batch, tokens, c},
                new int[]{batch, layers.length * c, h0, w0}, 0, 0));
        rows.add(new Row(1, "head", "SegmentationHead(" + head.kind.id() + ")", new int[]{batch, head.inChannels, h0, w0},
                new int[]{batch, k, h0, w0}, head.parameterCount(false), head.parameterCount(true)));
        int ch = head.inChannels;
        for (SegmentationHead.Part part : head.describe()) {
            rows.add(new Row(2, "head." + part.name(), part.type(), new int[]{batch, ch, h0, w0},
                    new int[]{batch, part.outChannels(), h0, w0}, part.params(), part.params()));
            ch = part.outChannels();
        }
        rows.add(new Row(1, "upsample", "Bilinear", new int[]{batch, k, h0, w0}, new int[]{batch, k, h, w}, 0, 0));
        return rows;
    }

    /**
     * The trainable parameters per optimizer group as training forms them ({@link ParamGroups#describe}):
     * {@code head}, and {@code backbone} (fine-tuning) or {@code lora} (LoRA adapters).
     */
    static String groups(Dinov2Segmentation m, double layerDecay) {
        boolean lora = !Lora.adapted(m.backbone).isEmpty();
        boolean ft = m.isFineTune() && !lora;
        TrainConfig tc = TrainConfig.builder().fineTune(ft).lora(lora ? 1 : 0, 1, null).layerDecay(ft ? layerDecay : 1).build();
        return ParamGroups.describe(ParamGroups.of(m, tc));
    }

    /** The table and totals as text. */
    public static String render(Dinov2Segmentation m, int batch, int h, int w, BackboneConfig cfg) { return render(m, batch, h, w, cfg, 1); }

    /** As above, the optimizer groups split per layer by {@code layerDecay} below 1 (train --layer-decay). */
    public static String render(Dinov2Segmentation m, int batch, int h, int w, BackboneConfig cfg, double layerDecay) {
        List<Row> rows = rows(m, batch, h, w);
        StringBuilder sb = new StringBuilder();
        String fmt = "%-58s %-22s %-22s %14s  %s%n";
        sb.append("Model: DINOv2 ").append(cfg.name()).append(" (embed ").append(cfg.embedDim()).append(", depth ").append(cfg.depth())
                .append(", heads ").append(cfg.heads()).append(", registers ").append(cfg.registers()).append(", ffn ")
                .append(cfg.swiglu() ? "swiglu" : "mlp").append(", patch ").append(cfg.patch()).append(") + ").append(m.head.kind.id())
                .append(" head over blocks ").append(Arrays.toString(m.layers())).append(", ").append(m.numClasses()).append(" classes\n");
        String header = String.format(Locale.ROOT, fmt, "Layer (type)", "Input shape", "Output shape", "Param #", "Trainable");
        String rule = "=".repeat(header.length() - 1) + "\n";
        sb.append(rule).append(header).append(rule);
        for (var r : rows) {
            String indent = r.depth() == 0 ? "" : "  ".repeat(r.depth() - 1) + "└─";
            String name = r.name().isEmpty() ? r.type() : indent + r.name() + " (" + r.type() + ")";
            String trainable = r.params() == 0 ? "--" : r.trainable() == r.params() ? "True" : r.trainable() == 0 ? "False" : "Partial";
            sb.append(String.format(Locale.ROOT, fmt, name, shape(r.input()), shape(r.output()), n(r.params()), trainable));
        }
        sb.append(rule);
        long total = m.parameterCount(false), trainable = m.parameterCount(true), headParams = m.head.parameterCount(false);
        int[] grid = rows.stream().filter(r -> r.name().equals("head")).findFirst().orElseThrow().output();
        sb.append("Total params: ").append(n(total)).append('\n');
        sb.append("Trainable params: ").append(n(trainable)).append('\n');
        sb.append("Trainable params by group: ").append(groups(m, layerDecay)).append('\n');
        sb.append("Non-trainable params: ").append(n(total - trainable)).append('\n');
        sb.append("Backbone params: ").append(n(m.backbone.parameterCount(false))).append('\n');
        sb.append("Head params: ").append(n(headParams)).append('\n');
        sb.append("Head output: ").append(grid[1]).append('x').append(grid[2]).append('x').append(grid[3])
                .append(" per image (logits at the patch grid; upsampled bilinearly to the label size, ")
                .append(h).append('x').append(w).append(" here)\n");
        long stateFloats = m.namedParameters().values().stream().mapToLong(p -> p.value().numel()).sum();
        sb.append(String.format(Locale.ROOT, "Input size (MB): %.2f%n", 4.0 * batch * 3 * h * w / 1e6));
        sb.append(String.format(Locale.ROOT, "Params size (MB): %.2f%n", 4.0 * stateFloats / 1e6));
        sb.append(rule);
        return sb.toString();
    }
}
