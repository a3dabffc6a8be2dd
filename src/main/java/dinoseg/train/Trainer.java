package dinoseg.train;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.data.Augment;
import dinoseg.data.Batch;
import dinoseg.data.ClassSet;
import dinoseg.data.DataLoader;
import dinoseg.data.DatasetSpec;
import dinoseg.data.Datasets;
import dinoseg.data.Preprocess;
import dinoseg.data.SampleCache;
import dinoseg.data.SegDataset;
import dinoseg.checkpoint.LoraFiles;
import dinoseg.checkpoint.ModelCheckpoint;
import dinoseg.checkpoint.StateDicts;
import dinoseg.checkpoint.Weights;
import dinoseg.io.AtomicFiles;
import dinoseg.io.ProgressBar;
import dinoseg.io.Stop;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.nn.Block;
import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * The training loop: a DINOv2 backbone (frozen, or fine-tuned at a scaled learning rate) and a
 * segmentation head trained with AdamW on pixel-wise cross-entropy, evaluated on the validation
 * split after every epoch with one confusion matrix. After each epoch it writes metrics.csv, the
 * curves, a preview overlay, the best checkpoints and the resume state; at the end the final model,
 * the per-class IoU chart and the confusion matrix. Progress bars and notices go to {@code err},
 * per-epoch results to {@code out}.
 *
 * <p>Determinism: model initialisation comes from the seed, data order and augmentation from
 * (seed, epoch, index), the schedule from the global step; so a run resumed from the state of epoch
 * k continues exactly as the uninterrupted run would have — and so does one resumed within an epoch,
 * from the state written every {@code save_every_min} minutes or when a {@link Stop} is requested
 * (SIGINT/SIGTERM in the CLI): the loader starts at the next batch of the same order, and the
 * partial epoch's loss sum and confusion counts continue from their saved values.
 */
public final class Trainer {
    /** Called after each epoch's files are written (tests use it to inspect or disturb a run). */
    public interface Listener {
        void epochEnd(int epoch, Dinov2Segmentation model);

        /** Called after training step {@code step} (1-based within the epoch) of {@code epoch}, before the next one. */
        default void stepEnd(int epoch, int step) { }
    }

    /** What a finished run reports. */
    public record Result(Path outDir, List<History.Row> history, ResumeState.Best best, Evaluator.Result lastValid,
                         double seconds, ClassSet classes) {
        public double finalValidMiou() { return history.isEmpty() ? Double.NaN : history.get(history.size() - 1).validMiou(); }
    }

    /** The loss became NaN or infinite: the run stopped, the files of the last good epoch stay. */
    public static final class DivergedException extends RuntimeException {
        public DivergedException(String message) { super(message); }
    }

    public static final String BEST_LOSS = "best_model_loss", BEST_IOU = "best_model_iou", FINAL = "final_model";

    private final TrainConfig cfg;
    private final Backend be;
    private final PrintWriter out, err;
    private final ResumeState resume;
    private final Path resumeFile;
    private Listener listener = (e, m) -> { };
    private Stop stop = Stop.process();
    private String launcher = "dinoseg";
    private boolean cudaGraphs;

    /** A fresh run with {@code cfg} (which needs an {@link TrainConfig#outDir}). */
    public Trainer(TrainConfig cfg, Backend be, PrintWriter out, PrintWriter err) {
        this(cfg, be, out, err, null, null);
    }

    private Trainer(TrainConfig cfg, Backend be, PrintWriter out, PrintWriter err, ResumeState resume, Path resumeFile) {
        if (cfg.outDir() == null) throw new IllegalArgumentException("training needs an output folder (--out-dir)");
        this.cfg = cfg;
        this.be = be;
        this.out = out;
        this.err = err;
        this.resume = resume;
        this.resumeFile = resumeFile;
    }

    /**
     * Continues a run from its {@code last_state.safetensors} (or the run folder holding it), in
     * that folder, with its settings. {@code changes} (JSON names, may be null) may set only the
     * {@link TrainConfig#RESUMABLE} settings: {@code epochs} a new total (to train further; a
     * changed total changes poly and cosine schedules from there on), {@code workers},
     * {@code save_every_min}.
     *
     * @throws TrainConfig.InvalidSettingException when a change is out of range
     * @throws IllegalArgumentException when the state cannot be read, a change is not resumable, or
     *                                  the run already trained its epochs
     */
    public static Trainer resume(Path stateOrDir, JsonObject changes, Backend be, PrintWriter out, PrintWriter err) {
        Path file = Files.isDirectory(stateOrDir) ? stateOrDir.resolve(ResumeState.FILE) : stateOrDir;
        ResumeState st = ResumeState.read(file);
        TrainConfig run = st.config();
        JsonObject c = changes == null ? new JsonObject() : changes;
        for (String k : c.keySet())
            if (!TrainConfig.RESUMABLE.contains(k))
                throw new IllegalArgumentException("a resumed run keeps its settings: '" + k + "' cannot change (only " + TrainConfig.RESUMABLE + ")");
        TrainConfig cfg = run.toBuilder().overriddenBy(c).outDir(file.toAbsolutePath().getParent().toString()).build();
        // refused before any note: a note about a schedule that will never run would mislead
        if (st.epoch() >= cfg.epochs())
            throw new IllegalArgumentException(file + ": the run already finished " + st.epoch() + " epoch" + (st.epoch() == 1 ? "" : "s")
                    + "; pass --epochs N with N > " + st.epoch() + " to train further");
        if (c.has("epochs") && c.get("epochs").getAsInt() != run.epochs()
                && run.scheduler() != LrSchedule.Kind.NONE && run.scheduler() != LrSchedule.Kind.MULTISTEP)
            err.println("note: --epochs changes the " + run.scheduler().name().toLowerCase(Locale.ROOT) + " schedule from epoch " + (st.epoch() + 1) + " on");
        return new Trainer(cfg, be, out, err, st, file);
    }

    public Trainer listener(Listener l) {
        this.listener = l;
        return this;
    }

