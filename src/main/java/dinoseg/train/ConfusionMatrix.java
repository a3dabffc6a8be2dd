package dinoseg.train;

import java.util.Arrays;

/**
 * One confusion matrix over a whole dataset: rows are ground truth, columns predictions. Pixel
 * accuracy, per-class IoU = TP / (TP + FP + FN) and the mean IoU over classes that occur in the
 * ground truth or the predictions all come from it, so the metric is the dataset-level one (not a
 * mean of per-image scores). Ignored pixels (the ignore index or labels outside [0, K)) never enter.
 */
public final class ConfusionMatrix {
    private final int k;
    private final long[] counts;

    public ConfusionMatrix(int numClasses) {
        if (numClasses < 1) throw new IllegalArgumentException("confusion matrix needs at least one class, got " + numClasses);
        this.k = numClasses;
        this.counts = new long[numClasses * numClasses];
    }

    public int numClasses() { return k; }

    /** Adds every pixel whose label is a class id; predictions outside [0, K) are an error. */
    public void add(int[] pred, int[] label, int ignoreIndex) {
        add(pred, 0, label, 0, label.length, ignoreIndex);
    }

    public void add(int[] pred, int predOff, int[] label, int labelOff, int len, int ignoreIndex) {
        for (int i = 0; i < len; i++) {
            int t = label[labelOff + i];
            if (t == ignoreIndex || t < 0 || t >= k) continue;
            int p = pred[predOff + i];
            if (p < 0 || p >= k) throw new IllegalArgumentException("prediction " + p + " outside [0, " + k + ")");
            counts[t * k + p]++;
        }
    }

    /**
     * Adds K×K counts read back from {@link dinoseg.backend.Backend#confusionMatrix} (row = truth,
     * column = prediction), each an unsigned 32-bit integer.
     */
    public void addCounts(int[] deviceCounts) {
        if (deviceCounts.length != counts.length)
            throw new IllegalArgumentException(deviceCounts.length + " counts for a " + k + "-class confusion matrix (needs " + counts.length + ")");
        for (int i = 0; i < counts.length; i++) counts[i] += Integer.toUnsignedLong(deviceCounts[i]);
    }

    public void merge(ConfusionMatrix o) {
        if (o.k != k) throw new IllegalArgumentException("cannot merge confusion matrices of " + k + " and " + o.k + " classes");
        for (int i = 0; i < counts.length; i++) counts[i] += o.counts[i];
    }

    public long get(int truth, int pred) { return counts[truth * k + pred]; }

    public long total() {
        long s = 0;
        for (long c : counts) s += c;
        return s;
    }

    /** Correct pixels over counted pixels; NaN when nothing was counted. */
    public double pixelAccuracy() {
        long tp = 0;
        for (int c = 0; c < k; c++) tp += counts[c * k + c];
        long t = total();
        return t == 0 ? Double.NaN : (double) tp / t;
    }

    /** IoU per class; NaN for a class absent from both ground truth and predictions. */
    public double[] iou() {
        double[] out = new double[k];
        for (int c = 0; c < k; c++) {
            long tp = counts[c * k + c], rowSum = 0, colSum = 0;
            for (int j = 0; j < k; j++) { rowSum += counts[c * k + j]; colSum += counts[j * k + c]; }
            long denom = rowSum + colSum - tp;
            out[c] = denom == 0 ? Double.NaN : (double) tp / denom;
        }
        return out;
    }

    /** Mean IoU over classes present in ground truth or predictions; NaN when none is. */
    public double meanIou() {
        double s = 0;
        int n = 0;
        for (double v : iou()) if (!Double.isNaN(v)) { s += v; n++; }
        return n == 0 ? Double.NaN : s / n;
    }

    /** A copy of the counts as rows (truth) of columns (prediction). */
    public long[][] toArray() {
        long[][] m = new long[k][];
        for (int i = 0; i < k; i++) m[i] = Arrays.copyOfRange(counts, i * k, (i + 1) * k);
        return m;
    }

    public void reset() { Arrays.fill(counts, 0); }

    /** The counts, row-major (truth × prediction), as a copy: what a resume state stores. */
    public long[] counts() { return counts.clone(); }

    /** A matrix of {@code numClasses} classes holding {@code counts} (row-major, as {@link #counts()} gives them). */
    public static ConfusionMatrix of(int numClasses, long[] counts) {
        ConfusionMatrix m = new ConfusionMatrix(numClasses);
        if (counts.length != m.counts.length)
            throw new IllegalArgumentException(counts.length + " counts for a confusion matrix of " + numClasses + " classes");
        for (long c : counts) if (c < 0) throw new IllegalArgumentException("negative count " + c + " in a confusion matrix");
        System.arraycopy(counts, 0, m.counts, 0, counts.length);
        return m;
    }
}
