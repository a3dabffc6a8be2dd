package dinoseg.cli;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.data.DemoData;
import dinoseg.train.DatasetSettings;
import dinoseg.train.TrainConfig;
import dinoseg.train.Trainer;
import dinoseg.model.BackboneConfig;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

/** {@code dinoseg train}: transfer learning (frozen backbone) or {@code --fine-tune}, or the built-in {@code --demo}. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a DINOv2 segmentation model: the head on a frozen backbone (default) or the whole model (--fine-tune).",
                "Writes metrics.csv, loss/accuracy/miou.png, per_class_iou.png, valid_preds/, config.json, best_model_loss, "
                        + "best_model_iou and final_model checkpoints (+ head-only files) and last_state.safetensors (for --resume) into --out-dir.",
                "--demo: generate input/demo if missing and train a small model on it (settings: the demo preset, overridable by flags)."})
public final class TrainCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Mixin DatasetOptions dataset;

    @Option(names = "--demo", description = "The built-in demo: procedural data in input/demo (generated if missing), a small model, about a minute on a 2-core CPU.")
    boolean demo;

    @Option(names = "--backbone", paramLabel = "NAME|FILE", defaultValue = "small",
            description = "small, base, large, giant (or *_reg), or a JSON backbone config (default: the one --weights NAME implies, else ${DEFAULT-VALUE}).")
    String backbone;

    @Option(names = "--weights", paramLabel = "FILE|NAME",
            description = "Backbone weights: a file (.pth or .safetensors, official or Hugging Face tensor names), or a name downloaded once "
                    + "into the cache: dinov2_vit{s,b,l,g}14[_reg4] or facebook/dinov2-[with-registers-]{small,base,large,giant}[@REV] "
                    + "(it implies --backbone). Without it the backbone is random.")
    String weights;

    @Option(names = "--head", paramLabel = "linear|bn|conv", defaultValue = "linear", description = "Segmentation head (default: ${DEFAULT-VALUE}).")
    String head;

    @Option(names = "--fine-tune", description = "Train the backbone too (otherwise it is frozen: no gradients, no tape).")
    boolean fineTune;

    @Option(names = "--epochs", paramLabel = "N", defaultValue = "20", description = "Epochs (default: ${DEFAULT-VALUE}); with --resume: the new total.")
    int epochs;

    @Option(names = "--imgsz", paramLabel = "W [H]", hideParamSyntax = true, arity = "1..2", description = "Training size, width and height (one value: square), rounded up to multiples of the patch size (14 for the DINOv2 presets; default: 644 644).")
    int[] imgsz;

    @Option(names = "--batch", paramLabel = "N", defaultValue = "4", description = "Batch size (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--lr", paramLabel = "LR", defaultValue = "1e-4", description = "Learning rate of the head (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--weight-decay", paramLabel = "WD", defaultValue = "0.01",
            description = "AdamW weight decay for weights (not biases, norms, LayerScale, tokens; default: ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--scheduler", paramLabel = "none|multistep|poly|cosine", defaultValue = "none", description = "Learning-rate schedule (default: ${DEFAULT-VALUE}).")
    String scheduler;

    @Option(names = "--scheduler-epochs", paramLabel = "E", split = ",", arity = "1..*",
            description = "multistep: epochs at which the lr is multiplied by --scheduler-gamma (default: 30).")
    int[] schedulerEpochs;

    @Option(names = "--scheduler-gamma", paramLabel = "G", defaultValue = "0.1", description = "multistep factor (default: ${DEFAULT-VALUE}).")
    double schedulerGamma;

    @Option(names = "--warmup", paramLabel = "EPOCHS", defaultValue = "0", description = "Linear warmup in epochs (default: ${DEFAULT-VALUE}).")
    double warmup;

    @Option(names = "--backbone-lr-scale", paramLabel = "S", defaultValue = "0.1", description = "Fine-tune: backbone lr = lr x S (default: ${DEFAULT-VALUE}).")
    double backboneLrScale;

    @Option(names = "--augment", paramLabel = "MODE", arity = "0..1", fallbackValue = "tutorial", defaultValue = "none",
            description = "Augmentation: none, tutorial (flip, brightness/contrast, rotation; the flag alone) or official (scale, crop, flip, photometric) (default: ${DEFAULT-VALUE}).")
    String augment;

    @Option(names = "--device", paramLabel = "auto|cpu|cuda", defaultValue = "auto", description = "Where to train (default: ${DEFAULT-VALUE}).")
    String device;

    @picocli.CommandLine.Mixin PrecisionOption precision;

    @Option(names = "--workers", paramLabel = "N", defaultValue = "0", description = "Data loader threads (0: all cores).")
    int workers;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "42", description = "Seed of initialisation, data order and augmentation (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--out-dir", paramLabel = "DIR", description = "Run folder (default: outputs/<timestamp>).")
    Path outDir;

    @Option(names = "--resume", paramLabel = "CKPT", description = "Continue a run exactly: its last_state.safetensors or its run folder (settings come from the run).")
    Path resume;

    @Option(names = "--save-every-min", paramLabel = "M", defaultValue = "10",
            description = "Also write the resumable last_state.safetensors every M minutes within an epoch, at a step boundary "
                    + "(0: only at epoch ends; default: ${DEFAULT-VALUE}). SIGINT/SIGTERM stop at the next step with that state written.")
    double saveEveryMin;

    @Option(names = "--lora-rank", paramLabel = "R",
            description = "LoRA: freeze the backbone's weights and train rank-R adapters (lora_A, lora_B; B starts at zero) on the --lora-targets layers, with the head (default: off). Checkpoints hold the merged weights; the adapters alone go to lora.safetensors.")
    Integer loraRank;

    @Option(names = "--lora-alpha", paramLabel = "A", description = "LoRA alpha: the adapters' output is scaled by A / R (default: 8, as PEFT).")
    Double loraAlpha;

    @Option(names = "--lora-targets", paramLabel = "L", split = ",", arity = "1..*",
            description = "LoRA: the layers to adapt in every block, comma-separated: qkv, proj, fc1, fc2 (w12, w3 for SwiGLU backbones; default: qkv).")
    String[] loraTargets;

    @Option(names = "--checkpoint-blocks", description = "Activation checkpointing per backbone block when the backbone trains: "
            + "each block keeps only its input and is recomputed in backward (less memory for a second forward of the blocks; same gradients).")
    boolean checkpointBlocks;

    @Option(names = "--cuda-graphs", description = "CUDA: record one training step as a CUDA graph after the first step and replay it for "
            + "every full batch (one launch per step instead of thousands; same results). Not with --clip-grad, --drop-path or --accum-steps.")
    boolean cudaGraphs;

    @Option(names = "--clip-grad", paramLabel = "NORM",
            description = "Clip the gradients' total L2 norm to NORM before every optimizer step, as torch.nn.utils.clip_grad_norm_ (default: off).")
    Double clipGrad;

    @Option(names = "--layer-decay", paramLabel = "D",
            description = "Fine-tune: layer-wise lr decay (BEiT/MAE): block i of depth L trains at the backbone lr x D^(L-i), the embeddings "
                    + "at x D^(L+1), the final norm at x 1, the head at lr (default: 1, off).")
    Double layerDecay;

    @Option(names = "--unfreeze-last", paramLabel = "N",
            description = "Fine-tune only the last N backbone blocks and the final norm; the rest stays frozen and runs without a tape "
                    + "(turns on --fine-tune; default: 0, the whole backbone).")
    Integer unfreezeLast;

    @Option(names = "--drop-path", paramLabel = "P",
            description = "Fine-tune: stochastic depth, each residual branch of block i (of L) dropped per sample with probability "
                    + "P x i/(L-1) in training (kept ones scaled by 1/(1-p)), off in evaluation (default: 0, off).")
    Double dropPath;

    @Option(names = "--accum-steps", paramLabel = "K",
            description = "Accumulate the gradients of K batches per optimizer step (each batch's loss weighted by its share of the K batches' "
                    + "pixels, so it equals one batch K times larger); the schedule counts optimizer steps (default: 1).")
    Integer accumSteps;

    @Option(names = "--cache-features", description = "Frozen backbone, no augmentation: run the backbone once per image and train the head on the cached maps.")
    boolean cacheFeatures;

    @Option(names = "--verbose", description = "Print stack traces of errors.")
    boolean verbose;

    /** Dataset flags that say where the data is or how to read it: given with --demo, they replace the preset's dataset. */
    private static final List<String> DATASET_FLAGS = List.of("--data", "--train-images", "--classes", "--mask-format");
    /** Flags a resumed run takes besides the settings it may change ({@link TrainConfig#RESUMABLE}). */
    private static final Set<String> RESUME_FLAGS = Set.of("--resume", "--device", "--verbose", "--cuda-graphs");
    private static final Gson GSON = new GsonBuilder().serializeSpecialFloatingPointValues().create();

    @Override public Integer call() throws IOException {
        CommandLine cl = spec.commandLine();
        PrintWriter out = cl.getOut(), err = cl.getErr();
        CommandLine.ParseResult pr = cl.getParseResult();
        Signals.cooperate(); // SIGINT/SIGTERM: stop at the next step boundary with a resumable state
        if (resume != null) {
            if (demo) throw new CommandLine.ParameterException(cl, "--resume and --demo cannot be combined (the state holds the settings)");
            if (pr.hasMatchedOption("--device")) Flags.device(cl, this.device);
            List<String> ignored = new ArrayList<>();
            for (OptionSpec o : pr.matchedOptions())
                if (!RESUME_FLAGS.contains(o.longestName()) && !TrainConfig.RESUMABLE.contains(key(o))) ignored.add(o.longestName());
            if (!ignored.isEmpty())
                err.println("note: --resume continues with the run's own settings; ignoring " + String.join(", ", ignored));
            JsonObject changes = new JsonObject();
            for (var e : explicitSettings(pr).entrySet())
                if (TrainConfig.RESUMABLE.contains(e.getKey())) changes.add(e.getKey(), e.getValue());
            String device = pr.hasMatchedOption("--device") ? this.device : TrainConfigPeek.device(resume);
            try (Backend be = Backends.create(device, err::println)) {
                Trainer t;
                try {
                    t = Trainer.resume(resume, changes, be, out, err);
                } catch (TrainConfig.InvalidSettingException e) {
                    throw new CommandLine.ParameterException(cl, e.getMessage());
                }
                t.launcher(launcher()).cudaGraphs(graphs(cl, t.config(), be)).run();
            }
            return 0;
        }
        TrainConfig cfg = config(pr);
        if (cfg.demo()) ensureDemoData(cfg, out);
        graphs(cl, cfg, null);   // settings that rule --cuda-graphs out: before the device is opened
        try (Backend be = Backends.create(cfg.device(), err::println)) {
            new Trainer(cfg, be, out, err).launcher(launcher()).cudaGraphs(graphs(cl, cfg, be)).run();
        }
        return 0;
    }

    /** --cuda-graphs, checked against the run's settings and the backend (null: not opened yet); a usage error when it cannot be used. */
    private boolean graphs(CommandLine cl, TrainConfig cfg, Backend be) {
        if (!cudaGraphs) return false;
        String why = Trainer.whyNoGraphs(cfg, be);
        if (why != null) throw new CommandLine.ParameterException(cl, why);
        return true;
    }

    /**
     * The settings of a fresh run: the library defaults (which are the flags' defaults) or the demo
     * preset, with the settings the user typed applied over them; the default run folder when none.
     */
    TrainConfig config(CommandLine.ParseResult pr) throws IOException {
        CommandLine cl = spec.commandLine();
        // the flags first: a bad value is a usage error (exit 2); unreadable files are run-time errors (exit 1)
        Flags.imageSize(cl, imgsz);
        Flags.device(cl, device);
        if (pr.hasMatchedOption("--backbone")) Flags.backbone(cl, backbone);
        WeightsArg.Choice named = pr.hasMatchedOption("--weights") ? WeightsArg.parse(cl, weights) : null;
        if (named != null && named.name() == null) named = null;   // a file: a setting like any other
        if (named != null) WeightsArg.backbone(cl, named, pr.hasMatchedOption("--backbone") ? backbone : null, null);
        if (!demo) dataset.requireDataset(cl);
        JsonObject flagDataset = DatasetSettings.toJson(dataset.toSpec(cl), null);
        TrainConfig.Builder base = demo ? DemoPreset.load().toBuilder() : TrainConfig.builder().dataset(flagDataset);
        JsonObject given = explicitSettings(pr);
        if (DATASET_FLAGS.stream().anyMatch(pr::hasMatchedOption)) given.add("dataset", flagDataset);
        if (named != null && !pr.hasMatchedOption("--backbone")) given.addProperty("backbone", named.name().preset());
        if (demo && given.has("cache_features") && !given.has("fine_tune") && base.build().fineTune())
            cl.getErr().println("note: --cache-features freezes the backbone (the demo preset fine-tunes it)");
        try {
            TrainConfig cfg = base.overriddenBy(given).build();
            if (cfg.loraRank() == 0 && (given.has("lora_alpha") || given.has("lora_targets")))
                throw new CommandLine.ParameterException(cl, (given.has("lora_alpha") ? "--lora-alpha" : "--lora-targets") + " needs --lora-rank R (LoRA is off without it)");
            if (cfg.unfreezeLast() > 0 && cfg.backboneConfig() == null) {   // as summary and bench: a usage error, before the data is read
                BackboneConfig bc = BackboneConfig.parse(cfg.backbone());
                Flags.require(cl, cfg.unfreezeLast() <= bc.depth(),
                        "--unfreeze-last must be in 1.." + bc.depth() + " for the " + bc.name() + " backbone, got " + cfg.unfreezeLast());
            }
            cfg = cfg.outDir() != null ? cfg : cfg.toBuilder().outDir(defaultOutDir(cfg.demo())).build();
            // the settings are sound: now the named weights may be downloaded (the run records the cached file)
            return named == null ? cfg : cfg.toBuilder().weights(WeightsArg.local(named, cl.getErr()).toString()).build();
        } catch (TrainConfig.InvalidSettingException e) {
            throw new CommandLine.ParameterException(cl, e.getMessage());
        }
    }

    /** The training setting an option sets: its long name without dashes, with underscores ({@code --weight-decay}: weight_decay). */
    private static String key(OptionSpec o) {
        return o.longestName().replaceFirst("^--", "").replace('-', '_');
    }

    /**
     * The training settings given on the command line, by their JSON names ({@link TrainConfig#KEYS}):
     * every matched option that names one, and {@code --imgsz} as img_width and img_height. Options
     * not given are left out, so they keep the value of the config they are applied to.
     */
    private JsonObject explicitSettings(CommandLine.ParseResult pr) {
        JsonObject given = new JsonObject();
        for (OptionSpec o : pr.matchedOptions()) {
            if (!TrainConfig.KEYS.contains(key(o))) continue;
            Object v = o.getValue();
            given.add(key(o), GSON.toJsonTree(v instanceof Path p ? p.toString() : v));
        }
        if (pr.hasMatchedOption("--precision"))   // as the flag reads it (bfloat16 is bf16; fp16 is refused with the reason)
            given.addProperty("precision", precision.parse(pr.commandSpec().commandLine()).flag());
        if (pr.hasMatchedOption("--imgsz")) {
            given.addProperty("img_width", imgsz[0]);
            given.addProperty("img_height", imgsz.length > 1 ? imgsz[1] : imgsz[0]);
        }
        return given;
    }

    private static void ensureDemoData(TrainConfig cfg, PrintWriter out) throws IOException {
        JsonObject ds = cfg.dataset();
        if (!ds.has("data")) return;
        Path dir = Path.of(ds.get("data").getAsString());
        if (Files.isDirectory(dir.resolve("train_images")) && Files.isDirectory(dir.resolve("valid_labels"))) return;
        DemoData.Summary s = DemoData.generate(dir, 0);
        out.println("demo data: generated " + s.train() + " train / " + s.valid() + " valid images of " + s.size() + "x" + s.size() + " in " + dir);
    }

    /** How this program was started, for the resume hint: "java -jar <the jar>" (target/dinoseg.jar from a class path). */
    static String launcher() {
        String cp = System.getProperty("java.class.path", "");
        if (!cp.endsWith(".jar") || cp.contains(java.io.File.pathSeparator)) return "java -jar target/dinoseg.jar";
        return "java -jar " + (cp.matches(".*[\\s'\"$`\\\\].*") ? "'" + cp.replace("'", "'\\''") + "'" : cp);
    }

    static String defaultOutDir(boolean demo) {
        String ts = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyy-MM-dd_HH-mm-ss"));
        return Path.of("outputs", (demo ? "demo_" : "") + ts).toString();
    }

    /** The demo's settings, kept in one place: the resource {@code dinoseg/demo.json}. */
    static final class DemoPreset {
        private DemoPreset() { }

        static TrainConfig load() throws IOException {
            try (InputStream in = TrainCommand.class.getResourceAsStream("/dinoseg/demo.json")) {
                if (in == null) throw new IOException("the demo preset dinoseg/demo.json is missing from the jar");
                return TrainConfig.fromJson(new String(in.readAllBytes(), StandardCharsets.UTF_8), "dinoseg/demo.json");
            }
        }
    }

    /** Reads the device a run used from its state, so a resume picks the same unless --device says otherwise. */
    static final class TrainConfigPeek {
        private TrainConfigPeek() { }

        static String device(Path stateOrDir) {
            return dinoseg.train.ResumeState.read(stateOrDir).config().device();
        }
    }
}
