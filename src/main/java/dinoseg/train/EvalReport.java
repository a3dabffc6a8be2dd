package dinoseg.train;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import dinoseg.backend.Backend;
import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.data.ClassSet;
import dinoseg.data.ImageIOUtil;
import dinoseg.data.ImageNetNorm;
import dinoseg.data.LabelMap;
import dinoseg.data.Preprocess;
import dinoseg.data.SegDataset;
import dinoseg.infer.ModelAdapter;
import dinoseg.infer.Predictor;
import dinoseg.io.AtomicFiles;
import dinoseg.io.ProgressBar;
import dinoseg.io.Stop;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Evaluation of a model on a split, as {@code dinoseg eval} reports it: pixel accuracy, mIoU and
 * per-class IoU from one confusion matrix over the split, a per-class table, a JSON document
 * ({@code pixel_accuracy}, {@code miou}, {@code per_class_iou} by class name — null for a class
 * absent from both ground truth and prediction — and {@code confusion_matrix}, rows truth, columns
 * prediction) and a confusion-matrix PNG.
 *
 * <p>Scores are taken at each annotation's own resolution, as MMSegmentation's evaluation and the
 * DINOv2 paper's linear-probe numbers are: the image is resized to the model's input size, its
 * logits are upsampled (bilinear, align_corners=False) to the image's original size, and the argmax
 * is compared with the untouched mask; the loss is the cross-entropy of those upsampled logits.
 * (Validation during training scores at the training size instead: image and mask resized.)
 */
public record EvalReport(ClassSet classes, Evaluator.Result result, int images, int width, int height, dinoseg.backend.Precision precision) {

    /**
     * Evaluates {@code split}: the model sees each image resized to w x h (each rounded up to a multiple
     * of the backbone's patch size, with a notice on {@code progress}); scores are at the
     * annotation's resolution (class notes). Up to {@code batch} images are decoded ahead by
     * {@code workers} threads (0: all cores).
     */
    public static EvalReport run(Dinov2Segmentation model, ClassSet classes, SegDataset split, int w, int h, int batch, int workers,
                                 Backend be, PrintWriter progress) {
        return run(model, classes, split, w, h, batch, workers, be, progress, Stop.process());
    }

    /**
     * As above, polling {@code stop} between images: a requested stop ends the run with
     * {@link Stop.Stopped} (nothing is returned or written).
     */
    public static EvalReport run(Dinov2Segmentation model, ClassSet classes, SegDataset split, int w, int h, int batch, int workers,
                                 Backend be, PrintWriter progress, Stop stop) {
        return run(model, classes, split, w, h, null, batch, workers, be, progress, stop);
    }

