package dinoseg.train;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import dinoseg.backend.Backend;
import dinoseg.data.Augment;
import dinoseg.data.ClassSet;
import dinoseg.data.DataLoader;
import dinoseg.data.Preprocess;
import dinoseg.data.SegDataset;
import dinoseg.io.AtomicFiles;
import dinoseg.model.Dinov2Segmentation;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Locale;

/**
 * Evaluation of a model on a split, as {@code dinoseg eval} reports it: pixel accuracy, mIoU and
 * per-class IoU from one confusion matrix over the split, a per-class table, a JSON document
 * ({@code pixel_accuracy}, {@code miou}, {@code per_class_iou} by class name — null for a class
 * absent from both ground truth and prediction — and {@code confusion_matrix}, rows truth, columns
 * prediction) and a confusion-matrix PNG.
 */
public record EvalReport(ClassSet classes, Evaluator.Result result, int images, int width, int height) {

    /** Evaluates {@code split} at w×h (resized, no augmentation). */
    public static EvalReport run(Dinov2Segmentation model, ClassSet classes, SegDataset split, int w, int h, int batch, int workers,
                                 Backend be, PrintWriter progress) {
        if (model.numClasses() != classes.size())
            throw new IllegalArgumentException("the model predicts " + model.numClasses() + " classes but the class set has " + classes.size());
        if (split.size() == 0) throw new IllegalArgumentException("the " + split.name() + " split has no image/mask pairs");
        Preprocess pre = Preprocess.of(w, h, progress == null ? null : progress::println);
        try (DataLoader dl = new DataLoader(split, new DataLoader.Options(batch, false, false, 0, workers, 2, Augment.none(), pre))) {
            Iterator<dinoseg.data.Batch> it = dl.epoch(0);
            Iterator<FeedBatch> fb = new Iterator<>() {
                @Override public boolean hasNext() { return it.hasNext(); }

                @Override public FeedBatch next() { return FeedBatch.of(it.next()); }
            };
            Evaluator.Result r = Evaluator.evaluate(model, be, fb, dl.batchesPerEpoch(), classes.ignoreIndex(), progress, "eval");
            return new EvalReport(classes, r, split.size(), pre.width(), pre.height());
        }
    }

    public double pixelAccuracy() { return result.pixelAccuracy(); }

    public double miou() { return result.miou(); }

    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("images", images);
        o.addProperty("width", width);
        o.addProperty("height", height);
        o.addProperty("pixels", result.pixels());
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
        out.printf(Locale.ROOT, "pixel accuracy %.4f, mIoU %.4f over %d images (%dx%d)%n", pixelAccuracy(), miou(), images, width, height);
        out.flush();
    }
}
