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
import dinoseg.data.SegDataset;
import dinoseg.checkpoint.ModelCheckpoint;
import dinoseg.checkpoint.StateDicts;
import dinoseg.checkpoint.Weights;
import dinoseg.io.AtomicFiles;
import dinoseg.io.Stop;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.SegmentationHead;
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

    /** A fresh run. */
    public Trainer(TrainConfig cfg, Backend be, PrintWriter out, PrintWriter err) {
        this(cfg.copy().validate(), be, out, err, null, null);
    }

    private Trainer(TrainConfig cfg, Backend be, PrintWriter out, PrintWriter err, ResumeState resume, Path resumeFile) {
        if (cfg.outDir == null) throw new IllegalArgumentException("training needs an output folder (--out-dir)");
        this.cfg = cfg;
        this.be = be;
        this.out = out;
        this.err = err;
        this.resume = resume;
        this.resumeFile = resumeFile;
    }

    /**
     * Continues a run from its {@code last_state.safetensors} (or the run folder holding it), in
     * that folder, with its settings. {@code epochs}, when not null, sets a new total (to train
     * further); a changed total changes poly and cosine schedules from there on.
     */
    public static Trainer resume(Path stateOrDir, Integer epochs, Backend be, PrintWriter out, PrintWriter err) {
        Path file = Files.isDirectory(stateOrDir) ? stateOrDir.resolve(ResumeState.FILE) : stateOrDir;
        ResumeState st = ResumeState.read(file);
        TrainConfig cfg = st.config().copy();
        cfg.outDir = file.toAbsolutePath().getParent().toString();
        if (epochs != null && epochs != cfg.epochs) {
            if (!cfg.scheduler.equals("none") && !cfg.scheduler.equals("multistep"))
                err.println("note: --epochs changes the " + cfg.scheduler + " schedule from epoch " + (st.epoch() + 1) + " on");
            cfg.epochs = epochs;
        }
        cfg.validate();
        if (st.epoch() >= cfg.epochs)
            throw new IllegalArgumentException(file + ": the run already finished its " + cfg.epochs + " epochs; pass --epochs N (> "
                    + st.epoch() + ") to train further");
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

    /** The settings in use (validated, paths and sizes resolved once {@link #run} has started). */
    public TrainConfig config() { return cfg; }

    public Result run() throws IOException {
        long t0 = System.nanoTime();
        Path dir = Path.of(cfg.outDir);
        if (resume == null && Files.exists(dir.resolve(ResumeState.FILE)))
            throw new IllegalArgumentException(dir + ": already holds a training run (" + ResumeState.FILE + "); continue it with --resume "
                    + dir + " or choose another --out-dir");
        Files.createDirectories(dir.resolve("valid_preds"));
        deleteStaleTemporaries(dir);
        Consumer<String> log = err::println;

        // ---------------------------------------------------------------- data
        DatasetSpec spec = DatasetSettings.fromJson(cfg.dataset);
        Datasets.Opened ds = Datasets.openValidated(spec, log);
        ClassSet classes = ds.classes();
        SegDataset trainSet = ds.train(), validSet = ds.valid();
        if (validSet.size() == 0) throw new IllegalArgumentException(ds.root() + ": no image/mask pairs in the validation split");
        cfg.dataset = DatasetSettings.toJson(spec, classes);
        out.println(ds.describe());
        Preprocess pre = Preprocess.of(cfg.imgWidth, cfg.imgHeight, log);
        cfg.imgWidth = pre.width();
        cfg.imgHeight = pre.height();
        int ignore = classes.ignoreIndex();

        // ---------------------------------------------------------------- model
        BackboneConfig bc = cfg.backboneConfig != null
                ? BackboneConfig.fromJson(cfg.backbone, cfg.backboneConfig.toString(), "config.json backbone_config")
                : BackboneConfig.parse(cfg.backbone);
        cfg.backboneConfig = JsonParser.parseString(bc.toJson()).getAsJsonObject();
        Dinov2Segmentation model = Dinov2Segmentation.create(be, bc, SegmentationHead.Kind.parse(cfg.head), classes.size(), null, cfg.seed);
        if (resume == null) {
            if (cfg.weights != null) {
                Weights.Loaded what = Weights.load(model, Path.of(cfg.weights));
                err.println("weights: " + cfg.weights + (what == Weights.Loaded.FULL_MODEL ? " (backbone and head)" : " (backbone)"));
            } else {
                err.println("warning: no --weights given: the backbone is randomly initialised (pretrained DINOv2 weights: see weights/README.md)");
            }
        }
        model.setFineTune(cfg.fineTune);
        AdamW opt = new AdamW(be, ParamGroups.of(model, cfg));
        out.printf(Locale.ROOT, "model: backbone %s (embed %d, depth %d, heads %d), head %s, %d classes, %s; %.2fM parameters, %.3fM trainable%n",
                bc.name(), bc.embedDim(), bc.depth(), bc.heads(), cfg.head, classes.size(),
                cfg.fineTune ? "fine-tuning (backbone lr x" + cfg.backboneLrScale + ")" : "frozen backbone",
                model.parameterCount(false) / 1e6, model.parameterCount(true) / 1e6);

        // ---------------------------------------------------------------- loaders, schedule, state
        Augment augment = Augment.of(Augment.Mode.parse(cfg.augment));
        DataLoader trainLoader = new DataLoader(trainSet, new DataLoader.Options(cfg.batch, true, false, cfg.seed, cfg.workers, 2, augment, pre));
        DataLoader validLoader = new DataLoader(validSet, new DataLoader.Options(cfg.batch, false, false, cfg.seed, cfg.workers, 2, Augment.none(), pre));
        try {
            int stepsPerEpoch = trainLoader.batchesPerEpoch();
            LrSchedule schedule = new LrSchedule(LrSchedule.Kind.parse(cfg.scheduler), cfg.epochs, stepsPerEpoch,
                    cfg.schedulerEpochs, cfg.schedulerGamma, cfg.warmup);
            History history = new History();
            ResumeState.Best best = ResumeState.Best.none();
            int startEpoch = 0;
            long globalStep = 0;
            if (resume != null) {
                StateDicts.loadStrict(model, resume.model(), resumeFile.toString());
                opt.loadState(resume.optimizer());
                for (History.Row r : resume.history()) history.add(r);
                best = resume.best();
                startEpoch = resume.epoch();
                globalStep = resume.globalStep();
                ResumeState.Partial p = resume.partial();
                if (p != null && (p.steps() > stepsPerEpoch || p.confusion().length != classes.size() * classes.size()))
                    throw new IllegalArgumentException(resumeFile + ": the state stopped at step " + p.steps() + " of epoch " + (startEpoch + 1)
                            + " with " + (int) Math.round(Math.sqrt(p.confusion().length)) + " classes, but the data now gives " + stepsPerEpoch
                            + " steps per epoch and " + classes.size() + " classes (did the dataset change?)");
                out.println("resuming " + resumeFile + ": " + startEpoch + " of " + cfg.epochs + " epochs done"
                        + (p == null ? "" : ", and " + p.steps() + " of " + stepsPerEpoch + " steps of epoch " + (startEpoch + 1)));
            }
            AtomicFiles.writeString(dir.resolve("config.json"), cfg.toJson());

            FeatureCache trainCache = null, validCache = null;
            if (cfg.cacheFeatures) {
                long budget = (long) (cfg.cacheBudget * PeakMemory.maxHeapBytes());
                long need = FeatureCache.estimateBytes(model, trainSet.size() + validSet.size(), pre.height(), pre.width());
                if (need > budget)
                    throw new IllegalArgumentException(String.format(Locale.ROOT,
                            "--cache-features: the cached maps would take %.1f MiB (%d images at %dx%d), more than %.0f%% of the maximum heap (%.1f MiB); "
                                    + "drop --cache-features, use a smaller --imgsz, or raise -Xmx",
                            need / 1048576.0, trainSet.size() + validSet.size(), pre.width(), pre.height(),
                            100 * cfg.cacheBudget, PeakMemory.maxHeapBytes() / 1048576.0));
                DataLoader once = new DataLoader(trainSet, new DataLoader.Options(cfg.batch, false, false, cfg.seed, cfg.workers, 2, Augment.none(), pre));
                try {
                    trainCache = FeatureCache.build(model, be, once, trainSet.size(), "train", budget, err, stop);
                } finally {
                    once.close();
                }
                validCache = FeatureCache.build(model, be, validLoader, validSet.size(), "valid", budget - trainCache.bytes(), err, stop);
                out.printf(Locale.ROOT, "feature cache: %d images, %.1f MiB on the heap (budget %.1f MiB)%n",
                        trainCache.size() + validCache.size(), (trainCache.bytes() + validCache.bytes()) / 1048576.0, budget / 1048576.0);
            }
            Preview preview = Preview.of(validSet, Math.min(Math.max(0, cfg.previewIndex), validSet.size() - 1), pre, ignore);

            Evaluator.Result lastValid = null;
            long saveEvery = cfg.saveEveryMin > 0 ? (long) Math.min(Long.MAX_VALUE / 2.0, cfg.saveEveryMin * 60e9) : Long.MAX_VALUE;
            long lastSave = System.nanoTime();
            ResumeState.Partial partial = resume == null ? null : resume.partial();
            for (int epoch = startEpoch + 1; epoch <= cfg.epochs; epoch++) {
                long te = System.nanoTime();
                out.println();
                out.println("Epoch " + epoch + "/" + cfg.epochs);
                // ---- train (from the step a resumed state stopped at: same order, same augmentation)
                model.train(true);
                ConfusionMatrix trainCm = new ConfusionMatrix(classes.size());
                double lossSum = 0, secondsBefore = 0;
                long pixels = 0;
                int step = 0;
                if (partial != null) {
                    trainCm = ConfusionMatrix.of(classes.size(), partial.confusion());
                    lossSum = partial.lossSum();
                    pixels = partial.pixels();
                    secondsBefore = partial.seconds();
                    step = partial.steps();
                    partial = null;
                }
                Iterator<FeedBatch> batches = trainCache != null
                        ? trainCache.batches(from(trainLoader.order(epoch - 1), step * cfg.batch), cfg.batch)
                        : map(trainLoader.epoch(epoch - 1, step));
                try (ProgressBar bar = new ProgressBar(err, "train", stepsPerEpoch)) {
                    bar.resumeAt(step);
                    while (true) {
                        // a step boundary: stop here when asked, with the state of the steps done
                        if (stop.requested())
                            throw stopped(dir, epoch, step, stepsPerEpoch, ResumeState.capture(cfg, epoch - 1, globalStep, opt, model, best, history,
                                    new ResumeState.Partial(step, lossSum, pixels, trainCm.counts(), secondsBefore + (System.nanoTime() - te) / 1e9)));
                        if (!batches.hasNext()) break;
                        FeedBatch fb = batches.next();
                        step++;
                        opt.scaleBaseLrs(schedule.factor(globalStep));
                        Ops ops = new Ops(be);
                        Var logits = FeedBatch.logits(model, ops, fb.headInput(model, ops), fb.h(), fb.w());
                        Tensor labels = fb.labelTensor(be);
                        Var loss = ops.crossEntropy(logits, labels, null, ignore);
                        double l = be.toFloats(loss.value())[0];
                        if (!Double.isFinite(l)) {
                            ops.tape.clear();
                            throw diverged("training", l, epoch, step, stepsPerEpoch, opt.lr(0), dir, startEpoch, history);
                        }
                        ops.backward(loss);
                        opt.step();
                        opt.zeroGrad();
                        globalStep++;
                        int[] pred = argmax(logits.value(), fb);
                        trainCm.add(pred, fb.labels(), ignore);
                        long counted = fb.counted(classes.size(), ignore);
                        lossSum += l * counted;
                        pixels += counted;
                        bar.step(String.format(Locale.ROOT, "loss %.4f", pixels == 0 ? 0 : lossSum / pixels));
                        listener.stepEnd(epoch, step);
                        if (System.nanoTime() - lastSave >= saveEvery && step < stepsPerEpoch && !stop.requested()) {
                            // --save-every-min: a long epoch is not lost to a reboot
                            ResumeState.capture(cfg, epoch - 1, globalStep, opt, model, best, history,
                                    new ResumeState.Partial(step, lossSum, pixels, trainCm.counts(), secondsBefore + (System.nanoTime() - te) / 1e9))
                                    .write(dir.resolve(ResumeState.FILE));
                            lastSave = System.nanoTime();
                        }
                    }
                }
                double trainLoss = pixels == 0 ? 0 : lossSum / pixels;
                double lrUsed = opt.lr(0);
                // ---- validate (a stop here keeps the trained epoch: the resumed run validates it)
                Iterator<FeedBatch> vb = validCache != null ? validCache.batches(cfg.batch) : map(validLoader.epoch(0));
                Evaluator.Result valid;
                try {
                    valid = Evaluator.evaluate(model, be, vb, validLoader.batchesPerEpoch(), ignore, err, "valid", stop);
                } catch (Stop.Stopped e) {
                    throw stopped(dir, epoch, step, stepsPerEpoch, ResumeState.capture(cfg, epoch - 1, globalStep, opt, model, best, history,
                            new ResumeState.Partial(step, lossSum, pixels, trainCm.counts(), secondsBefore + (System.nanoTime() - te) / 1e9)));
                }
                if (!Double.isFinite(valid.loss()))
                    throw diverged("validation", valid.loss(), epoch, stepsPerEpoch, stepsPerEpoch, lrUsed, dir, startEpoch, history);
                lastValid = valid;
                double seconds = secondsBefore + (System.nanoTime() - te) / 1e9;
                History.Row row = new History.Row(epoch, trainLoss, trainCm.pixelAccuracy(), trainCm.meanIou(),
                        valid.loss(), valid.pixelAccuracy(), valid.miou(), lrUsed, seconds);
                history.add(row);
                out.printf(Locale.ROOT, "Train: loss %.4f  pixacc %.4f  mIoU %.4f  (%.1f s)%n", row.trainLoss(), row.trainPixAcc(), row.trainMiou(), seconds);
                // validation scores at the training size (image and mask resized); `dinoseg eval` scores at each annotation's own size
                out.printf(Locale.ROOT, "Valid: loss %.4f  pixacc %.4f  mIoU %.4f  (at %dx%d, the training size)%n", row.validLoss(),
                        row.validPixAcc(), row.validMiou(), cfg.imgWidth, cfg.imgHeight);

                // ---- files: checkpoints first, then the state that says they exist
                JsonObject extra = checkpointConfig(epoch, row);
                if (valid.loss() < best.loss()) {
                    best = new ResumeState.Best(valid.loss(), epoch, best.miou(), best.miouEpoch());
                    saveModel(dir, BEST_LOSS, model, classes, extra);
                    out.printf(Locale.ROOT, "Best validation loss: %.4f -> saved %s.safetensors (epoch %d)%n", valid.loss(), BEST_LOSS, epoch);
                }
                if (Double.isFinite(valid.miou()) && valid.miou() > best.miou()) {
                    best = new ResumeState.Best(best.loss(), best.lossEpoch(), valid.miou(), epoch);
                    saveModel(dir, BEST_IOU, model, classes, extra);
                    out.printf(Locale.ROOT, "Best validation mIoU: %.4f -> saved %s.safetensors (epoch %d)%n", valid.miou(), BEST_IOU, epoch);
                }
                history.write(dir.resolve("metrics.csv"));
                Plots.curves(history, dir);
                preview.write(model, be, classes, dir.resolve("valid_preds").resolve(String.format(Locale.ROOT, "epoch_%03d.png", epoch)));
                ResumeState.capture(cfg, epoch, globalStep, opt, model, best, history).write(dir.resolve(ResumeState.FILE));
                lastSave = System.nanoTime();
                if (epoch < cfg.epochs) {
                    double f = schedule.factor(globalStep);
                    StringBuilder lr = new StringBuilder(String.format(Locale.ROOT, "LR for next epoch: %.4g", cfg.lr * f));
                    if (cfg.fineTune) lr.append(String.format(Locale.ROOT, " (backbone %.4g)", cfg.lr * cfg.backboneLrScale * f));
                    out.println(lr);
                }
                out.flush();
                listener.epochEnd(epoch, model);
                if (stop.requested() && epoch < cfg.epochs) throw stopped(dir, epoch + 1, 0, stepsPerEpoch, null); // its state is written
            }

            // ---------------------------------------------------------------- the end
            if (lastValid == null) throw new IllegalStateException("no epoch ran");
            saveModel(dir, FINAL, model, classes, checkpointConfig(cfg.epochs, history.rows().get(history.rows().size() - 1)));
            String[] names = classes.names().toArray(new String[0]);
            Plots.perClassIou(names, lastValid.confusion().iou(), dir.resolve("per_class_iou.png"));
            Plots.confusion(names, lastValid.confusion().toArray(), dir.resolve("confusion_matrix.png"));
            double secs = (System.nanoTime() - t0) / 1e9;
            out.println();
            out.printf(Locale.ROOT, "Done in %s: final valid mIoU %.4f, pixacc %.4f; best valid loss %.4f (epoch %d), best valid mIoU %.4f (epoch %d)%n",
                    ProgressBar.clock(secs), lastValid.miou(), lastValid.pixelAccuracy(), best.loss(), best.lossEpoch(), best.miou(), best.miouEpoch());
            printPerClass(out, names, lastValid.confusion().iou());
            out.println("Outputs in " + dir);
            return new Result(dir, history.rows(), best, lastValid, secs, classes);
        } finally {
            trainLoader.close();
            validLoader.close();
        }
    }

    /** Per-class IoU lines. */
    public static void printPerClass(PrintWriter out, String[] names, double[] iou) {
        int wdt = 5;
        for (String n : names) wdt = Math.max(wdt, n.length());
        for (int i = 0; i < names.length; i++)
            out.printf(Locale.ROOT, "  %-" + wdt + "s  %s%n", names[i], Double.isNaN(iou[i]) ? "   n/a (absent)" : String.format(Locale.ROOT, "%.4f", iou[i]));
    }

    private JsonObject checkpointConfig(int epoch, History.Row row) {
        JsonObject o = new JsonObject();
        o.addProperty("epoch", epoch);
        o.addProperty("valid_loss", row.validLoss());
        o.addProperty("valid_miou", row.validMiou());
        o.addProperty("valid_pixacc", row.validPixAcc());
        o.add("train_config", cfg.toJsonObject());
        // what a head-only file needs to rebuild its backbone: the weights it was trained on, or the seed of a random one
        if (cfg.weights != null) o.addProperty("backbone_weights", Path.of(cfg.weights).toAbsolutePath().toString());
        else o.add("backbone_weights", com.google.gson.JsonNull.INSTANCE);
        o.addProperty("seed", cfg.seed);
        return o;
    }

    private void saveModel(Path dir, String name, Dinov2Segmentation model, ClassSet classes, JsonObject extra) throws IOException {
        ModelCheckpoint.save(dir.resolve(name + ".safetensors"), model, classes, cfg.imgWidth, cfg.imgHeight, extra, false);
        // a head-only file restores the model only when the backbone is the one it started from (frozen)
        if (!cfg.fineTune)
            ModelCheckpoint.save(dir.resolve(name + "_head.safetensors"), model, classes, cfg.imgWidth, cfg.imgHeight, extra, true);
    }

    /** Writes {@code state} (when not null: it is already written otherwise) and says where the run stopped and how to resume it. */
    private Stop.Stopped stopped(Path dir, int epoch, int step, int steps, ResumeState state) throws IOException {
        Path file = dir.resolve(ResumeState.FILE);
        if (state != null) state.write(file);
        out.flush();
        String where = step == 0 ? "before epoch " + epoch + " of " + cfg.epochs
                : step >= steps ? "at epoch " + epoch + " of " + cfg.epochs + " after its " + steps + " training steps (before validation)"
                : "at epoch " + epoch + " of " + cfg.epochs + ", step " + step + " of " + steps;
        String d = dir.toString();
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

    private DivergedException diverged(String phase, double loss, int epoch, int step, int steps, double lr, Path dir, int startEpoch,
                                       History history) {
        String what = Double.isNaN(loss) ? "NaN" : "infinite";
        int lastGood = history.rows().isEmpty() ? 0 : history.rows().get(history.rows().size() - 1).epoch();
        String ckpt = lastGood > 0
                ? "the last good checkpoint stays: " + dir.resolve(ResumeState.FILE) + " and the best models (epoch " + lastGood + ")"
                : "no checkpoint was written (it diverged in the first epoch)";
        return new DivergedException(String.format(Locale.ROOT,
                "training stopped: the %s loss is %s at epoch %d, step %d of %d (lr %.3g); %s; try a lower --lr",
                phase, what, epoch, step, steps, lr, ckpt));
    }

    private int[] argmax(Tensor logits, FeedBatch fb) {
        Tensor pred = be.empty(Shape.of(fb.n(), fb.h(), fb.w()), DType.I32);
        be.argmax(logits, pred);
        return be.toInts(pred);
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
            Ops ops = new Ops(be);
            int[] pred;
            try (var s = ops.noGrad()) {
                Var logits = model.forward(ops, Var.constant(be.fromFloats(image, Shape.of(1, 3, h, w))));
                Tensor p = be.empty(Shape.of(1, h, w), DType.I32);
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
}
