package dinoseg.train;

import dinoseg.backend.Backend;
import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/**
 * {@code train --cuda-graphs}: one training step recorded as a CUDA graph ({@link Backend#capture})
 * and replayed for every later batch of the same shapes, as PyTorch's {@code torch.cuda.CUDAGraph}
 * whole-network capture does: the host queues one graph launch per step instead of a few thousand
 * kernel launches. The step's inputs and outputs are tensors made before the capture, at fixed
 * addresses: the host writes the batch into {@link #input} and {@link #labels} before each replay
 * and reads {@link #loss} after it; the confusion counts of every replay add into {@link #counts}.
 */
final class StepGraph implements AutoCloseable {
    /** The recorded work of one step: forward on input and labels, loss into loss, counts into counts, backward, update. */
    interface Body {
        void run(Tensor input, Tensor labels, Tensor counts, Tensor loss);
    }

    final Tensor input, labels, counts, loss;
    final boolean cachedFeatures;
    private final FeedBatch shapes;
    private final Backend.Graph graph;

    /** Makes the fixed tensors for batches shaped like {@code fb} and records {@code body} on them (nothing runs yet). */
    static StepGraph capture(Backend be, FeedBatch fb, int classes, Body body) {
        Tensor input = be.empty(fb.inputShape(), DType.F32);
        Tensor labels = be.empty(Shape.of(fb.n(), fb.h(), fb.w()), DType.I32);
        Tensor counts = be.zeros(Shape.of(classes, classes), DType.I32);
        Tensor loss = be.zeros(Shape.scalar(), DType.F32);
        try {
            Backend.Graph g = be.capture(() -> body.run(input, labels, counts, loss));
            return new StepGraph(fb, input, labels, counts, loss, g);
        } catch (RuntimeException e) {
            for (Tensor t : new Tensor[] {input, labels, counts, loss}) t.close();
            throw e;
        }
    }

    private StepGraph(FeedBatch fb, Tensor input, Tensor labels, Tensor counts, Tensor loss, Backend.Graph graph) {
        this.shapes = fb;
        this.cachedFeatures = fb.features() != null;
        this.input = input;
        this.labels = labels;
        this.counts = counts;
        this.loss = loss;
        this.graph = graph;
    }

    /** Whether fb fits the recorded step (same input kind and shapes). */
    boolean takes(FeedBatch fb) { return shapes.sameShapes(fb); }

    /** Writes fb into the step's inputs and queues one replay (the caller advanced the optimizer first). */
    void replay(Backend be, FeedBatch fb) {
        fb.write(be, input, labels);
        graph.replay();
    }

    /** The graph's nodes (kernels, copies, memsets). */
    int nodes() { return graph.nodes(); }

    @Override public void close() {
        graph.close();
        for (Tensor t : new Tensor[] {input, labels, counts, loss}) t.close();
    }
}