    /**
     * Where this run polls for a stop (default: {@link Stop#process()}, which the CLI's signal
     * handlers set). At the next step boundary a requested stop writes {@code last_state.safetensors}
     * with the partial epoch and ends {@link #run} with {@link Stop.Stopped}, whose one line says how
     * to resume; during validation it keeps the trained steps (the resumed run validates them).
     */
    public Trainer stopOn(Stop stop) {
        this.stop = stop;
        return this;
    }

    /** How the user starts the program, for the resume hint of a stopped run (e.g. "java -jar target/dinoseg.jar"). */
    public Trainer launcher(String launcher) {
        this.launcher = launcher;
        return this;
    }

    /**
     * {@code --cuda-graphs}: after the first optimizer step, record one training step as a CUDA
     * graph and replay it for every batch of the same shapes ({@link StepGraph}); the other batches
     * (a short last batch) run op by op. The weights, losses and metrics are the same bits as
     * without it. Checked when the run starts: it needs a backend that captures graphs and a step
     * with no host work inside (no --clip-grad, --drop-path or --accum-steps).
     */
    public Trainer cudaGraphs(boolean on) {
        this.cudaGraphs = on;
        return this;
    }

    /**
     * Why {@code cfg} on {@code be} cannot replay captured steps, or null when it can; with a null
     * {@code be} (not opened yet) only an explicit {@code --device cpu} is refused for the device.
     */
    public static String whyNoGraphs(TrainConfig cfg, Backend be) {
        if (be == null ? "cpu".equals(cfg.device()) : !be.capturesGraphs())
            return "--cuda-graphs needs a CUDA device (the " + (be == null ? "cpu" : be.device()) + " backend runs op by op)";
        if (cfg.clipGrad() > 0) return "--cuda-graphs cannot be combined with --clip-grad (the gradient norm is read on the host every step)";
        if (cfg.dropPath() > 0) return "--cuda-graphs cannot be combined with --drop-path (each step draws its masks on the host)";
        if (cfg.accumSteps() > 1) return "--cuda-graphs cannot be combined with --accum-steps (the optimizer steps every few batches)";
        return null;
    }

    /** The settings this trainer was given (a run writes them with the dataset's classes, the rounded size and the backbone resolved). */
    public TrainConfig config() { return cfg; }

    /**
     * Trains: {@link #setUp} (folder, data, model, optimizer, loaders, restored state, feature
     * caches), then per epoch {@link #trainEpoch}, {@link #validate} and {@link #writeEpoch}, and at
     * the end {@link #finish} (final model, charts, summary): it reads top to bottom, as the
     * training file of karpathy/llm.c ({@code train_gpt2.c}) does.
     *
     * @throws DivergedException when a loss is NaN or infinite (the last good epoch's files stay)
     * @throws Stop.Stopped      when a stop was requested (the state is written; the message says how to resume)
     * @throws IllegalArgumentException for bad data, weights, a folder already holding a run, or a cache that does not fit
     */
    public Result run() throws IOException {
        long t0 = System.nanoTime();
        dinoseg.backend.Precision callers = be.matmulPrecision();   // the run sets its own; the caller's comes back after
        try (Run r = setUp()) {
            for (int epoch = r.startEpoch + 1; epoch <= r.cfg.epochs(); epoch++) {
                out.println();
                out.println("Epoch " + epoch + "/" + r.cfg.epochs());
                EpochProgress p = trainEpoch(r, epoch);
                History.Row row = validate(r, epoch, p);
                if (epoch == r.startEpoch + 1) describeImageCache(r);
                writeEpoch(r, epoch, row);
                listener.epochEnd(epoch, r.model);
                if (stop.requested() && epoch < r.cfg.epochs()) throw stopped(r, epoch + 1, 0, null); // its state is written
            }
            return finish(r, t0);
        } finally {
            be.setMatmulPrecision(callers);
        }
    }

    /** Everything one run works with; the settings are fixed, the rest changes as it trains. */
    private static final class Run implements AutoCloseable {
        TrainConfig cfg;                  // the given settings with dataset classes, image size and backbone resolved
        Path dir;
        ClassSet classes;
        int ignore;
        SegDataset trainSet, validSet;
        Preprocess pre;
        Dinov2Segmentation model;
        AdamW opt;
        DataLoader trainLoader, validLoader;
        FeatureCache trainCache, validCache;
        int stepsPerEpoch;
        LrSchedule schedule;
        Preview preview;
        // progress
        History history = new History();
        ResumeState.Best best = ResumeState.Best.none();
        int startEpoch;
        long globalStep;
        /** --accum-steps: counted pixels of the batches accumulated since the last optimizer step. */
        long accumPixels;
        ResumeState.Partial partial;      // the part of the first epoch a resumed state already trained, until it is used
        Evaluator.Result lastValid;
        long saveEveryNanos, lastSave;
        /** --cuda-graphs: replay captured steps; the captured step, once recorded. */
        boolean graphs;
        StepGraph graph;

        @Override public void close() {
            if (graph != null) graph.close();
            graph = null;
            if (trainLoader != null) trainLoader.close();
            if (validLoader != null) validLoader.close();
        }
    }

    /**
     * The sums of the epoch being trained: what a resume state within it records. The confusion
     * counts of the steps are added on the device ({@link Backend#confusionMatrix}) and read back by
     * {@link #flush} (before a resume state, at the epoch's end, and before an int32 cell could
     * overflow), so a step copies no predictions to the host.
     */
    private static final class EpochProgress implements AutoCloseable {
        final long startNanos = System.nanoTime();
        ConfusionMatrix confusion;
        double lossSum, secondsBefore;
        long pixels;
        int step;
        /** Counts [K, K] (I32) not yet in {@link #confusion}, and the labelled pixels they hold. */
        private Tensor deviceCounts;
        private long devicePixels;
        /** deviceCounts is a captured step's (zeroed after a flush, never freed here). */
        private boolean graphCounts;

        EpochProgress(int classes, ResumeState.Partial from) {
            confusion = new ConfusionMatrix(classes);
            if (from != null) {
                confusion = ConfusionMatrix.of(classes, from.confusion());
                lossSum = from.lossSum();
                pixels = from.pixels();
                secondsBefore = from.seconds();
                step = from.steps();
            }
        }