    /**
     * As above with predictor settings: {@code settings} null is plain inference at w x h (rounded
     * up to the patch size); otherwise the images are predicted with those settings (e.g. an
     * official model's short side, scales, flips and sliding window), w and h being only reported.
     * With several views the scores are averaged probabilities, and the loss is the mean of
     * -ln p(true class) over the counted pixels.
     */
    @SuppressWarnings("try") // the no-grad scope is used for its effect
    public static EvalReport run(Dinov2Segmentation model, ClassSet classes, SegDataset split, int w, int h, Predictor.Options settings,
                                 int batch, int workers, Backend be, PrintWriter progress, Stop stop) {
        if (model.numClasses() != classes.size())
            throw new IllegalArgumentException("the model predicts " + model.numClasses() + " classes but the class set has " + classes.size());
        if (split.size() == 0) throw new IllegalArgumentException("the " + split.name() + " split has no image/mask pairs");
        Preprocess pre = settings != null && settings.shortSide() > 0 ? null : Preprocess.of(w, h, model.backbone.patch(), progress == null ? null : progress::println);
        int k = classes.size(), ignore = classes.ignoreIndex();
        Predictor.Options opts = settings == null ? Predictor.Options.plain(pre.width(), pre.height())
                : pre == null ? settings : new Predictor.Options(pre.width(), pre.height(), settings.scales(), settings.flip(),
                        settings.slideCrop(), settings.slideStride(), 0);
        Predictor predictor = new Predictor(be, new ModelAdapter(be, model), opts);
        ConfusionMatrix cm = new ConfusionMatrix(k);
        double lossSum = 0;
        long pixels = 0;
        int threads = workers > 0 ? workers : Runtime.getRuntime().availableProcessors();
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "dinoseg-eval-loader");
            t.setDaemon(true);
            return t;
        });
        ProgressBar bar = progress == null ? null : new ProgressBar(progress, "eval", split.size());
        try {
            ArrayDeque<Future<SegDataset.Item>> ahead = new ArrayDeque<>();
            int next = 0, window = Math.max(1, Math.max(batch, threads));
            for (int i = 0; i < split.size(); i++) {
                if (stop.requested())   // SIGINT/SIGTERM: between images, nothing written
                    throw stop.stopped("after " + i + " of " + split.size() + " " + split.name() + " images; no report written");
                while (next < split.size() && ahead.size() < window) {
                    int j = next++;
                    ahead.add(pool.submit(() -> split.load(j)));
                }
                SegDataset.Item item = get(ahead.poll());
                LabelMap truth = item.mask();
                int w0 = truth.width(), h0 = truth.height();
                float[] chw = new float[3 * w0 * h0];
                ImageNetNorm.normalise(item.image(), chw, 0);
                try (Tensor scores = predictor.scores(chw, w0, h0);
                     Tensor labels = be.fromInts(truth.labels(), Shape.of(1, h0, w0));
                     Tensor pred = be.empty(Shape.of(1, h0, w0), DType.I32)) {
                    long counted = 0;
                    for (int l : truth.labels()) if (l != ignore && l >= 0 && l < k) counted++;
                    if (counted > 0 && opts.tta()) {
                        lossSum += negLogTrue(be.toFloats(scores), truth.labels(), k, ignore);
                        pixels += counted;
                    } else if (counted > 0) {
                        try (Ops ops = new Ops(be); var noGrad = ops.noGrad()) {
                            lossSum += (double) be.toFloats(ops.crossEntropy(Var.constant(scores), labels, null, ignore).value())[0] * counted;
                        }
                        pixels += counted;
                    }
                    be.argmax(scores, pred);
                    cm.add(be.toInts(pred), truth.labels(), ignore);
                }
                if (bar != null) bar.step(String.format(Locale.ROOT, "loss %.4f", pixels == 0 ? 0 : lossSum / pixels));
            }
        } finally {
            if (bar != null) bar.close();
            pool.shutdownNow();
        }
        Evaluator.Result r = new Evaluator.Result(pixels == 0 ? 0 : lossSum / pixels, cm, pixels);
        return new EvalReport(classes, r, split.size(), pre == null ? opts.shortSide() : pre.width(), pre == null ? opts.shortSide() : pre.height(),
                be.matmulPrecision());
    }

    /** Sum over the counted pixels of -ln p(label) for probabilities {@code p} [K, n] (floored at 1e-12). */
    static double negLogTrue(float[] p, int[] labels, int k, int ignore) {
        int n = labels.length;
        double sum = 0;
        for (int i = 0; i < n; i++) {
            int l = labels[i];
            if (l == ignore || l < 0 || l >= k) continue;
            sum -= Math.log(Math.max(1e-12, p[l * n + i]));
        }
        return sum;
    }

    private static SegDataset.Item get(Future<SegDataset.Item> f) {
        try {
            return f.get();
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException re) throw re;
            throw new IllegalStateException(ImageIOUtil.oneLine(c), c);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("eval interrupted");
        }
    }

    public double pixelAccuracy() { return result.pixelAccuracy(); }

    public double miou() { return result.miou(); }

    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("images", images);
        o.addProperty("width", width);
        o.addProperty("height", height);
        o.addProperty("scored_at", "annotation resolution (logits upsampled bilinearly from the model input width x height)");
        o.addProperty("pixels", result.pixels());
        o.addProperty("precision", precision.flag());
        num(o, "loss", result.loss());
        num(o, "pixel_accuracy", result.pixelAccuracy());
        num(o, "miou", result.miou());
        JsonObject per = new JsonObject();
        double[] iou = result.confusion().iou();
        for (int c = 0; c < iou.length; c++) num(per, classes.name(c), iou[c]);
        o.add("per_class_iou", per);
        JsonArray names = new JsonArray();
        for (String n : classes.names()) names.add(n);
        o.add("classes", names);
        JsonArray cm = new JsonArray();
        for (long[] row : result.confusion().toArray()) {
            JsonArray r = new JsonArray();
            for (long v : row) r.add(v);
            cm.add(r);
        }
        o.add("confusion_matrix", cm);
        return o;
    }

    private static void num(JsonObject o, String k, double v) {
        if (Double.isFinite(v)) o.addProperty(k, v);
        else o.add(k, JsonNull.INSTANCE);
    }

    /** Writes the JSON and the confusion-matrix PNG. */
    public void write(Path json, Path png) throws IOException {
        AtomicFiles.writeString(json, new GsonBuilder().setPrettyPrinting().serializeNulls().create().toJson(toJson()) + "\n");
        Plots.confusion(classes.names().toArray(new String[0]), result.confusion().toArray(), png);
    }

    /** The per-class table: IoU, ground-truth pixels and predicted pixels of each class, then the totals. */
    public void printTable(PrintWriter out) {
        long[][] m = result.confusion().toArray();
        double[] iou = result.confusion().iou();
        int w = 5;
        for (String n : classes.names()) w = Math.max(w, n.length());
        out.printf(Locale.ROOT, "%-" + w + "s  %8s  %12s  %12s%n", "class", "IoU", "gt pixels", "pred pixels");
        for (int c = 0; c < iou.length; c++) {
            long gt = 0, pr = 0;
            for (int j = 0; j < iou.length; j++) { gt += m[c][j]; pr += m[j][c]; }
            out.printf(Locale.ROOT, "%-" + w + "s  %8s  %12d  %12d%n", classes.name(c),
                    Double.isNaN(iou[c]) ? "n/a" : String.format(Locale.ROOT, "%.4f", iou[c]), gt, pr);
        }
        out.printf(Locale.ROOT, "pixel accuracy %.4f, mIoU %.4f over %d images at their annotations' resolution (model input %dx%d, logits upsampled)%n",
                pixelAccuracy(), miou(), images, width, height);
        out.flush();
    }
}
