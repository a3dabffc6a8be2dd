package dinoseg.train;

import dinoseg.io.AtomicFiles;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.HeatMapChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.internal.chartpart.Chart;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToDoubleFunction;

/** The charts a training run leaves: loss, accuracy and mIoU curves, per-class IoU bars, a confusion matrix. */
public final class Plots {
    private Plots() { }

    /** Writes loss.png, accuracy.png and miou.png (train vs valid per epoch) into {@code dir}. */
    public static void curves(History h, Path dir) throws IOException {
        curve(h, dir.resolve("loss.png"), "Loss", "loss", History.Row::trainLoss, History.Row::validLoss);
        curve(h, dir.resolve("accuracy.png"), "Pixel accuracy", "pixel accuracy", History.Row::trainPixAcc, History.Row::validPixAcc);
        curve(h, dir.resolve("miou.png"), "Mean IoU", "mIoU", History.Row::trainMiou, History.Row::validMiou);
    }

    private static void curve(History h, Path file, String title, String yLabel,
                              ToDoubleFunction<History.Row> train, ToDoubleFunction<History.Row> valid) throws IOException {
        XYChart c = new XYChartBuilder().width(800).height(500).title(title).xAxisTitle("epoch").yAxisTitle(yLabel).build();
        List<Double> x = new ArrayList<>(), tr = new ArrayList<>(), va = new ArrayList<>();
        for (History.Row r : h.rows()) {
            x.add((double) r.epoch());
            tr.add(finite(train.applyAsDouble(r)));
            va.add(finite(valid.applyAsDouble(r)));
        }
        if (x.isEmpty()) { x.add(0.0); tr.add(0.0); va.add(0.0); }
        c.addSeries("train", x, tr);
        c.addSeries("valid", x, va);
        save(c, file);
    }

    private static double finite(double v) { return Double.isFinite(v) ? v : 0; }

    /** A bar chart of IoU per class (classes without an IoU are shown as 0 and marked "n/a"). */
    public static void perClassIou(String[] names, double[] iou, Path file) throws IOException {
        CategoryChart c = new CategoryChartBuilder().width(Math.max(800, 40 * names.length)).height(500)
                .title("Per-class IoU").xAxisTitle("class").yAxisTitle("IoU").build();
        List<String> labels = new ArrayList<>();
        List<Double> vals = new ArrayList<>();
        for (int i = 0; i < names.length; i++) {
            labels.add(Double.isNaN(iou[i]) ? names[i] + " (n/a)" : names[i]);
            vals.add(Double.isNaN(iou[i]) ? 0.0 : iou[i]);
        }
        c.addSeries("IoU", labels, vals);
        c.getStyler().setLegendVisible(false);
        c.getStyler().setXAxisLabelRotation(45);
        c.getStyler().setYAxisMin(0.0).setYAxisMax(1.0);
        save(c, file);
    }

    /** A heat map of the confusion matrix normalised per ground-truth row. */
    public static void confusion(String[] names, long[][] m, Path file) throws IOException {
        int k = names.length;
        HeatMapChart c = new HeatMapChartBuilder().width(Math.max(600, 40 * k + 200)).height(Math.max(500, 40 * k + 150))
                .title("Confusion matrix (row-normalised; rows: truth, columns: prediction)").build();
        List<String> axis = List.of(names);
        List<Number[]> data = new ArrayList<>();
        for (int t = 0; t < k; t++) {
            long row = 0;
            for (long v : m[t]) row += v;
            for (int p = 0; p < k; p++) data.add(new Number[]{p, k - 1 - t, row == 0 ? 0.0 : (double) m[t][p] / row});
        }
        List<String> yAxis = new ArrayList<>(axis);
        java.util.Collections.reverse(yAxis);
        c.addSeries("confusion", axis, yAxis, data);
        c.getStyler().setMin(0.0).setMax(1.0);
        c.getStyler().setShowValue(k <= 25);
        save(c, file);
    }

    private static void save(Chart<?, ?> chart, Path file) throws IOException {
        AtomicFiles.write(file, out -> BitmapEncoder.saveBitmap(chart, out, BitmapEncoder.BitmapFormat.PNG));
    }
}