        double seconds() { return secondsBefore + (System.nanoTime() - startNanos) / 1e9; }

        double meanLoss() { return pixels == 0 ? 0 : lossSum / pixels; }

        /** The device counts to add a batch of {@code batchPixels} labels to (flushed first when a cell could overflow). */
        Tensor countsFor(Backend be, long batchPixels) {
            int k = confusion.numClasses();
            if (deviceCounts != null && devicePixels + batchPixels > Integer.MAX_VALUE) flush(be);
            if (deviceCounts == null) deviceCounts = be.zeros(Shape.of(k, k), DType.I32);
            devicePixels += batchPixels;
            return deviceCounts;
        }

        /**
         * A captured step adds a batch of {@code batchPixels} labels into its own counts tensor: the
         * counts before it are flushed first (and whenever a cell could overflow), then it is the
         * epoch's device counts.
         */
        void addGraphCounts(Backend be, Tensor counts, long batchPixels) {
            if (deviceCounts != counts || devicePixels + batchPixels > Integer.MAX_VALUE) flush(be);
            deviceCounts = counts;
            graphCounts = true;
            devicePixels += batchPixels;
        }

        /** Adds the device counts into {@link #confusion}; frees them (a captured step's: sets them to 0). */
        void flush(Backend be) {
            if (deviceCounts == null) return;
            int[] c = be.toInts(deviceCounts);
            confusion.addCounts(c);
            if (graphCounts) be.writeInts(new int[c.length], 0, deviceCounts, 0, c.length);
            close();
        }

        @Override public void close() {
            if (deviceCounts != null && !graphCounts) deviceCounts.close();
            deviceCounts = null;
            graphCounts = false;
            devicePixels = 0;
        }

        ResumeState.Partial partial(Backend be) {
            flush(be);
            return new ResumeState.Partial(step, lossSum, pixels, confusion.counts(), seconds());
        }
    }

    // ==================================================================== set-up

    /**
     * The run folder, data, model, optimizer, loaders, restored state and feature caches; writes config.json.
     * The folder is created only once the data, model and weights are set up, and what this call
     * created (folders, config.json in a folder it created) is removed again when a later step
     * fails, so a failed start leaves no empty run folder; a folder that existed is never removed.
     */
    private Run setUp() throws IOException {
        Run r = new Run();
        r.dir = Path.of(cfg.outDir());
        if (resume == null && Files.exists(r.dir.resolve(ResumeState.FILE)))
            throw new IllegalArgumentException(r.dir + ": already holds a training run (" + ResumeState.FILE + "); continue it with --resume "
                    + r.dir + " or choose another --out-dir");
        if (Files.exists(r.dir) && !Files.isDirectory(r.dir))
            throw new IllegalArgumentException(r.dir + ": is a file, not a folder (--out-dir)");
        deleteStaleTemporaries(r.dir);
        Consumer<String> log = err::println;

        // data
        DatasetSpec spec = DatasetSettings.fromJson(cfg.dataset());
        Datasets.Opened ds = Datasets.openValidated(spec, log);
        r.classes = ds.classes();
        r.trainSet = ds.train();
        r.validSet = ds.valid();
        if (r.validSet.size() == 0) throw new IllegalArgumentException(ds.root() + ": no image/mask pairs in the validation split");
        out.println(ds.describe());
        r.ignore = r.classes.ignoreIndex();

        // model and optimizer
        BackboneConfig bc = cfg.backboneConfig() != null
                ? BackboneConfig.fromJson(cfg.backbone(), cfg.backboneConfig().toString(), "config.json backbone_config")
                : BackboneConfig.parse(cfg.backbone());
        r.pre = Preprocess.of(cfg.imgWidth(), cfg.imgHeight(), bc.patch(), log);
        r.cfg = cfg.toBuilder().dataset(DatasetSettings.toJson(spec, r.classes)).imgSize(r.pre.width(), r.pre.height())
                .backboneConfig(JsonParser.parseString(bc.toJson()).getAsJsonObject()).build();
        r.model = Dinov2Segmentation.create(be, bc, r.cfg.head(), r.classes.size(), null, r.cfg.seed());
        if (resume == null) {
            if (r.cfg.weights() != null) {
                Weights.Loaded what = Weights.load(r.model, Path.of(r.cfg.weights()));
                err.println("weights: " + r.cfg.weights() + (what == Weights.Loaded.FULL_MODEL ? " (backbone and head)" : " (backbone)"));
            } else {
                err.println("warning: no --weights given: the backbone is randomly initialised (pretrained DINOv2 weights: see weights/README.md)");
            }
        }
        if (r.cfg.unfreezeLast() > bc.depth())
            throw new IllegalArgumentException("--unfreeze-last " + r.cfg.unfreezeLast() + ": the backbone " + bc.name() + " has " + bc.depth() + " blocks");
        if (r.cfg.lora() != null) r.model.enableLora(r.cfg.lora(), r.cfg.seed() + 2);   // after the base weights; a resume state then restores the adapters
        else r.model.setFineTune(r.cfg.fineTune(), r.cfg.unfreezeLast());
        r.model.backbone.setDropPath(r.cfg.dropPath());
        r.model.backbone.setCheckpointBlocks(r.cfg.checkpointBlocks());
        be.setMatmulPrecision(r.cfg.precision());   // every gemm of this run: forward, backward, validation, caches
        r.opt = new AdamW(be, ParamGroups.of(r.model, r.cfg));
        if (cudaGraphs) {
            String why = whyNoGraphs(r.cfg, be);
            if (why != null) throw new TrainConfig.InvalidSettingException(why);
            r.opt.capturable();
            r.graphs = true;
        }
        out.printf(Locale.ROOT, "model: backbone %s (embed %d, depth %d, heads %d), head %s, %d classes, %s%s; %s parameters, %s trainable%n",
                bc.name(), bc.embedDim(), bc.depth(), bc.heads(), r.cfg.head().id(), r.classes.size(),
                r.cfg.lora() != null ? loraNote(r.cfg.lora())
                        : r.cfg.fineTune() ? "fine-tuning (" + (r.cfg.unfreezeLast() > 0 ? "last " + r.cfg.unfreezeLast() + " blocks and norm, " : "")
                        + "backbone lr x" + r.cfg.backboneLrScale() + (r.cfg.layerDecay() != 1 ? ", layer decay " + r.cfg.layerDecay() : "")
                        + (r.cfg.dropPath() > 0 ? ", drop path " + r.cfg.dropPath() : "") + ")"
                        : "frozen backbone",
                r.cfg.precision() == dinoseg.backend.Precision.FP32 ? "" : ", " + r.cfg.precision().flag() + " matmuls",
                millions(r.model.parameterCount(false)), millions(r.model.parameterCount(true)));
        out.println("trainable params by group: " + ParamGroups.describe(r.opt.groups()));

        // loaders, schedule, restored state, caches
        Augment augment = Augment.of(r.cfg.augment());
        // decode-once caches (SampleCache): later epochs skip decoding; pointless when --cache-features caches the maps
        long imageCache = r.cfg.cacheFeatures() ? 0 : SampleCache.defaultBudgetBytes();
        long trainShare = imageCache == 0 ? 0 : (long) ((double) imageCache * r.trainSet.size() / (r.trainSet.size() + r.validSet.size()));
        r.trainLoader = new DataLoader(r.trainSet, loaderOptions(r, true, augment), trainShare);
        r.validLoader = new DataLoader(r.validSet, loaderOptions(r, false, Augment.none()), imageCache - trainShare);
        List<Path> created = List.of();
        Path newConfig = null;           // config.json, when this call wrote it where there was none
        try {
            r.stepsPerEpoch = r.trainLoader.batchesPerEpoch();
            // the schedule counts optimizer steps: one per --accum-steps batches, and one for a shorter group at an epoch's end
            int optimizerSteps = (r.stepsPerEpoch + r.cfg.accumSteps() - 1) / r.cfg.accumSteps();
            r.schedule = new LrSchedule(r.cfg.scheduler(), r.cfg.epochs(), optimizerSteps, r.cfg.milestones(), r.cfg.schedulerGamma(), r.cfg.warmup());
            if (resume != null) restore(r);
            created = createFolders(r.dir.resolve("valid_preds"));
            Path config = r.dir.resolve("config.json");
            boolean had = Files.exists(config);
            AtomicFiles.writeString(config, r.cfg.toJson());
            if (!had) newConfig = config;
            if (r.cfg.cacheFeatures()) buildFeatureCaches(r);
            r.preview = Preview.of(r.validSet, Math.min(Math.max(0, r.cfg.previewIndex()), r.validSet.size() - 1), r.pre, r.ignore);
            r.saveEveryNanos = r.cfg.saveEveryMin() > 0 ? (long) Math.min(Long.MAX_VALUE / 2.0, r.cfg.saveEveryMin() * 60e9) : Long.MAX_VALUE;
            r.lastSave = System.nanoTime();
            return r;
        } catch (IOException | RuntimeException | Error e) {
            r.close();
            removeCreated(created, newConfig, e);
            throw e;
        }
    }

