package dinoseg.cli;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.data.DemoData;
import dinoseg.train.DatasetSettings;
import dinoseg.train.TrainConfig;
import dinoseg.train.Trainer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
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
            description = "small, base, large, giant (or *_reg), or a JSON backbone config (default: ${DEFAULT-VALUE}).")
    String backbone;

    @Option(names = "--weights", paramLabel = "FILE", description = "Backbone weights (.pth or .safetensors, official or Hugging Face names). Without it the backbone is random.")
    Path weights;

    @Option(names = "--head", paramLabel = "linear|bn|conv", defaultValue = "linear", description = "Segmentation head (default: ${DEFAULT-VALUE}).")
    String head;

    @Option(names = "--fine-tune", description = "Train the backbone too (otherwise it is frozen: no gradients, no tape).")
    boolean fineTune;

    @Option(names = "--epochs", paramLabel = "N", defaultValue = "20", description = "Epochs (default: ${DEFAULT-VALUE}); with --resume: the new total.")
    int epochs;

    @Option(names = "--imgsz", paramLabel = "W H", arity = "1..2", description = "Training size, width and height (one value: square), rounded up to multiples of 14 (default: 644 644).")
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

    @Option(names = "--cache-features", description = "Frozen backbone, no augmentation: run the backbone once per image and train the head on the cached maps.")
    boolean cacheFeatures;

    @Option(names = "--verbose", description = "Print stack traces of errors.")
    boolean verbose;

    @Override public Integer call() throws IOException {
        CommandLine cl = spec.commandLine();
        PrintWriter out = cl.getOut(), err = cl.getErr();
        CommandLine.ParseResult pr = cl.getParseResult();
        Signals.cooperate(); // SIGINT/SIGTERM: stop at the next step boundary with a resumable state
        if (resume != null) {
            if (demo) throw new CommandLine.ParameterException(cl, "--resume and --demo cannot be combined (the state holds the settings)");
            java.util.List<String> ignored = new java.util.ArrayList<>();
            for (CommandLine.Model.OptionSpec o : pr.matchedOptions())
                if (!java.util.Set.of("--resume", "--epochs", "--device", "--workers", "--save-every-min", "--verbose").contains(o.longestName()))
                    ignored.add(o.longestName());
            if (!ignored.isEmpty())
                err.println("note: --resume continues with the run's own settings; ignoring " + String.join(", ", ignored));
            String device = pr.hasMatchedOption("--device") ? this.device : TrainConfigPeek.device(resume);
            try (Backend be = Backends.create(device, err::println)) {
                Trainer t = Trainer.resume(resume, pr.hasMatchedOption("--epochs") ? epochs : null, be, out, err);
                if (pr.hasMatchedOption("--workers")) t.config().workers = workers;
                if (pr.hasMatchedOption("--save-every-min")) {
                    t.config().saveEveryMin = saveEveryMin;
                    try {
                        t.config().validate();
                    } catch (IllegalArgumentException e) {
                        throw new CommandLine.ParameterException(cl, e.getMessage());
                    }
                }
                t.launcher(launcher()).run();
            }
            return 0;
        }
        if (imgsz != null && imgsz.length > 2)
            throw new CommandLine.ParameterException(cl, "--imgsz takes a width and a height (or one side), got " + imgsz.length + " values");
        TrainConfig cfg = demo ? demoConfig(pr) : fromFlags();
        if (cfg.outDir == null) cfg.outDir = defaultOutDir(cfg.demo);
        try {
            cfg.validate();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, e.getMessage());
        }
        if (cfg.demo) ensureDemoData(cfg, out);
        try (Backend be = Backends.create(cfg.device, err::println)) {
            new Trainer(cfg, be, out, err).launcher(launcher()).run();
        }
        return 0;
    }

    private TrainConfig fromFlags() {
        TrainConfig c = new TrainConfig();
        c.dataset = DatasetSettings.toJson(dataset.toSpec(), null);
        c.backbone = backbone;
        c.weights = weights == null ? null : weights.toString();
        c.head = head;
        c.fineTune = fineTune;
        c.epochs = epochs;
        if (imgsz != null) {
            c.imgWidth = imgsz[0];
            c.imgHeight = imgsz.length > 1 ? imgsz[1] : imgsz[0];
        }
        c.batch = batch;
        c.lr = lr;
        c.weightDecay = weightDecay;
        c.scheduler = scheduler;
        if (schedulerEpochs != null) c.schedulerEpochs = schedulerEpochs;
        c.schedulerGamma = schedulerGamma;
        c.warmup = warmup;
        c.backboneLrScale = backboneLrScale;
        c.augment = augment;
        c.device = device;
        c.workers = workers;
        c.seed = seed;
        c.outDir = outDir == null ? null : outDir.toString();
        c.cacheFeatures = cacheFeatures;
        c.saveEveryMin = saveEveryMin;
        return c;
    }

    /** The demo preset with every flag given on the command line applied over it. */
    private TrainConfig demoConfig(CommandLine.ParseResult pr) throws IOException {
        TrainConfig c = DemoPreset.load();
        TrainConfig f = fromFlags();
        boolean datasetGiven = pr.hasMatchedOption("--data") || pr.hasMatchedOption("--train-images") || pr.hasMatchedOption("--classes")
                || pr.hasMatchedOption("--mask-format");
        if (datasetGiven) c.dataset = f.dataset;
        if (pr.hasMatchedOption("--backbone")) { c.backbone = f.backbone; c.backboneConfig = null; }
        if (pr.hasMatchedOption("--weights")) c.weights = f.weights;
        if (pr.hasMatchedOption("--head")) c.head = f.head;
        if (pr.hasMatchedOption("--fine-tune")) c.fineTune = true;
        if (pr.hasMatchedOption("--epochs")) c.epochs = f.epochs;
        if (pr.hasMatchedOption("--imgsz")) { c.imgWidth = f.imgWidth; c.imgHeight = f.imgHeight; }
        if (pr.hasMatchedOption("--batch")) c.batch = f.batch;
        if (pr.hasMatchedOption("--lr")) c.lr = f.lr;
        if (pr.hasMatchedOption("--weight-decay")) c.weightDecay = f.weightDecay;
        if (pr.hasMatchedOption("--scheduler")) c.scheduler = f.scheduler;
        if (pr.hasMatchedOption("--scheduler-epochs")) c.schedulerEpochs = f.schedulerEpochs;
        if (pr.hasMatchedOption("--scheduler-gamma")) c.schedulerGamma = f.schedulerGamma;
        if (pr.hasMatchedOption("--warmup")) c.warmup = f.warmup;
        if (pr.hasMatchedOption("--backbone-lr-scale")) c.backboneLrScale = f.backboneLrScale;
        if (pr.hasMatchedOption("--augment")) c.augment = f.augment;
        if (pr.hasMatchedOption("--device")) c.device = f.device;
        if (pr.hasMatchedOption("--workers")) c.workers = f.workers;
        if (pr.hasMatchedOption("--seed")) c.seed = f.seed;
        if (pr.hasMatchedOption("--out-dir")) c.outDir = f.outDir;
        if (pr.hasMatchedOption("--save-every-min")) c.saveEveryMin = f.saveEveryMin;
        if (pr.hasMatchedOption("--cache-features")) { c.cacheFeatures = true; c.fineTune = pr.hasMatchedOption("--fine-tune"); }
        c.demo = true;
        return c;
    }

    private static void ensureDemoData(TrainConfig cfg, PrintWriter out) throws IOException {
        if (!cfg.dataset.has("data")) return;
        Path dir = Path.of(cfg.dataset.get("data").getAsString());
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
            return dinoseg.train.ResumeState.read(stateOrDir).config().device;
        }
    }
}
