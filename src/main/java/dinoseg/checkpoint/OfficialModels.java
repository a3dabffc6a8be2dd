package dinoseg.checkpoint;

import dinoseg.backend.Backend;
import dinoseg.data.ClassSet;
import dinoseg.io.HostTensor;
import dinoseg.io.Untrusted;
import dinoseg.io.WeightFiles;
import dinoseg.io.WeightNames;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.SegmentationHead;
import dinoseg.tensor.Shape;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * The segmentation heads Meta published for DINOv2 (README "Pretrained heads - Semantic
 * segmentation"; notebooks/semantic_segmentation.ipynb): for each backbone {@code dinov2_vit{s,b,l,g}14}
 * a {@code linear} and a multi-scale {@code ms} head trained on {@code voc2012} (21 classes) and
 * {@code ade20k} (150 classes), named {@code <base>_<dataset>_<kind>}, e.g.
 * {@code dinov2_vits14_voc2012_linear}. No head was published for the register backbones.
 *
 * <p>Files, relative to {@link #BASE_URL}: the backbone {@code <base>/<base>_pretrain.pth} (official
 * names) and the head {@code <base>/<base>_<dataset>_<kind>_head.pth}, an mmcv checkpoint
 * {@code {"meta": {...}, "state_dict": {...}}} whose state dict holds MMSegmentation's BNHead
 * ({@code dinov2/eval/segmentation/models/decode_heads/linear_head.py}):
 * {@code decode_head.bn.{weight,bias,running_mean,running_var[,num_batches_tracked]}} [L·C] and
 * {@code decode_head.conv_seg.{weight [K, L·C, 1, 1], bias [K]}}.
 *
 * <p>The model this builds is {@link Dinov2Segmentation} with the {@code bn} head
 * ({@link SegmentationHead.Bn}: BatchNorm in eval mode, then a 1×1 conv): the official configs
 * take {@code out_indices} = the last four blocks from {@code get_intermediate_layers(reshape=True)}
 * (final norm applied, class token not passed), and BNHead's {@code resize_concat} concatenates
 * {@code in_index} [3] (linear: the last block, L = 1) or [0, 1, 2, 3] (ms: the last four, L = 4)
 * in block order; {@code align_corners=False}, {@code dropout_ratio=0}. The logits are upsampled
 * bilinearly to the input, as mmseg's EncoderDecoder does.
 *
 * <p>The published test settings ({@link TestSettings}, the table {@link #TEST_SETTINGS} with its
 * sources) become the predictor's defaults; the CLI lets flags override them.
 */
public final class OfficialModels {
    private OfficialModels() { }

    /** Where the official files live; {@link Spec#backbonePath} and {@link Spec#headPath} are relative to it. */
    public static final String BASE_URL = "https://dl.fbaipublicfiles.com/dinov2";

    /**
     * How the command line obtains an official file: a relative path (e.g.
     * {@code dinov2_vits14/dinov2_vits14_voc2012_linear_head.pth}) to a local file. Default:
     * {@link WeightsHub#fetchOfficial}, the weights cache (downloading from {@code $DINOSEG_DINOV2_URL},
     * default {@link #BASE_URL}, when needed; one-line errors; offline mode respected). Tests may set a
     * folder of fixtures instead.
     */
    public static volatile Function<String, Path> fetcher = WeightsHub::fetchOfficial;

    /** The datasets of the published heads, with their class sets. */
    public enum Dataset {
        VOC2012("voc2012", 21), ADE20K("ade20k", 150);

        public final String id;
        public final int numClasses;

        Dataset(String id, int numClasses) {
            this.id = id;
            this.numClasses = numClasses;
        }

        /** The classes and colours: VOC's 21 with the VOC palette, or ADE20K's 150 ({@link ClassSet#ade20k()}). */
        public ClassSet classes() { return this == VOC2012 ? ClassSet.voc() : ClassSet.ade20k(); }
    }

    /** The two published head kinds: how many of the last blocks they read. */
    public enum Kind {
        LINEAR("linear", 1), MS("ms", 4);

        public final String id;
        /** Blocks read, the last ones of the backbone (in_index [3] or [0,1,2,3] of out_indices = the last four). */
        public final int blocks;

        Kind(String id, int blocks) {
            this.id = id;
            this.blocks = blocks;
        }
    }

    /**
     * A published test setting (the {@code data.test} pipeline and {@code model.test_cfg} of a head's
     * {@code *_config.py}): each picture resized keeping its aspect ratio so that its shorter side is
     * {@code shortSide} ({@code Resize(keep_ratio=True)} with {@code img_scale=(99999999, shortSide)}),
     * once per entry of {@code ratios} ({@code MultiScaleFlipAug.img_ratios}, the side then
     * {@code (int)(shortSide * ratio)}), also flipped when {@code flip}; each view is predicted by
     * sliding {@code slideCrop}² windows every {@code slideStride} pixels ({@code test_cfg=dict(mode='slide')});
     * softmax scores averaged over the views.
     *
     * @param source the published file the values are from, and how directly (see the class notes of {@link #TEST_SETTINGS})
     */
    public record TestSettings(int shortSide, double[] ratios, boolean flip, int slideCrop, int slideStride, String source) {
        public TestSettings {
            ratios = ratios.clone();
            if (shortSide < 1 || ratios.length == 0 || slideCrop < 1 || slideStride < 1 || slideStride > slideCrop)
                throw new IllegalArgumentException("test settings: invalid values (" + source + ")");
        }

        /** True when there is more than one view (several ratios or flips). */
        public boolean multiView() { return flip || ratios.length > 1; }
    }

    /**
     * The published test settings by head kind and dataset. Sources:
     * <ul>
     *   <li>{@code ms}: {@code dinov2_vits14_voc2012_ms_config.py} (the published file, as copied
     *       into w1394945493/GaussTR {@code configs/dinov2/dinov2_vits14/}): {@code data.test} =
     *       MultiScaleFlipAug(img_scale=(99999999, 640), img_ratios=[1.0, 1.32, 1.73, 2.28, 3.0],
     *       flip=True), {@code test_cfg} = slide, crop (640, 640), stride (320, 320);
     *       {@code out_indices} [8, 9, 10, 11], BNHead in_index [0, 1, 2, 3], channels 4·384. The
     *       ADE20K ms heads use the same test settings: the DINOv2 paper (§7.3, "+ms: ... concatenate
     *       the patch tokens of the 4 last layers, use a larger image resolution of 640, and use
     *       multiscale test-time augmentations") states one protocol for both datasets; their
     *       config was not found in a public copy.</li>
     *   <li>{@code linear}: BNHead in_index [3] of out_indices [8, 9, 10, 11] (the last block),
     *       channels C; test_cfg slide crop (512, 512), stride (341, 341), one scale, no flip, at
     *       short side 512: the ADE20K linear config (crop_size (512, 512),
     *       {@code img_scale=(99999999, 512)}, data root {@code /checkpoint/dino/datasets/ADE20kChallengeData2016})
     *       and copies of the vitb14 linear configs (Jiawei-Yang/Denoising-ViT
     *       {@code evaluation/configs/vitb_{voc2012,ade20k}_linear_config.py}, whose test scale is
     *       mmseg's (2048, 512): the same short side 512 for pictures up to 4:1); the paper: "upsampled
     *       to full resolution (512x512)".</li>
     * </ul>
     */
    public static final Map<Kind, TestSettings> TEST_SETTINGS = Map.of(
            Kind.MS, new TestSettings(640, new double[] {1.0, 1.32, 1.73, 2.28, 3.0}, true, 640, 320,
                    "dinov2_vits14_voc2012_ms_config.py data.test MultiScaleFlipAug + test_cfg slide; ADE20K ms: same protocol (DINOv2 paper +ms)"),
            Kind.LINEAR, new TestSettings(512, new double[] {1.0}, false, 512, 341,
                    "dinov2 *_linear_config.py: crop_size (512, 512), img_scale (99999999, 512), test_cfg slide stride (341, 341), single scale, no flip"));

    /**
     * One named model: the backbone (its preset and file), the head (dataset, kind, file) and the
     * test settings.
     *
     * @param name     {@code <base>_<dataset>_<kind>}
     * @param base     the backbone's hub name, e.g. {@code dinov2_vits14}: the folder and file stem of both files
     * @param backbone the backbone's hyper-parameters (the hub preset)
     */
    public record Spec(String name, String base, BackboneConfig backbone, Dataset dataset, Kind kind, TestSettings test) {
        public Spec {
            Objects.requireNonNull(name);
            Objects.requireNonNull(base);
            Objects.requireNonNull(backbone);
            Objects.requireNonNull(dataset);
            Objects.requireNonNull(kind);
            Objects.requireNonNull(test);
            if (kind.blocks > backbone.depth())
                throw new IllegalArgumentException(name + ": the " + kind.id + " head reads " + kind.blocks + " blocks, the backbone has " + backbone.depth());
        }

        /** The backbone file relative to {@link #BASE_URL}: {@code <base>/<base>_pretrain.pth}. */
        public String backbonePath() { return base + "/" + base + "_pretrain.pth"; }

        /** The head file relative to {@link #BASE_URL}: {@code <base>/<base>_<dataset>_<kind>_head.pth}. */
        public String headPath() { return base + "/" + base + "_" + dataset.id + "_" + kind.id + "_head.pth"; }

        /** The blocks the head reads: the last {@link Kind#blocks} of the backbone, ascending. */
        public int[] layers() {
            int d = backbone.depth(), n = kind.blocks;
            int[] l = new int[n];
            for (int i = 0; i < n; i++) l[i] = d - n + i;
            return l;
        }

        /** BatchNorm channels and the conv's input: blocks × embed_dim. */
        public int headChannels() { return kind.blocks * backbone.embedDim(); }

        public int numClasses() { return dataset.numClasses; }

        public ClassSet classes() { return dataset.classes(); }
    }

    private static final Map<String, String> SIZES = Map.of("vits14", "small", "vitb14", "base", "vitl14", "large", "vitg14", "giant");
    private static final Map<String, Spec> REGISTRY = new LinkedHashMap<>();

    static {
        for (String arch : List.of("vits14", "vitb14", "vitl14", "vitg14"))
            for (Dataset d : Dataset.values())
                for (Kind k : Kind.values()) {
                    String base = "dinov2_" + arch;
                    Spec s = new Spec(base + "_" + d.id + "_" + k.id, base, BackboneConfig.preset(SIZES.get(arch)), d, k, TEST_SETTINGS.get(k));
                    REGISTRY.put(s.name(), s);
                }
    }

    /** Every known name, the published ones first (16: four backbones × two datasets × two kinds). */
    public static synchronized List<String> names() { return List.copyOf(REGISTRY.keySet()); }

    /**
     * Adds a name (a mirror's own head, or a test's tiny model) that {@link #spec} and {@link #load}
     * then know; its files follow the same layout under the fetch function.
     *
     * @throws IllegalArgumentException when the name is already taken by a different model
     */
    public static synchronized void register(Spec spec) {
        Spec prev = REGISTRY.putIfAbsent(spec.name(), spec);
        if (prev != null && !prev.equals(spec)) throw new IllegalArgumentException("official models: the name " + spec.name() + " is already taken");
    }

    /** Whether {@code name} (any case) is a known model name. */
    public static synchronized boolean isName(String name) {
        return name != null && REGISTRY.containsKey(name.toLowerCase(Locale.ROOT));
    }

    /**
     * The model called {@code name} (any case).
     *
     * @throws IllegalArgumentException one line naming the known models (and saying that no register-backbone heads were published)
     */
    public static synchronized Spec spec(String name) {
        Spec s = REGISTRY.get(name.toLowerCase(Locale.ROOT));
        if (s != null) return s;
        String hint = name.toLowerCase(Locale.ROOT).contains("reg") ? " (no segmentation heads were published for the register backbones)" : "";
        throw new IllegalArgumentException("unknown model '" + Untrusted.text(name, 80) + "'" + hint + "; the official ones are dinov2_vit{s,b,l,g}14_{voc2012,ade20k}_{linear,ms}");
    }

    /** A loaded official model: frozen, in eval mode. */
    public record Loaded(Spec spec, Dinov2Segmentation model, ClassSet classes) { }

    /** {@link #load(String, Function, Backend, Consumer)} with notes to stderr. */
    public static Loaded load(String name, Function<String, Path> fetch, Backend be) throws IOException {
        return load(name, fetch, be, System.err::println);
    }

    /**
     * Builds the model called {@code name} on {@code be}: fetches (through {@code fetch}, which maps a
     * path relative to {@link #BASE_URL} to a local file) and loads strictly the backbone and the
     * head. Errors are one line naming the file: an unreadable file an {@link IOException}, tensors
     * that do not fit an {@link IllegalArgumentException}.
     */
    public static Loaded load(String name, Function<String, Path> fetch, Backend be, Consumer<String> log) throws IOException {
        Spec s = spec(name);
        Path backboneFile = fetch.apply(s.backbonePath());
        Path headFile = fetch.apply(s.headPath());
        Dinov2Segmentation m = Dinov2Segmentation.create(be, s.backbone(), SegmentationHead.Kind.BN, s.numClasses(), s.layers(), 0);
        Weights.loadBackbone(m.backbone, backboneFile, log);
        Map<String, HostTensor> head = headTensors(WeightFiles.read(headFile).tensors(), s, headFile.toString());
        StateDicts.loadStrict(m.head, head, headFile.toString());
        m.setFineTune(false);
        m.train(false);
        return new Loaded(s, m, s.classes());
    }

    /** The names of an mmseg BNHead in a state dict, and ours below the model's {@code head.} prefix. */
    static final Map<String, String> HEAD_NAMES = Map.of(
            "decode_head.bn.weight", "bn.weight", "decode_head.bn.bias", "bn.bias",
            "decode_head.bn.running_mean", "bn.running_mean", "decode_head.bn.running_var", "bn.running_var",
            "decode_head.conv_seg.weight", "conv.weight", "decode_head.conv_seg.bias", "conv.bias");

    /** PyTorch's BatchNorm step counter: in the file, never read (a fixed momentum). */
    static final String BN_COUNTER = "decode_head.bn.num_batches_tracked";

    /**
     * The head tensors of an mmcv head checkpoint's state dict (wrappers such as {@code module.}
     * removed) under our names ({@link SegmentationHead.Bn}: {@code bn.*}, {@code conv.*}), checked
     * against {@code spec}: exactly the six BNHead tensors (plus, optionally, the step counter) with
     * shapes [L·C] and [K, L·C, 1, 1], [K].
     *
     * @throws IllegalArgumentException one line starting with {@code source}: the missing, unexpected
     *         and wrongly shaped names as the file spells them
     */
    public static Map<String, HostTensor> headTensors(Map<String, HostTensor> fileTensors, Spec spec, String source) {
        Map<String, HostTensor> sd = WeightNames.withoutWrappers(fileTensors);
        int c = spec.headChannels(), k = spec.numClasses();
        Map<String, Shape> want = new LinkedHashMap<>();
        for (String p : List.of("weight", "bias", "running_mean", "running_var")) want.put("decode_head.bn." + p, Shape.of(c));
        want.put("decode_head.conv_seg.weight", Shape.of(k, c, 1, 1));
        want.put("decode_head.conv_seg.bias", Shape.of(k));
        List<String> missing = new ArrayList<>(), unexpected = new ArrayList<>(), wrong = new ArrayList<>();
        for (var e : want.entrySet()) {
            HostTensor t = sd.get(e.getKey());
            if (t == null) missing.add(e.getKey());
            else if (!t.shape().equals(e.getValue())) wrong.add(e.getKey() + " " + t.shape() + " (expected " + e.getValue() + ")");
        }
        for (String n : sd.keySet()) if (!want.containsKey(n) && !n.equals(BN_COUNTER)) unexpected.add(n);
        if (!missing.isEmpty() || !unexpected.isEmpty() || !wrong.isEmpty()) {
            StateDicts.Mismatch mm = new StateDicts.Mismatch(missing, unexpected, wrong);
            String what = missing.size() == want.size()
                    ? "not an mmseg BNHead checkpoint (no decode_head.bn.* / decode_head.conv_seg.* tensors)"
                    : "not the " + spec.kind().id + " head of " + spec.name() + " (BatchNorm over " + c + " channels, " + k + " classes)";
            throw new IllegalArgumentException(source + ": " + what + ": " + mm.describe());
        }
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (var e : HEAD_NAMES.entrySet()) out.put(e.getValue(), sd.get(e.getKey()));
        return out;
    }
}