    /** Creates {@code dir} and its missing parents; returns those it created, deepest first. */
    static List<Path> createFolders(Path dir) throws IOException {
        List<Path> missing = new java.util.ArrayList<>();
        for (Path p = dir.toAbsolutePath().normalize(); p != null && !Files.exists(p); p = p.getParent()) missing.add(p);
        Files.createDirectories(dir);
        return List.copyOf(missing);
    }

    /**
     * Undoes a failed set-up: {@code file} (a file this run created where there was none; may be
     * null), then the folders {@link #createFolders} made, deepest first, each only if empty.
     */
    private static void removeCreated(List<Path> created, Path file, Throwable failure) {
        try {
            if (file != null) Files.deleteIfExists(file);
            for (Path d : created) {
                try {
                    Files.deleteIfExists(d);
                } catch (java.nio.file.DirectoryNotEmptyException keep) {
                    break; // something else is in it: it and its parents stay
                }
            }
        } catch (IOException | RuntimeException e) {
            failure.addSuppressed(e);
        }
    }

    private static DataLoader.Options loaderOptions(Run r, boolean shuffle, Augment augment) {
        return new DataLoader.Options(r.cfg.batch(), shuffle, false, r.cfg.seed(), r.cfg.workers(), 2, augment, r.pre);
    }

    /** Loads the model, optimizer, history and best scores of the resume state, and checks its partial epoch fits the data. */
    private void restore(Run r) {
        StateDicts.loadStrict(r.model, resume.model(), resumeFile.toString());
        r.opt.loadState(resume.optimizer());
        for (History.Row row : resume.history()) r.history.add(row);
        r.best = resume.best();
        r.startEpoch = resume.epoch();
        r.globalStep = resume.globalStep();
        ResumeState.Partial p = resume.partial();
        int k = r.classes.size();
        if (p != null && (p.steps() > r.stepsPerEpoch || p.confusion().length != k * k))
            throw new IllegalArgumentException(resumeFile + ": the state stopped at step " + p.steps() + " of epoch " + (r.startEpoch + 1)
                    + " with " + (int) Math.round(Math.sqrt(p.confusion().length)) + " classes, but the data now gives " + r.stepsPerEpoch
                    + " steps per epoch and " + k + " classes (did the dataset change?)");
        r.partial = p;
        out.println("resuming " + resumeFile + ": " + r.startEpoch + " of " + r.cfg.epochs() + " epochs done"
                + (p == null ? "" : ", and " + p.steps() + " of " + r.stepsPerEpoch + " steps of epoch " + (r.startEpoch + 1)));
    }

