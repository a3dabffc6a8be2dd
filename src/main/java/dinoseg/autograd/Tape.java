package dinoseg.autograd;

import dinoseg.backend.Backend;
import dinoseg.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * The autograd tape: every differentiable op whose inputs need gradients appends a node holding
 * its backward. {@link #backward} runs the nodes in reverse, accumulating gradients into the
 * Vars, then releases the tape so intermediates can be freed. Inside {@link #noGrad()} nothing is
 * recorded (frozen backbone, inference).
 */
public final class Tape {
    /** One recorded op: the Var it produced and how to push that Var's gradient to its inputs. */
    interface Node {
        Var output();
        void backward(Tensor gradOut);
    }

    private final Backend be;
    private final List<Node> nodes = new ArrayList<>();
    private int noGradDepth;

    public Tape(Backend be) { this.be = be; }

    public Backend backend() { return be; }

    /** Whether ops record now. */
    public boolean recording() { return noGradDepth == 0; }

    /** A scope in which nothing is recorded: {@code try (var s = tape.noGrad()) { ... }}. */
    public Scope noGrad() {
        noGradDepth++;
        return () -> noGradDepth--;
    }

    /** Closes a no-grad scope. */
    public interface Scope extends AutoCloseable {
        @Override void close();
    }

    void record(Node n) { nodes.add(n); }

    /** Number of recorded nodes (for tests and memory accounting). */
    public int size() { return nodes.size(); }

    /**
     * Back-propagates from a one-element loss: its gradient is 1. Gradients accumulate into every
     * leaf Var that requires them (call zeroGrad between steps). The tape is cleared afterwards and
     * intermediate gradients are dropped.
     */
    public void backward(Var loss) {
        if (loss.value().numel() != 1)
            throw new IllegalArgumentException("backward: loss must have one element, got shape " + loss.shape());
        if (!loss.requiresGrad()) {
            nodes.clear();
            throw new IllegalStateException("backward: the loss does not depend on anything that requires a gradient");
        }
        loss.grad = be.full(loss.shape(), 1f);
        try {
            for (int i = nodes.size() - 1; i >= 0; i--) {
                Node n = nodes.get(i);
                Var out = n.output();
                Tensor g = out.grad;
                if (g == null) continue;
                n.backward(g);
                if (out.intermediate && out != loss) out.grad = null;
            }
        } finally {
            nodes.clear();
            if (loss.intermediate) loss.grad = null;
        }
    }

    /** Drops everything recorded without running it (e.g. after an evaluation forward that recorded). */
    public void clear() { nodes.clear(); }

    /** Adds {@code g} into v's gradient (allocating it on first use). Takes ownership of g when it can. */
    void accumulate(Var v, Tensor g) {
        if (!v.requiresGrad()) return;
        if (!g.shape().equals(v.shape())) g = g.reshape(v.shape());
        if (v.grad == null) {
            v.grad = g;
        } else {
            be.axpy(1f, g, v.grad);
        }
    }
}
