package dinoseg.train;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.io.ProgressBar;
import dinoseg.io.Stop;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import java.io.PrintWriter;
import java.util.Iterator;

/**
 * Evaluation over a whole split: the model in eval mode, nothing recorded, one confusion matrix
 * over every counted pixel and the pixel-weighted mean cross-entropy (the loss of the split as one
 * big batch).
 */
public final class Evaluator {
    private Evaluator() { }

    /** Loss and confusion matrix of a split. */
    public record Result(double loss, ConfusionMatrix confusion, long pixels) {
        public double pixelAccuracy() { return confusion.pixelAccuracy(); }

        public double miou() { return confusion.meanIou(); }
    }

    /**
     * @param total    number of batches (for the progress bar), or -1
     * @param progress where the progress bar goes, or null for none
     */
    public static Result evaluate(Dinov2Segmentation model, Backend be, Iterator<FeedBatch> batches, int total, int ignore,
                                  PrintWriter progress, String phase) {
        return evaluate(model, be, batches, total, ignore, progress, phase, Stop.process());
    }

    /**
     * As above; between batches, a requested {@code stop} ends the evaluation with
     * {@link Stop.Stopped} (nothing is returned or written).
     */
    @SuppressWarnings("try") // the no-grad scope is used for its effect, not referenced
    public static Result evaluate(Dinov2Segmentation model, Backend be, Iterator<FeedBatch> batches, int total, int ignore,
                                  PrintWriter progress, String phase, Stop stop) {
        int k = model.numClasses();
        ConfusionMatrix cm = new ConfusionMatrix(k);
        double lossSum = 0;
        long pixels = 0;
        boolean wasTraining = model.isTraining();
        model.train(false);
        ProgressBar bar = progress == null ? null : new ProgressBar(progress, phase, Math.max(0, total));
        try {
            int done = 0;
            while (batches.hasNext()) {
                if (stop.requested())
                    throw stop.stopped("during " + phase + " after " + (total >= 0 ? done + " of " + total : String.valueOf(done))
                            + " batches: nothing written");
                FeedBatch fb = batches.next();
                done++;
                // one scope per batch: everything the forward made is freed before the next batch
                try (Ops ops = new Ops(be); var s = ops.noGrad();
                     Tensor labels = fb.labelTensor(be);
                     Tensor counts = be.zeros(Shape.of(k, k), dinoseg.tensor.DType.I32)) {
                    Var features = fb.headInput(model, ops);
                    Var grid = model.head.forward(ops, features);
                    ops.release(features);
                    // loss and confusion counts on the device from one upsampled buffer; K×K counts come back, not the pixels
                    Var loss = ops.crossEntropyUpsampled(grid, fb.h(), fb.w(), labels, null, ignore,
                            up -> be.confusionMatrix(up, labels, ignore, counts));
                    long counted = fb.counted(k, ignore);
                    double l = be.toFloats(loss.value())[0];
                    lossSum += l * counted;
                    pixels += counted;
                    cm.addCounts(be.toInts(counts));
                }
                if (bar != null) bar.step(String.format(java.util.Locale.ROOT, "loss %.4f", pixels == 0 ? 0 : lossSum / pixels));
            }
        } finally {
            if (bar != null) bar.close();
            model.train(wasTraining);
        }
        return new Result(pixels == 0 ? 0 : lossSum / pixels, cm, pixels);
    }
}