    /** --cache-features: the frozen backbone's maps of every train and valid image, within the heap budget. */
    private void buildFeatureCaches(Run r) {
        long budget = (long) (r.cfg.cacheBudget() * PeakMemory.maxHeapBytes());
        int images = r.trainSet.size() + r.validSet.size();
        long need = FeatureCache.estimateBytes(r.model, images, r.pre.height(), r.pre.width());
        if (need > budget)
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "--cache-features: the cached maps would take %.1f MiB (%d images at %dx%d), more than %.0f%% of the maximum heap (%.1f MiB); "
                            + "drop --cache-features, use a smaller --imgsz, or raise -Xmx",
                    need / 1048576.0, images, r.pre.width(), r.pre.height(), 100 * r.cfg.cacheBudget(), PeakMemory.maxHeapBytes() / 1048576.0));
        try (DataLoader once = new DataLoader(r.trainSet, loaderOptions(r, false, Augment.none()))) {
            r.trainCache = FeatureCache.build(r.model, be, once, r.trainSet.size(), "train", budget, err, stop);
        }
        r.validCache = FeatureCache.build(r.model, be, r.validLoader, r.validSet.size(), "valid", budget - r.trainCache.bytes(), err, stop);
        out.printf(Locale.ROOT, "feature cache: %d images, %.1f MiB on the heap (budget %.1f MiB)%n",
                r.trainCache.size() + r.validCache.size(), (r.trainCache.bytes() + r.validCache.bytes()) / 1048576.0, budget / 1048576.0);
    }

    // ==================================================================== one epoch

    /**
     * Trains one epoch (from the step a resumed state stopped at: same order, same augmentation):
     * per batch forward, cross-entropy, backward, AdamW step at the scheduled lr; writes the resume
     * state every {@code save_every_min} and stops at a step boundary when asked.
     */
    private EpochProgress trainEpoch(Run r, int epoch) throws IOException {
        r.model.train(true);
        EpochProgress p = new EpochProgress(r.classes.size(), r.partial);
        r.partial = null;
        int batch = r.cfg.batch();
        Iterator<FeedBatch> batches = r.trainCache != null
                ? r.trainCache.batches(from(r.trainLoader.order(epoch - 1), p.step * batch), batch)
                : map(r.trainLoader.epoch(epoch - 1, p.step));
        try (ProgressBar bar = new ProgressBar(err, "train", r.stepsPerEpoch); EpochProgress counts = p) {
            bar.resumeAt(p.step);
            PendingLoss pending = null;
            while (true) {
                // a step boundary: stop here when asked, with the state of the steps done (with --accum-steps: an
                // optimizer-step boundary, since accumulated gradients are not part of the state)
                if (stop.requested() && atOptimizerStep(r, p.step)) {
                    settle(r, p, pending, epoch);
                    throw stopped(r, epoch, p.step, capture(r, epoch - 1, p.partial(be)));
                }
                if (!batches.hasNext()) break;
                FeedBatch fb = batches.next();
                p.step++;
                PendingLoss queued = new PendingLoss(trainStep(r, fb, p, epoch), fb.counted(r.classes.size(), r.ignore), p.step, r.opt.lr(0));
                // the step before's loss: on a GPU read while this step runs (a non-finite one ends the run here)
                settle(r, p, pending, epoch);
                pending = queued;
                bar.step(String.format(Locale.ROOT, "loss %.4f", p.meanLoss()));
                listener.stepEnd(epoch, p.step);
                if (System.nanoTime() - r.lastSave >= r.saveEveryNanos && p.step < r.stepsPerEpoch && !stop.requested()
                        && atOptimizerStep(r, p.step)) {
                    // --save-every-min: a long epoch is not lost to a reboot
                    settle(r, p, pending, epoch);
                    pending = null;
                    capture(r, epoch - 1, p.partial(be)).write(r.dir.resolve(ResumeState.FILE));
                    r.lastSave = System.nanoTime();
                }
            }
            settle(r, p, pending, epoch);
            p.flush(be);   // the epoch's counts, for validate and the history row
        }
        return p;
    }

    /** A queued step's loss on its way to the host (Backend.readLater), the pixels it counts, its step and lr. */
    private record PendingLoss(Backend.PendingRead loss, long counted, int step, double lr) { }

    /** Adds a queued step's loss to the epoch's sums once it has arrived; a NaN or infinite one ends the run. */
    private void settle(Run r, EpochProgress p, PendingLoss s, int epoch) {
        if (s == null) return;
        double l = s.loss().get()[0];
        if (!Double.isFinite(l)) throw diverged(r, "training", l, epoch, s.step(), s.lr());
        p.lossSum += l * s.counted();
        p.pixels += s.counted();
    }

    /** After the first epoch: what the decode-once caches hold (the heap they take), when they are on. */
    private void describeImageCache(Run r) {
        if (r.trainLoader == null || r.trainLoader.cache() == null) return;
        SampleCache t = r.trainLoader.cache(), v = r.validLoader == null ? null : r.validLoader.cache();
        int n = t.size() + (v == null ? 0 : v.size()), refused = t.refused() + (v == null ? 0 : v.refused());
        long bytes = t.bytes() + (v == null ? 0 : v.bytes()), budget = t.budget() + (v == null ? 0 : v.budget());
        out.printf(Locale.ROOT, "image cache: %d images kept decoded for the next epochs, %.1f MiB of the heap (budget %.1f MiB%s;"
                        + " java -Ddinoseg.imageCacheMiB=N -jar ... sets it, 0 turns it off)%n",
                n, bytes / 1048576.0, budget / 1048576.0, refused > 0 ? ", " + refused + " did not fit" : "");
    }

    /** The drop-path masks' key of a training step (epoch and step 1-based): the same step of a resumed run draws the same masks. */
    static long dropPathKey(long seed, int epoch, int step) {
        return Block.mix(Block.mix(Block.mix(seed) + epoch) + step);
    }

    /** Whether {@code step} batches of an epoch end an optimizer step (every batch unless --accum-steps; the epoch's last batch does). */
    private static boolean atOptimizerStep(Run r, int step) {
        return step % r.cfg.accumSteps() == 0 || step >= r.stepsPerEpoch;
    }

    /**
     * One optimizer step on {@code fb}; adds its predictions to the epoch's confusion matrix (on the
     * device) and returns its mean loss on its way to the host. The read is queued after the whole
     * step, and {@link #trainEpoch} takes it once the next step is queued, so on a GPU the host never
     * waits inside a step nor between steps; a NaN or infinite loss then ends the run after the next
     * step (no checkpoint is written from either).
     */
    private Backend.PendingRead trainStep(Run r, FeedBatch fb, EpochProgress p, int epoch) {
        r.opt.scaleBaseLrs(r.schedule.factor(r.globalStep));
        // --cuda-graphs: once the optimizer has its moments, full batches replay one captured step
        if (r.graphs && r.opt.stepCount() > 0 && fb.n() == r.cfg.batch() && (r.graph == null || r.graph.takes(fb)))
            return replayStep(r, fb, p, epoch);
        boolean accumulate = r.cfg.accumSteps() > 1, stepNow = atOptimizerStep(r, p.step);
        // one scope per step: the tape frees activations during backward, the scope the rest
        if (r.cfg.dropPath() > 0) r.model.backbone.setDropPathKey(dropPathKey(r.cfg.seed(), epoch, p.step));
        try (Ops ops = new Ops(be); Tensor labels = fb.labelTensor(be); Tensor lossCopy = be.empty(Shape.scalar())) {
            Var features = fb.headInput(r.model, ops);
            Tensor counts = p.countsFor(be, (long) fb.n() * fb.h() * fb.w());
            Var loss = loss(r, ops, features, fb.h(), fb.w(), labels, counts, lossCopy);
            if (accumulate) {
                // --accum-steps: the gradient of the summed pixel losses, divided by the group's pixels at its step
                long counted = fb.counted(r.classes.size(), r.ignore);
                r.accumPixels += counted;
                ops.backward(ops.scale(loss, (float) counted));
            } else {
                ops.backward(loss);
            }
            if (stepNow) {
                if (accumulate && r.accumPixels > 0) r.opt.scaleGrads(1.0 / r.accumPixels);
                r.accumPixels = 0;
                if (r.cfg.clipGrad() > 0) r.opt.clipGradNorm(r.cfg.clipGrad());   // --clip-grad, as clip_grad_norm_
                r.opt.step();
                r.opt.zeroGrad();
                r.globalStep++;
            }
            return be.readLater(lossCopy);   // queued after the step: lossCopy may be freed now
        }
    }

    /**
     * The head on {@code features} (released), the loss on the upsampled logits, which also add to
     * {@code counts} and are not kept for the backward, and a copy of the loss into {@code lossCopy}
     * (read once the step is queued: the backward frees the loss).
     */
    private Var loss(Run r, Ops ops, Var features, int h, int w, Tensor labels, Tensor counts, Tensor lossCopy) {
        Var grid = r.model.head.forward(ops, features);
        ops.release(features);
        Var loss = ops.crossEntropyUpsampled(grid, h, w, labels, null, r.ignore,
                up -> be.confusionMatrix(up, labels, r.ignore, counts));
        ops.release(grid);
        be.copy(loss.value(), lossCopy);
        return loss;
    }

    /**
     * One step of --cuda-graphs: on the first call records the step (forward, loss, backward, the
     * optimizer's update, all on fixed tensors; nothing runs while recording), then writes the
     * batch into the step's inputs and the optimizer's scalars to the device, replays the graph
     * and reads the loss.
     */
    private Backend.PendingRead replayStep(Run r, FeedBatch fb, EpochProgress p, int epoch) {
        if (r.graph == null) {
            boolean cached = fb.features() != null;
            r.graph = StepGraph.capture(be, fb, r.classes.size(), (input, labels, counts, lossCopy) -> {
                try (Ops ops = new Ops(be)) {
                    Var loss = loss(r, ops, FeedBatch.headInput(r.model, ops, input, cached), fb.h(), fb.w(), labels, counts, lossCopy);
                    ops.backward(loss);
                    r.opt.captureUpdate();
                    r.opt.zeroGrad();
                }
            });
            err.printf(Locale.ROOT, "cuda graphs: one training step recorded (%d nodes); full batches replay it%n", r.graph.nodes());
        }
        p.addGraphCounts(be, r.graph.counts, (long) fb.n() * fb.h() * fb.w());
        r.opt.advance();
        r.graph.replay(be, fb);
        r.globalStep++;
        return be.readLater(r.graph.loss);   // copied before the next replay rewrites it
    }

    /**
     * Scores the model on the validation split and returns the epoch's history row (a stop here
     * keeps the trained epoch: the resumed run validates it); prints both lines of the epoch.
     */
    private History.Row validate(Run r, int epoch, EpochProgress p) throws IOException {
        double lrUsed = r.opt.lr(0);
        Iterator<FeedBatch> vb = r.validCache != null ? r.validCache.batches(r.cfg.batch()) : map(r.validLoader.epoch(0));
        Evaluator.Result valid;
        try {
            valid = Evaluator.evaluate(r.model, be, vb, r.validLoader.batchesPerEpoch(), r.ignore, err, "valid", stop);
        } catch (Stop.Stopped e) {
            throw stopped(r, epoch, p.step, capture(r, epoch - 1, p.partial(be)));
        }
        if (!Double.isFinite(valid.loss())) throw diverged(r, "validation", valid.loss(), epoch, r.stepsPerEpoch, lrUsed);
        r.lastValid = valid;
        if (p.confusion.total() == 0)   // data check refuses such a dataset; a training run must not save checkpoints that learnt nothing
            throw new IllegalArgumentException("train: the training masks have no pixel of a known class in epoch " + epoch
                    + " (every pixel is ignored: wrong --classes or --mask-format?); nothing can be learnt");
        double seconds = p.seconds();
        History.Row row = new History.Row(epoch, p.meanLoss(), p.confusion.pixelAccuracy(), p.confusion.meanIou(),
                valid.loss(), valid.pixelAccuracy(), valid.miou(), lrUsed, seconds);
        r.history.add(row);
        out.printf(Locale.ROOT, "Train: loss %.4f  pixacc %.4f  mIoU %.4f  (%.1f s)%n", row.trainLoss(), row.trainPixAcc(), row.trainMiou(), seconds);
        // validation scores at the training size (image and mask resized); `dinoseg eval` scores at each annotation's own size
        out.printf(Locale.ROOT, "Valid: loss %.4f  pixacc %.4f  mIoU %.4f  (at %dx%d, the training size)%n", row.validLoss(),
                row.validPixAcc(), row.validMiou(), r.cfg.imgWidth(), r.cfg.imgHeight());
        return row;
    }

    /**
     * The epoch's files, checkpoints first and then the state that says they exist: best models,
     * metrics.csv, the curves, the preview, last_state.safetensors; prints the next epoch's lr.
     */
    private void writeEpoch(Run r, int epoch, History.Row row) throws IOException {
        JsonObject extra = checkpointConfig(r.cfg, epoch, row);
        ResumeState.Best best = r.best;
        if (row.validLoss() < best.loss()) {
            r.best = best = new ResumeState.Best(row.validLoss(), epoch, best.miou(), best.miouEpoch());
            saveModel(r, BEST_LOSS, extra);
            out.printf(Locale.ROOT, "Best validation loss: %.4f -> saved %s.safetensors (epoch %d)%n", row.validLoss(), BEST_LOSS, epoch);
        }
        if (Double.isFinite(row.validMiou()) && row.validMiou() > best.miou()) {
            r.best = new ResumeState.Best(best.loss(), best.lossEpoch(), row.validMiou(), epoch);
            saveModel(r, BEST_IOU, extra);
            out.printf(Locale.ROOT, "Best validation mIoU: %.4f -> saved %s.safetensors (epoch %d)%n", row.validMiou(), BEST_IOU, epoch);
        }
        r.history.write(r.dir.resolve("metrics.csv"));
        Plots.curves(r.history, r.dir);
        r.preview.write(r.model, be, r.classes, r.dir.resolve("valid_preds").resolve(String.format(Locale.ROOT, "epoch_%03d.png", epoch)));
        capture(r, epoch, null).write(r.dir.resolve(ResumeState.FILE));
        r.lastSave = System.nanoTime();
        if (epoch < r.cfg.epochs()) {
            double f = r.schedule.factor(r.globalStep);
            StringBuilder lr = new StringBuilder(String.format(Locale.ROOT, "LR for next epoch: %.4g", r.cfg.lr() * f));
            if (r.cfg.fineTune()) lr.append(String.format(Locale.ROOT, " (backbone %.4g)", r.cfg.lr() * r.cfg.backboneLrScale() * f));
            out.println(lr);
        }
        out.flush();
    }

    // ==================================================================== the end

    /** The final model, the per-class IoU and confusion charts, and the summary lines. */
    private Result finish(Run r, long t0) throws IOException {
        Evaluator.Result last = r.lastValid;
        if (last == null) throw new IllegalStateException("no epoch ran");
        List<History.Row> rows = r.history.rows();
        saveModel(r, FINAL, checkpointConfig(r.cfg, r.cfg.epochs(), rows.get(rows.size() - 1)));
        String[] names = r.classes.names().toArray(new String[0]);
        Plots.perClassIou(names, last.confusion().iou(), r.dir.resolve("per_class_iou.png"));
        Plots.confusion(names, last.confusion().toArray(), r.dir.resolve("confusion_matrix.png"));
        double secs = (System.nanoTime() - t0) / 1e9;
        ResumeState.Best best = r.best;
        out.println();
        out.printf(Locale.ROOT, "Done in %s: final valid mIoU %.4f, pixacc %.4f; best valid loss %.4f (epoch %d), best valid mIoU %.4f (epoch %d)%n",
                ProgressBar.clock(secs), last.miou(), last.pixelAccuracy(), best.loss(), best.lossEpoch(), best.miou(), best.miouEpoch());
        printPerClass(out, names, last.confusion().iou());
        out.println("Outputs in " + r.dir);
        return new Result(r.dir, rows, best, last, secs, r.classes);
    }

    /** Per-class IoU lines. */
    public static void printPerClass(PrintWriter out, String[] names, double[] iou) {
        int wdt = 5;
        for (String n : names) wdt = Math.max(wdt, n.length());
        for (int i = 0; i < names.length; i++)
            out.printf(Locale.ROOT, "  %-" + wdt + "s  %s%n", names[i], Double.isNaN(iou[i]) ? "   n/a (absent)" : String.format(Locale.ROOT, "%.4f", iou[i]));
    }

    /** The state of the run after {@code epoch} epochs and {@code partial} of the next (null: none). */
    private static ResumeState capture(Run r, int epoch, ResumeState.Partial partial) {
        return ResumeState.capture(r.cfg, epoch, r.globalStep, r.opt, r.model, r.best, r.history, partial);
    }

    /** The metadata of a checkpoint: the epoch, its validation scores, the settings and what rebuilds its backbone. */
    private static JsonObject checkpointConfig(TrainConfig cfg, int epoch, History.Row row) {
        JsonObject o = new JsonObject();
        o.addProperty("epoch", epoch);
        o.addProperty("valid_loss", row.validLoss());
        o.addProperty("valid_miou", row.validMiou());
        o.addProperty("valid_pixacc", row.validPixAcc());
        o.add("train_config", cfg.toJsonObject());
        // what a head-only file needs to rebuild its backbone: the weights it was trained on, or the seed of a random one
        if (cfg.weights() != null) o.addProperty("backbone_weights", Path.of(cfg.weights()).toAbsolutePath().toString());
        else o.add("backbone_weights", com.google.gson.JsonNull.INSTANCE);
        o.addProperty("seed", cfg.seed());
        return o;
    }

    /** The header's words for a LoRA run. */
    static String loraNote(dinoseg.model.Lora l) {
        return String.format(Locale.ROOT, "LoRA r=%d alpha=%s on %s (base backbone frozen)", l.rank(), (l.alpha() == Math.rint(l.alpha()) ? Long.toString((long) l.alpha()) : Double.toString(l.alpha())), String.join(",", l.targets()));
    }

    /** The adapter file of a LoRA run ({@code lora.safetensors}), written with the final model. */
    public static final String LORA_FILE = "lora.safetensors";

    /**
     * Writes a model checkpoint (a LoRA model with its adapters merged, so infer and eval load it as
     * any other), its head-only twin for a frozen backbone, and for a LoRA run the adapters alone next
     * to it ({@code <name>_lora.safetensors}; with the final model also {@value #LORA_FILE}).
     */
    private void saveModel(Run r, String name, JsonObject extra) throws IOException {
        int w = r.cfg.imgWidth(), h = r.cfg.imgHeight();
        ModelCheckpoint.save(r.dir.resolve(name + ".safetensors"), r.model, r.classes, w, h, extra, false);
        if (r.cfg.lora() != null) {
            String bb = r.model.backbone.cfg.name();
            LoraFiles.save(r.dir.resolve(name + "_lora.safetensors"), r.model.backbone, r.cfg.lora(), bb);
            if (name.equals(FINAL)) LoraFiles.save(r.dir.resolve(LORA_FILE), r.model.backbone, r.cfg.lora(), bb);
            return;   // the backbone changed: a head-only file would not restore it
        }
        // a head-only file restores the model only when the backbone is the one it started from (frozen)
        if (!r.cfg.fineTune())
            ModelCheckpoint.save(r.dir.resolve(name + "_head.safetensors"), r.model, r.classes, w, h, extra, true);
    }

    /** Writes {@code state} (when not null: it is already written otherwise) and says where the run stopped and how to resume it. */
    private Stop.Stopped stopped(Run r, int epoch, int step, ResumeState state) throws IOException {
        Path file = r.dir.resolve(ResumeState.FILE);
        if (state != null) state.write(file);
        out.flush();
        int epochs = r.cfg.epochs(), steps = r.stepsPerEpoch;
        String where = step == 0 ? "before epoch " + epoch + " of " + epochs
                : step >= steps ? "at epoch " + epoch + " of " + epochs + " after its " + steps + " training steps (before validation)"
                : "at epoch " + epoch + " of " + epochs + ", step " + step + " of " + steps;
        String d = r.dir.toString();
        if (d.matches(".*[\\s'\"$`\\\\].*")) d = "'" + d.replace("'", "'\\''") + "'";
        return stop.stopped(where + "; state saved in " + file + "; resume with: " + launcher + " train --resume " + d);
    }

    /** The tail of an epoch's order from position {@code from} (the batches still to train). */
    private static int[] from(int[] order, int from) {
        return java.util.Arrays.copyOfRange(order, Math.min(from, order.length), order.length);
    }

    /**
     * Removes temporary files a killed run left in its folder (hidden {@code .*.tmp} siblings of
     * atomic writes); the files they were to replace are whole.
     */
    private static void deleteStaleTemporaries(Path dir) throws IOException {
        for (Path d : List.of(dir, dir.resolve("valid_preds"))) {
            if (!Files.isDirectory(d)) continue;
            try (var files = Files.list(d)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    String n = f.getFileName().toString();
                    if (n.startsWith(".") && n.endsWith(".tmp") && Files.isRegularFile(f)) Files.deleteIfExists(f);
                }
            }
        }
    }

    private static DivergedException diverged(Run r, String phase, double loss, int epoch, int step, double lr) {
        String what = Double.isNaN(loss) ? "NaN" : "infinite";
        List<History.Row> rows = r.history.rows();
        int lastGood = rows.isEmpty() ? 0 : rows.get(rows.size() - 1).epoch();
        String ckpt = lastGood > 0
                ? "the last good checkpoint stays: " + r.dir.resolve(ResumeState.FILE) + " and the best models (epoch " + lastGood + ")"
                : "no checkpoint was written (it diverged in the first epoch)";
        return new DivergedException(String.format(Locale.ROOT,
                "training stopped: the %s loss is %s at epoch %d, step %d of %d (lr %.3g); %s; try a lower --lr",
                phase, what, epoch, step, r.stepsPerEpoch, lr, ckpt));
    }


    private static Iterator<FeedBatch> map(Iterator<Batch> it) {
        return new Iterator<>() {
            @Override public boolean hasNext() { return it.hasNext(); }

            @Override public FeedBatch next() { return FeedBatch.of(it.next()); }
        };
    }

    /** The validation image drawn every epoch: image, ground truth, prediction. */
    record Preview(float[] image, int[] labels, int h, int w) {
        static Preview of(SegDataset valid, int index, Preprocess pre, int ignore) {
            SegDataset.Item item = valid.load(index);
            float[] img = new float[3 * pre.width() * pre.height()];
            int[] lab = new int[pre.width() * pre.height()];
            pre.apply(item.image(), item.mask().labels(), ignore, Augment.none(), new SplittableRandom(0), img, 0, lab, 0);
            return new Preview(img, lab, pre.height(), pre.width());
        }

        @SuppressWarnings("try") // the no-grad scope is used for its effect, not referenced
        void write(Dinov2Segmentation model, Backend be, ClassSet classes, Path file) throws IOException {
            boolean was = model.isTraining();
            model.train(false);
            int[] pred;
            try (Ops ops = new Ops(be); var s = ops.noGrad(); Tensor p = be.empty(Shape.of(1, h, w), DType.I32)) {
                Var logits = model.forward(ops, ops.constant(be.fromFloats(image, Shape.of(1, 3, h, w))));
                be.argmax(logits.value(), p);
                pred = be.toInts(p);
            } finally {
                model.train(was);
            }
            int[] colours = new int[classes.size()];
            for (int i = 0; i < colours.length; i++) colours[i] = classes.color(i);
            Overlay.writePng(Overlay.triptych(image, 0, labels, pred, h, w, colours, 0.5), file);
        }
    }

    /** A parameter count as people write it: "22.06M" from a million on, else the count itself ("260", "32,277"). */
    static String millions(long n) {
        return n >= 1_000_000 ? String.format(Locale.ROOT, "%.2fM", n / 1e6) : String.format(Locale.ROOT, "%,d", n);
    }
}
