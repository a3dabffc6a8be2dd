package dinoseg.autograd;

import dinoseg.backend.Backend;
import dinoseg.tensor.Storage;
import dinoseg.tensor.Tensor;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The autograd tape and the owner of the tensors its ops make. Every differentiable op whose
 * inputs need gradients appends a node holding its backward; {@link #backward} runs the nodes in
 * reverse, accumulating gradients into the Vars. Inside {@link #noGrad()} nothing is recorded
 * (frozen backbone, inference).
 *
 * <p><b>Lifetimes.</b> Every tensor an {@link Ops} method creates is owned by this tape until it is
 * freed, in this order of precedence (PyTorch frees the same tensors by reference counting; Java
 * has none, so the counts are explicit):
 * <ul>
 *   <li>a tensor is <i>held</i> by each Var over its storage (an op's output and its reshape views)
 *       until {@link #release(Var)} drops that Var;</li>
 *   <li>it is <i>saved</i> by each recorded node whose backward reads it (inputs such as a Linear's
 *       x, or op-internal statistics such as LayerNorm's mean and rstd, attention's log-sum-exp)
 *       until that node's backward has run (or the tape is {@link #clear cleared});</li>
 *   <li>it is freed ({@link Tensor#close}) as soon as nothing holds or saves it, so an intermediate
 *       that model code released in the forward lives exactly until the last backward that needs it,
 *       and in a no-grad forward is freed at once;</li>
 *   <li>{@link #close()} (the end of a try-with-resources scope) frees everything still owned,
 *       except what {@link #keep} handed to the caller.</li>
 * </ul>
 * Gradients of intermediate values are freed as soon as the node that consumes them has run.
 * A freed tensor fails loudly on its next use (the backends' argument checks name the op).
 * Not thread-safe: one tape per thread.
 */
public final class Tape implements AutoCloseable {
    /** One recorded op: the Var it produced and how to push that Var's gradient to its inputs. */
    interface Node {
        Var output();

        /**
         * Sends {@code gradOut} to the inputs. When {@code mayTake} the node may keep {@code gradOut}
         * as an input's gradient instead of copying it, and then returns true (the tape does not free it).
         */
        boolean backward(Tensor gradOut, boolean mayTake);

        /** The ownership records of the tensors this node's backward reads (released after it ran). */
        List<Owned> saved();
    }

    /** An owned storage: how many Vars hold it and how many pending nodes saved it. */
    static final class Owned {
        final Tensor tensor;
        int holders, savers;

        Owned(Tensor tensor) { this.tensor = tensor; }
    }

    private final Backend be;
    private final List<Node> nodes = new ArrayList<>();
    private final Map<Storage, Owned> owned = new IdentityHashMap<>();
    private long ownedBytesPeak;
    private long ownedBytes;
    private int noGradDepth;
    private boolean closed;

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

    void record(Node n) {
        if (closed) throw new IllegalStateException("tape: recording on a closed tape");
        nodes.add(n);
    }

    /** Number of recorded nodes (for tests and memory accounting). */
    public int size() { return nodes.size(); }

    // ------------------------------------------------------------------ ownership

    /** Takes ownership of t (a new op output, or a view of an owned one): one more Var holds it. */
    void hold(Tensor t) {
        if (closed) throw new IllegalStateException("tape: creating a tensor in a closed scope");
        Owned o = owned.get(t.storage());
        if (o == null) {
            o = new Owned(t);
            owned.put(t.storage(), o);
            ownedBytes += bytes(t);
            ownedBytesPeak = Math.max(ownedBytesPeak, ownedBytes);
        }
        o.holders++;
    }

    /** One more Var holds t (a view) when this tape owns t's storage; otherwise t stays its owner's. */
    void holdIfOwned(Tensor t) {
        Owned o = owned.get(t.storage());
        if (o != null) o.holders++;
    }

    /**
     * Marks t as read by a node's backward and returns its record, or null when this tape does not
     * own t (a parameter, a caller's input: their owners keep them alive). An op-internal tensor
     * that no Var holds ({@code internal}) is owned from here on.
     */
    Owned save(Tensor t, boolean internal) {
        if (t == null) return null;
        Owned o = owned.get(t.storage());
        if (o == null) {
            if (!internal) return null;
            o = new Owned(t);
            owned.put(t.storage(), o);
            ownedBytes += bytes(t);
            ownedBytesPeak = Math.max(ownedBytesPeak, ownedBytes);
        }
        o.savers++;
        return o;
    }

    /**
     * The caller no longer uses v: its tensor is freed as soon as no other Var holds it and no
     * pending backward needs it. A value this tape does not own (a parameter, an input) is left
     * alone; releasing a Var twice does nothing.
     */
    public void release(Var v) {
        if (v == null || !v.intermediate || v.released) return;
        v.released = true;
        Owned o = owned.get(v.value().storage());
        if (o == null) return;
        o.holders--;
        freeIfUnused(o);
    }

    /** Hands v's tensor to the caller: this tape will never free it (e.g. a result returned from a scope). */
    public Var keep(Var v) {
        disown(v.value());
        return v;
    }

    /** An op's backward hands a tensor it saved on (e.g. as a gradient): this tape stops owning it. */
    void disown(Tensor t) {
        Owned o = owned.remove(t.storage());
        if (o != null) ownedBytes -= bytes(o.tensor);
    }

    private void unsave(Owned o) {
        o.savers--;
        freeIfUnused(o);
    }

    private void freeIfUnused(Owned o) {
        if (o.holders > 0 || o.savers > 0) return;
        if (owned.remove(o.tensor.storage()) == null) return;
        ownedBytes -= bytes(o.tensor);
        o.tensor.close();
    }

    /** Bytes of the tensors this tape owns now (held or saved). */
    public long ownedBytes() { return ownedBytes; }

    /** The most bytes this tape owned at once. */
    public long ownedBytesPeak() { return ownedBytesPeak; }

    /** Number of tensors this tape owns now. */
    public int ownedCount() { return owned.size(); }

    private static long bytes(Tensor t) { return t.numel() * t.dtype().bytes(); }

    // ------------------------------------------------------------------ backward

    /**
     * Back-propagates from a one-element loss: its gradient is 1. Gradients accumulate into every
     * leaf Var that requires them (call zeroGrad between steps). Each node's saved tensors are
     * released once it has run, and each intermediate gradient once its node has consumed it; the
     * tape is empty afterwards.
     */
    public void backward(Var loss) {
        if (loss.value().numel() != 1)
            throw new IllegalArgumentException("backward: loss must have one element, got shape " + loss.shape());
        run(loss, null);
    }

    /**
     * Back-propagates {@code gradOut} (out's shape; stays the caller's) from {@code out}, as
     * PyTorch's {@code out.backward(gradOut)}; otherwise as {@link #backward(Var)}.
     */
    public void backward(Var out, Tensor gradOut) {
        if (!gradOut.shape().equals(out.shape()))
            throw new IllegalArgumentException("backward: gradient shape " + gradOut.shape() + " does not match output " + out.shape());
        run(out, gradOut);
    }

    private void run(Var loss, Tensor seed) {
        if (!loss.requiresGrad()) {
            clear();
            throw new IllegalStateException("backward: the loss does not depend on anything that requires a gradient");
        }
        loss.grad = seed != null ? seed : be.full(loss.shape(), 1f);
        try {
            for (int i = nodes.size() - 1; i >= 0; i--) {
                Node n = nodes.get(i);
                nodes.set(i, null);
                Var out = n.output();
                Tensor g = out.grad;
                if (g != null) {
                    boolean mine = out.intermediate && out != loss;
                    boolean taken = n.backward(g, mine);
                    if (mine) {
                        out.grad = null;
                        if (!taken) g.close();
                    }
                }
                for (Owned o : n.saved()) unsave(o);
            }
        } finally {
            clear();
            if (seed != null) loss.grad = null;   // the caller's
            else if (loss.intermediate && loss.grad != null) {
                loss.grad.close();
                loss.grad = null;
            }
        }
    }

    /** Drops everything recorded without running it (e.g. after a forward whose loss was not finite). */
    public void clear() {
        for (Node n : nodes) if (n != null) for (Owned o : n.saved()) unsave(o);
        nodes.clear();
    }

    /**
     * Ends the scope: drops the recorded nodes and frees every tensor this tape still owns (held or
     * saved), except those handed out by {@link #keep}. Idempotent.
     */
    @Override public void close() {
        nodes.clear();
        for (Owned o : owned.values()) o.tensor.close();
        owned.clear();
        ownedBytes = 0;
        closed = true;
    }

    /** Adds {@code g} into v's gradient (allocating it on first use). Takes ownership of g. */
    void accumulate(Var v, Tensor g) {
        if (!v.requiresGrad()) { g.close(); return; }
        if (!g.shape().equals(v.shape())) g = g.reshape(v.shape());
        if (v.grad == null) {
            v.grad = g;
        } else {
            be.axpy(1f, g, v.grad);
            g.close();
        }
    }
}
