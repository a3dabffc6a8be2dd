package dinoseg.autograd;

import dinoseg.backend.Backend;
import dinoseg.backend.Checks;
import dinoseg.backend.MatrixView;
import dinoseg.backend.Precision;
import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import java.util.List;

/**
 * The differentiable op set. Each method computes its forward on the backend and, when an input
 * requires a gradient and the tape is recording, records how to send the output's gradient back to
 * its inputs, saving only the tensors that backward reads. Model code calls these and never asks
 * which backend runs them.
 *
 * <p>An Ops is a memory scope (see {@link Tape} for the rules): every tensor its methods create
 * belongs to it, model code {@link #release releases} the intermediates it no longer uses (freed at
 * once in a no-grad forward, after the last backward that reads them otherwise), and
 * {@link #close()} frees the rest: {@code try (Ops ops = new Ops(be)) { ... }}. A value to outlive
 * the scope is handed out with {@link #keep}.
 */
public final class Ops implements AutoCloseable {
    public final Backend be;
    public final Tape tape;

    public Ops(Backend be) { this(be, new Tape(be)); }

    public Ops(Backend be, Tape tape) {
        this.be = be;
        this.tape = tape;
    }

    /** A no-grad scope on this Ops' tape. */
    public Tape.Scope noGrad() { return tape.noGrad(); }

    /** Back-propagates from a one-element loss. */
    public void backward(Var loss) { tape.backward(loss); }

    /** The caller no longer uses these Vars (see {@link Tape#release}); nulls, parameters and inputs are ignored. */
    public void release(Var... vs) {
        for (Var v : vs) {
            Tensor a = v == null ? null : pendingGelu.remove(v);
            if (a != null) a.close();
            tape.release(v);
        }
    }

    /**
     * gelu(h) for the outputs h of {@link #layerNormLinearGelu}, made in the same GEMM launch as h and
     * waiting for the {@link #geluLinear} that reads h (which takes and frees it).
     */
    private final java.util.IdentityHashMap<Var, Tensor> pendingGelu = new java.util.IdentityHashMap<>();

    /** Hands v's tensor to the caller: closing this scope will not free it. */
    public Var keep(Var v) { return tape.keep(v); }

    /** A constant owned by this scope (freed when released or at {@link #close()}); t must be new and unshared. */
    public Var constant(Tensor t) { return result(t, false); }

    /** Frees every tensor this scope still owns (except those {@link #keep kept}) and drops the tape. */
    @Override public void close() {
        for (Tensor a : pendingGelu.values()) a.close();
        pendingGelu.clear();
        tape.close();
    }

    // ------------------------------------------------------------------ plumbing

    private boolean needs(Var... vs) {
        if (!tape.recording()) return false;
        for (Var v : vs) if (v != null && v.requiresGrad()) return true;
        return false;
    }

    private Var result(Tensor t, boolean grad) {
        Var v = new Var(t, grad, true);
        tape.hold(t);
        return v;
    }

    /** A backward that may keep the output gradient as an input's gradient (returns true when it did). */
    private interface TakingBackward { boolean apply(Tensor g, boolean mayTake); }

    /** The tensors a backward reads: values held by Vars (an input, the output itself). */
    private static Tensor[] saves(Tensor... ts) { return ts; }

    /** Tensors made by the op for its backward only (statistics, im2col columns); freed after it ran. */
    private static Tensor[] internal(Tensor... ts) { return ts; }

    private static final Tensor[] NONE = new Tensor[0];

    private void record(Var out, Tensor[] saved, Tensor[] internal, java.util.function.Consumer<Tensor> back) {
        record(out, saved, internal, (g, mayTake) -> { back.accept(g); return false; });
    }

    private void record(Var out, Tensor[] saved, Tensor[] internal, TakingBackward back) {
        List<Tape.Owned> keep = new java.util.ArrayList<>(saved.length + internal.length);
        for (Tensor t : saved) { Tape.Owned o = tape.save(t, false); if (o != null) keep.add(o); }
        for (Tensor t : internal) { Tape.Owned o = tape.save(t, true); if (o != null) keep.add(o); }
        tape.record(new Tape.Node() {
            @Override public Var output() { return out; }
            @Override public boolean backward(Tensor g, boolean mayTake) { return back.apply(g, mayTake); }
            @Override public List<Tape.Owned> saved() { return keep; }
        });
    }

    /** Frees op-internal tensors that no backward will read (no-grad forward). */
    private static void free(Tensor... ts) { for (Tensor t : ts) if (t != null) t.close(); }

    /** v's value when wanted is true (a saved tensor), else null. */
    private static Tensor valueIf(boolean wanted, Var v) { return wanted && v != null ? v.value() : null; }

    private static boolean wants(Var v) { return v != null && v.requiresGrad(); }

    /** Adds g into v's gradient; g must be owned by the caller (freshly computed, not shared). */
    private void acc(Var v, Tensor g) { tape.accumulate(v, g); }

    /**
     * Adds the output gradient g into v's: when the tape lets the node take g ({@code mayTake}) and v
     * has none yet, g becomes v's gradient without a copy; returns whether it did.
     */
    private boolean accTake(Var v, Tensor g, boolean mayTake) {
        if (!wants(v)) return false;
        if (mayTake && v.grad == null) {
            v.grad = g.shape().equals(v.shape()) ? g : g.reshape(v.shape());
            return true;
        }
        accShared(v, g);
        return false;
    }

    /** Adds a gradient that is shared with someone else (copied on first use). */
    private void accShared(Var v, Tensor g) {
        if (!wants(v)) return;
        if (v.grad == null) {
            Tensor c = be.empty(v.shape());
            be.copy(g, c);
            v.grad = c;
        } else {
            be.axpy(1f, g, v.grad);
        }
    }

    /**
     * Autocast's storage point: under {@link Precision#BF16} the output of a matrix product (bias
     * included) is a bf16 tensor in {@code torch.autocast}, so the fp32 output is rounded to the value
     * it would store ({@link Backend#roundTo}); other precisions keep fp32 outputs.
     */
    private void autocastStore(Tensor y) {
        if (be.matmulPrecision() == Precision.BF16) be.roundTo(y, Precision.BF16, y);
    }

    /** The gradient buffer of v for a GEMM that writes it: returns beta (1 to accumulate, 0 to overwrite). */
    private float gradBeta(Var v) {
        if (v.grad == null) { v.grad = be.empty(v.shape()); return 0f; }
        return 1f;
    }

    /**
     * y = f(x) without keeping f's activations (activation checkpointing, PyTorch's
     * torch.utils.checkpoint): f runs without a tape, only x is saved, and the backward runs f again
     * on x in a scope of its own and back-propagates through it, so the memory of f's activations is
     * needed for one f at a time. f must compute the same values when run twice (no randomness) and
     * reach parameters only through the Ops it is given. Without a tape this is just f(this, x).
     */
    @SuppressWarnings("try") // the no-grad scope is used for its effect, not referenced
    public Var checkpoint(Var x, java.util.function.BiFunction<Ops, Var, Var> f) {
        if (!tape.recording()) return f.apply(this, x);
        Var y;
        try (Tape.Scope s = noGrad()) {
            y = f.apply(this, x);
        }
        Var out = new Var(y.value(), true, true);   // f's result, now recorded (owned only when f made it here)
        tape.holdIfOwned(y.value());
        release(y);
        record(out, saves(x.value()), NONE, gy -> {
            try (Ops sub = new Ops(be)) {
                Var xs = new Var(x.value(), wants(x));
                Var ys = f.apply(sub, xs);
                if (ys.requiresGrad()) sub.tape.backward(ys, gy);
                if (xs.grad != null) {
                    Tensor gx = xs.grad;
                    xs.grad = null;
                    acc(x, gx);
                }
            }
        });
        return out;
    }

    // ------------------------------------------------------------------ linear algebra

    /** PyTorch's Linear: x [..., K], w [N, K], b [N] or null -> [..., N]. */
    public Var linear(Var x, Var w, Var b) {
        String op = "linear";
        Checks.rank(op, "weight", w.value(), 2);
        int k = w.dim(1), n = w.dim(0);
        if (x.rank() < 1 || x.dim(-1) != k) throw Checks.error(op, "input and weight do not match:", x.value(), w.value());
        if (b != null && (b.rank() != 1 || b.dim(0) != n)) throw Checks.error(op, "bias does not match weight:", b.value(), w.value());
        int rows = (int) (x.value().numel() / k);
        int[] od = x.shape().dims();
        od[od.length - 1] = n;
        Tensor y = be.empty(Shape.of(od));
        be.linear(x.value(), w.value(), b == null ? null : b.value(), rows, n, k, y);   // bias and autocast's bf16 store included
        boolean g = needs(x, w, b);
        Var out = result(y, g);
        if (g) record(out, saves(valueIf(wants(w), x), valueIf(wants(x), w)), NONE, gy -> {
            if (wants(x)) {
                Tensor gx = be.empty(x.shape());
                be.gemm(rows, k, n, 1f, MatrixView.of(gy, n), MatrixView.of(w.value(), k), 0f, MatrixView.of(gx, k), 1);
                acc(x, gx);
            }
            if (wants(w)) {
                float beta = gradBeta(w);
                be.gemm(n, k, rows, 1f, MatrixView.of(gy, n).t(), MatrixView.of(x.value(), k), beta, MatrixView.of(w.grad, k), 1);
            }
            if (wants(b)) {
                Tensor gb = be.empty(b.shape());
                be.sumTo(gy, gb);
                acc(b, gb);
            }
        });
        return out;
    }

    /**
     * Batched matrix product of the last two dimensions: op(a) [..., M, K] times op(b) [..., K, N]
     * -> [..., M, N], where op transposes the stored matrix when asked. b may be rank 2 (one matrix
     * for every batch entry) or have a's leading dimensions.
     */
    public Var matmul(Var a, boolean transA, Var b, boolean transB) {
        String op = "matmul";
        if (a.rank() < 2 || b.rank() < 2) throw Checks.error(op, "needs rank >= 2:", a.value(), b.value());
        int ar = a.dim(-2), ac = a.dim(-1), br = b.dim(-2), bc = b.dim(-1);
        int m = transA ? ac : ar, k = transA ? ar : ac;
        int kb = transB ? bc : br, n = transB ? br : bc;
        if (k != kb) throw Checks.error(op, "inner dimensions differ" + (transA ? " (a transposed)" : "") + (transB ? " (b transposed)" : "") + ":", a.value(), b.value());
        int batch = (int) a.shape().prod(0, a.rank() - 2);
        boolean bShared = b.rank() == 2;
        if (!bShared) {
            if (b.rank() != a.rank() || b.shape().prod(0, b.rank() - 2) != batch)
                throw Checks.error(op, "batch dimensions differ:", a.value(), b.value());
        }
        int[] od = a.shape().dims();
        od[od.length - 2] = m;
        od[od.length - 1] = n;
        Tensor c = be.empty(Shape.of(od));
        long sa = (long) ar * ac, sb = bShared ? 0 : (long) br * bc, sc = (long) m * n;
        // op(a_i) [M, K] @ op(b_i) [K, N] -> c_i [M, N]; b's stride 0 shares one matrix across the batch
        be.gemm(m, n, k, 1f, MatrixView.of(a.value(), ac).batched(sa).t(transA), MatrixView.of(b.value(), bc).batched(sb).t(transB),
                0f, MatrixView.of(c, n).batched(sc), batch);
        autocastStore(c);
        boolean g = needs(a, b);
        Var out = result(c, g);
        if (g) record(out, saves(valueIf(wants(b), a), valueIf(wants(a), b)), NONE, gc -> {
            MatrixView av = MatrixView.of(a.value(), ac).batched(sa), bv = MatrixView.of(b.value(), bc).batched(sb);
            MatrixView gcv = MatrixView.of(gc, n).batched(sc);
            if (wants(a)) {
                Tensor ga = be.empty(a.shape());
                MatrixView gav = MatrixView.of(ga, ac).batched(sa);
                if (!transA) be.gemm(m, k, n, 1f, gcv, bv.t(!transB), 0f, gav, batch);   // ga = gc @ op(b)^T
                else be.gemm(k, m, n, 1f, bv.t(transB), gcv.t(), 0f, gav, batch);      // ga^T = op(b) @ gc^T
                acc(a, ga);
            }
            if (wants(b)) {
                if (!bShared) {
                    Tensor gb = be.empty(b.shape());
                    MatrixView gbv = MatrixView.of(gb, bc).batched(sb);
                    if (!transB) be.gemm(k, n, m, 1f, av.t(!transA), gcv, 0f, gbv, batch);   // gb = op(a)^T @ gc
                    else be.gemm(n, k, m, 1f, gcv.t(), av.t(transA), 0f, gbv, batch);      // gb^T = gc^T @ op(a)
                    acc(b, gb);
                } else {
                    // one shared b: sum the batch entries' products into its gradient
                    float beta = gradBeta(b);
                    MatrixView gbv = MatrixView.of(b.grad, bc);
                    for (int i = 0; i < batch; i++) {
                        MatrixView ai = av.batched(0).at(i * sa), gci = gcv.batched(0).at(i * sc);
                        if (!transB) be.gemm(k, n, m, 1f, ai.t(!transA), gci, beta, gbv, 1);
                        else be.gemm(n, k, m, 1f, gci.t(), ai.t(transA), beta, gbv, 1);
                        beta = 1f;
                    }
                }
            }
        });
        return out;
    }

    // ------------------------------------------------------------------ elementwise

    /** a + b with b broadcasting to a (or a to b). */
    public Var add(Var a, Var b) {
        if (!a.shape().broadcastsFrom(b.shape()) && b.shape().broadcastsFrom(a.shape())) { Var t = a; a = b; b = t; }
        Checks.broadcasts("add", a.value(), b.value());
        Tensor y = be.empty(a.shape());
        be.add(a.value(), b.value(), 1f, y);
        boolean g = needs(a, b);
        Var out = result(y, g);
        final Var fa = a, fb = b;
        if (g) record(out, NONE, NONE, (gy, mayTake) -> {
            if (wants(fb)) {
                if (fb.shape().equals(gy.shape())) accShared(fb, gy);
                else { Tensor gb = be.empty(fb.shape()); be.sumTo(gy, gb); acc(fb, gb); }
            }
            return accTake(fa, gy, mayTake);
        });
        return out;
    }

    /** a * b with b broadcasting to a (LayerScale, per-channel factors). */
    public Var mul(Var a, Var b) {
        if (!a.shape().broadcastsFrom(b.shape()) && b.shape().broadcastsFrom(a.shape())) { Var t = a; a = b; b = t; }
        Checks.broadcasts("mul", a.value(), b.value());
        Tensor y = be.empty(a.shape());
        be.mul(a.value(), b.value(), y);
        boolean g = needs(a, b);
        Var out = result(y, g);
        final Var fa = a, fb = b;
        if (g) record(out, saves(valueIf(wants(fb), fa), valueIf(wants(fa), fb)), NONE, gy -> {
            if (wants(fa)) {
                Tensor ga = be.empty(fa.shape());
                be.mul(gy, fb.value(), ga);
                acc(fa, ga);
            }
            if (wants(fb)) {
                Tensor prod = be.empty(fa.shape());
                be.mul(gy, fa.value(), prod);
                if (fb.shape().equals(fa.shape())) acc(fb, prod);
                else { Tensor gb = be.empty(fb.shape()); be.sumTo(prod, gb); prod.close(); acc(fb, gb); }
            }
        });
        return out;
    }

    /** How a shape-preserving op turns x and the output gradient into x's gradient. */
    private interface UnaryBackward { void apply(Tensor x, Tensor gy, Tensor gx); }

    /** y = f(x) with x's shape; the backward needs x and gy. */
    private Var unary(Var x, java.util.function.BiConsumer<Tensor, Tensor> forward, UnaryBackward backward) {
        return unary(x, x.shape(), true, forward, backward);
    }

    /**
     * y = f(x) of shape {@code outShape}; the backward needs gy (and x when {@code savesX}) and
     * writes a gradient of x's shape.
     */
    private Var unary(Var x, Shape outShape, boolean savesX, java.util.function.BiConsumer<Tensor, Tensor> forward, UnaryBackward backward) {
        Tensor y = be.empty(outShape);
        forward.accept(x.value(), y);
        boolean g = needs(x);
        Var out = result(y, g);
        if (g) record(out, saves(savesX ? x.value() : null), NONE, gy -> {
            Tensor gx = be.empty(x.shape());
            backward.apply(x.value(), gy, gx);
            acc(x, gx);
        });
        return out;
    }

    /** s * x. */
    public Var scale(Var x, float s) {
        return unary(x, x.shape(), false, (in, y) -> be.scale(in, s, y), (in, gy, gx) -> be.scale(gy, s, gx));
    }

    /** Exact (erf) GELU. */
    public Var gelu(Var x) { return unary(x, be::gelu, be::geluBackward); }

    /**
     * linear(gelu(h), w, b) for h [..., K], w [N, K], b [N] or null -> [..., N] (an MLP's second
     * half), without keeping gelu(h): the backward recomputes it from h, so only h is saved, where
     * gelu followed by linear would keep both (the activation-recomputation trade of Korthikanti et
     * al., "Reducing Activation Recomputation in Large Transformer Models", 2022). Same values and
     * gradients as the two ops.
     */
    public Var geluLinear(Var h, Var w, Var b) { return geluLinear(h, w, b, null); }

    /**
     * {@link #geluLinear(Var, Var, Var)} times a per-channel factor gamma [N] (DINOv2's LayerScale after
     * fc2), or without it when gamma is null; the product is not kept either (see {@link #linearScaled}).
     */
    public Var geluLinear(Var h, Var w, Var b, Var gamma) { return geluLinear(h, w, b, gamma, null); }

    /**
     * residual + {@link #geluLinear(Var, Var, Var, Var)}: the LayerScale product and the residual add
     * run as one pass ({@link Backend#addcmul}) when residual [..., N] is not null; residual's gradient
     * is the output's. Same values and gradients as geluLinear then {@link #add}.
     */
    public Var geluLinear(Var h, Var w, Var b, Var gamma, Var residual) {
        String op = "geluLinear";
        int[] nk = linearShapes(op, h, w, b, gamma);
        int n = nk[0], k = nk[1], rows = (int) (h.value().numel() / k);
        Tensor a = pendingGelu.remove(h);   // made with h by layerNormLinearGelu, or computed here
        if (a == null) {
            a = be.empty(h.shape());
            be.gelu(h.value(), a);
        }
        Tensor y = linearForward(op, a, rows, k, n, w, b, gamma, residual, h.shape());
        a.close();
        boolean g = needs(h, w, b, gamma, residual);
        Var out = result(y, g);
        if (g) record(out, saves(h.value(), valueIf(wants(h) || wants(gamma), w), valueIf(wants(gamma), b), gamma == null ? null : gamma.value()), NONE, (gy, mayTake) -> {
            Tensor act = null;
            if (wants(w) || wants(gamma)) {
                act = be.empty(h.shape());
                be.gelu(h.value(), act);
            }
            Tensor ga = linearBackward(gy, act, rows, k, n, w, b, gamma, wants(h) ? h.shape() : null);
            if (act != null) act.close();
            if (ga != null) {
                be.geluBackward(h.value(), ga, ga);   // gh = gelu'(h) * ga, in place
                acc(h, ga);
            }
            return accTake(residual, gy, mayTake);   // last: the backward above has read gy
        });
        return out;
    }

    /**
     * (x W^T + b) * gamma for x [..., K], w [N, K], b [N] or null, gamma [N] (a Linear followed by
     * DINOv2's LayerScale), or linear(x, w, b) when gamma is null. Only x is saved: gamma's gradient
     * sum_rows(gy * (x W^T + b)) is computed as sum_k(W ⊙ G) + b * sum_rows(gy) with G = gy^T x, the
     * product the weight gradient needs anyway (gW = gamma ⊙ G), so the unscaled output is never kept.
     */
    public Var linearScaled(Var x, Var w, Var b, Var gamma) { return linearScaled(x, w, b, gamma, null); }

    /**
     * residual + {@link #linearScaled(Var, Var, Var, Var)}: with residual [..., N] not null, the
     * LayerScale product and the residual add run as one pass ({@link Backend#addcmul}); residual's
     * gradient is the output's. Same values and gradients as linearScaled then {@link #add}.
     */
    public Var linearScaled(Var x, Var w, Var b, Var gamma, Var residual) {
        if (gamma == null && residual == null) return linear(x, w, b);
        String op = "linearScaled";
        int[] nk = linearShapes(op, x, w, b, gamma);
        int n = nk[0], k = nk[1], rows = (int) (x.value().numel() / k);
        Tensor y = linearForward(op, x.value(), rows, k, n, w, b, gamma, residual, x.shape());
        boolean g = needs(x, w, b, gamma, residual);
        Var out = result(y, g);
        if (g) record(out, saves(valueIf(wants(w) || wants(gamma), x), valueIf(wants(x) || wants(gamma), w), valueIf(wants(gamma), b),
                gamma == null ? null : gamma.value()), NONE, (gy, mayTake) -> {
            Tensor gx = linearBackward(gy, wants(w) || wants(gamma) ? x.value() : null, rows, k, n, w, b, gamma, wants(x) ? x.shape() : null);
            if (gx != null) acc(x, gx);
            return accTake(residual, gy, mayTake);   // last: the backward above has read gy
        });
        return out;
    }

    /**
     * linear(layerNorm(x, gamma, beta, eps), w, b) for x [..., C], w [N, C]: keeps x and the row
     * statistics (which the LayerNorm backward needs anyway), not the normalised x, which the backward
     * recomputes for w's gradient. Same values and gradients as the two ops.
     */
    public Var layerNormLinear(Var x, Var gamma, Var beta, float eps, Var w, Var b) {
        return layerNormLinear("layerNormLinear", x, gamma, beta, eps, w, b, false);
    }

    /**
     * {@link #layerNormLinear} whose GELU is computed in the same GEMM launch ({@link Backend#linearGelu}:
     * on CUDA one launch writes h and gelu(h)) and held for the {@link #geluLinear} that reads the
     * returned h next, which then skips its GELU pass (a DINOv2 MLP's fc1 and fc2). Same values and
     * gradients; h's gradient is unchanged (GELU's backward belongs to geluLinear). When h goes to
     * anything else, the held tensor is freed with h ({@link #release}) or this scope.
     */
    public Var layerNormLinearGelu(Var x, Var gamma, Var beta, float eps, Var w, Var b) {
        return layerNormLinear("layerNormLinearGelu", x, gamma, beta, eps, w, b, true);
    }

    private Var layerNormLinear(String op, Var x, Var gamma, Var beta, float eps, Var w, Var b, boolean withGelu) {
        int c = x.dim(-1);
        Checks.shape(op, "gamma", gamma.value(), Shape.of(c));
        Checks.shape(op, "beta", beta.value(), Shape.of(c));
        int[] nk = linearShapes(op, x, w, b, null);
        int n = nk[0], rows = (int) (x.value().numel() / c);
        Tensor normed = be.empty(x.shape()), mean = be.empty(Shape.of(rows)), rstd = be.empty(Shape.of(rows));
        be.layerNorm(x.value(), gamma.value(), beta.value(), eps, normed, mean, rstd);
        Tensor y, act = null;
        if (withGelu) {
            y = be.empty(outShape(x.shape(), n));
            act = be.empty(y.shape());
            be.linearGelu(normed, w.value(), b == null ? null : b.value(), rows, n, c, y, act);   // y: the pre-activation h
        } else {
            y = linearForward(op, normed, rows, c, n, w, b, null, null, x.shape());
        }
        normed.close();
        boolean g = needs(x, gamma, beta, w, b);
        Var out = result(y, g);
        if (act != null) pendingGelu.put(out, act);
        boolean lnGrads = wants(x) || wants(gamma) || wants(beta);
        if (!g) free(mean, rstd);
        else record(out, saves(x.value(), gamma.value(), valueIf(wants(w), beta), valueIf(lnGrads, w)), internal(mean, rstd), gy -> {
            Tensor nx = null;
            if (wants(w)) {
                nx = be.empty(x.shape());
                be.layerNorm(x.value(), gamma.value(), beta.value(), eps, nx, null, null);
            }
            Tensor gn = linearBackward(gy, nx, rows, c, n, w, b, null, lnGrads ? x.shape() : null);
            if (nx != null) nx.close();
            if (gn == null) return;
            Tensor gg = wants(gamma) ? be.empty(gamma.shape()) : null;
            Tensor gb = wants(beta) ? be.empty(beta.shape()) : null;
            be.layerNormBackward(gn, x.value(), gamma.value(), mean, rstd, gn, gg, gb);   // gx in place of gn
            if (wants(x)) acc(x, gn); else gn.close();
            if (gg != null) acc(gamma, gg);
            if (gb != null) acc(beta, gb);
        });
        return out;
    }

    /** Checks a linear's operands (x [..., K], w [N, K], b and gamma [N] or null); returns {N, K}. */
    private static int[] linearShapes(String op, Var x, Var w, Var b, Var gamma) {
        Checks.rank(op, "weight", w.value(), 2);
        int k = w.dim(1), n = w.dim(0);
        if (x.rank() < 1 || x.dim(-1) != k) throw Checks.error(op, "input and weight do not match:", x.value(), w.value());
        if (b != null && (b.rank() != 1 || b.dim(0) != n)) throw Checks.error(op, "bias does not match weight:", b.value(), w.value());
        if (gamma != null && (gamma.rank() != 1 || gamma.dim(0) != n)) throw Checks.error(op, "scale does not match weight:", gamma.value(), w.value());
        return new int[]{n, k};
    }

    /**
     * y = residual + (a W^T + b) * gamma as a new tensor of inShape with the last dimension n (b, gamma
     * and residual may be null).
     */
    private Tensor linearForward(String op, Tensor a, int rows, int k, int n, Var w, Var b, Var gamma, Var residual, Shape inShape) {
        Shape os = outShape(inShape, n);
        if (residual != null) Checks.shape(op, "residual", residual.value(), os);
        Tensor y = be.empty(os);
        Tensor bias = b == null ? null : b.value();
        if (gamma == null && residual == null) be.linear(a, w.value(), bias, rows, n, k, y);   // bias and autocast's bf16 store included
        // LayerScale in fp32 (bf16 * fp32 promotes under autocast) and the residual add, in the GEMM's epilogue where the backend can
        else be.linearScaled(a, w.value(), bias, gamma == null ? null : gamma.value(), residual == null ? null : residual.value(), rows, n, k, y);
        return y;
    }

    /** inShape with its last dimension replaced by n. */
    private static Shape outShape(Shape inShape, int n) {
        int[] od = inShape.dims();
        od[od.length - 1] = n;
        return Shape.of(od);
    }

    /**
     * Gradients of y = (a W^T + b) * gamma (gamma may be null) for a [rows, k] (null when neither w nor
     * gamma wants a gradient): accumulates into w, b and gamma, and returns the gradient of a as a new
     * tensor of shape {@code aShape}, or null when aShape is null.
     */
    private Tensor linearBackward(Tensor gy, Tensor a, int rows, int k, int n, Var w, Var b, Var gamma, Shape aShape) {
        MatrixView gyv = MatrixView.of(gy, n);
        if (gamma == null) {
            if (wants(w)) {
                float beta = gradBeta(w);
                be.gemm(n, k, rows, 1f, gyv.t(), MatrixView.of(a, k), beta, MatrixView.of(w.grad, k), 1);
            }
            if (wants(b)) { Tensor gb = be.empty(b.shape()); be.sumTo(gy, gb); acc(b, gb); }
            if (aShape == null) return null;
            Tensor ga = be.empty(aShape);
            be.gemm(rows, k, n, 1f, gyv, MatrixView.of(w.value(), k), 0f, MatrixView.of(ga, k), 1);
            return ga;
        }
        if (wants(w) || wants(gamma)) {
            Tensor gG = be.empty(Shape.of(n, k));   // G = gy^T a
            be.gemm(n, k, rows, 1f, gyv.t(), MatrixView.of(a, k), 0f, MatrixView.of(gG, k), 1);
            if (wants(gamma)) {
                Tensor wg = be.empty(Shape.of(n, k)), dg = be.empty(Shape.of(n, 1));
                be.mul(w.value(), gG, wg);
                be.sumTo(wg, dg);                   // sum_k W ⊙ G
                wg.close();
                Tensor dgv = dg.reshape(n);
                if (b != null) {
                    Tensor sy = be.empty(Shape.of(n));
                    be.sumTo(gy, sy);
                    be.mul(sy, b.value(), sy);
                    be.add(dgv, sy, 1f, dgv);       // + b * sum_rows(gy)
                    sy.close();
                }
                acc(gamma, dgv);
            }
            if (wants(w)) {
                be.mul(gG, gamma.value().reshape(n, 1), gG);   // gW = gamma ⊙ G (row-wise)
                acc(w, gG);
            } else {
                gG.close();
            }
        }
        if (!wants(b) && aShape == null) return null;
        Tensor gs = be.empty(gy.shape());
        be.mul(gy, gamma.value(), gs);              // gy * gamma: the gradient of the unscaled output
        if (wants(b)) { Tensor gb = be.empty(b.shape()); be.sumTo(gs, gb); acc(b, gb); }
        Tensor ga = null;
        if (aShape != null) {
            ga = be.empty(aShape);
            be.gemm(rows, k, n, 1f, MatrixView.of(gs, n), MatrixView.of(w.value(), k), 0f, MatrixView.of(ga, k), 1);
        }
        gs.close();
        return ga;
    }

    public Var relu(Var x) { return unary(x, be::relu, be::reluBackward); }

    /** silu(x[..., :H]) * x[..., H:] for x [..., 2H] (DINOv2's SwiGLU FFN). */
    public Var swiglu(Var x12) {
        int two = x12.dim(-1);
        Checks.check(two % 2 == 0, "swiglu", "last dimension must be even, got shape " + x12.shape());
        int[] od = x12.shape().dims();
        od[od.length - 1] = two / 2;
        return unary(x12, Shape.of(od), true, be::swiglu, be::swigluBackward);
    }

    // ------------------------------------------------------------------ normalisation

    /** LayerNorm over the last dimension. */
    public Var layerNorm(Var x, Var gamma, Var beta, float eps) {
        int c = x.dim(-1);
        Checks.shape("layerNorm", "gamma", gamma.value(), Shape.of(c));
        Checks.shape("layerNorm", "beta", beta.value(), Shape.of(c));
        int rows = (int) (x.value().numel() / c);
        Tensor y = be.empty(x.shape()), mean = be.empty(Shape.of(rows)), rstd = be.empty(Shape.of(rows));
        be.layerNorm(x.value(), gamma.value(), beta.value(), eps, y, mean, rstd);
        boolean g = needs(x, gamma, beta);
        Var out = result(y, g);
        if (!g) free(mean, rstd);
        else record(out, saves(x.value(), gamma.value()), internal(mean, rstd), gy -> {
            Tensor gx = be.empty(x.shape());
            Tensor gg = wants(gamma) ? be.empty(gamma.shape()) : null;
            Tensor gb = wants(beta) ? be.empty(beta.shape()) : null;
            be.layerNormBackward(gy, x.value(), gamma.value(), mean, rstd, gx, gg, gb);
            acc(x, gx);
            if (gg != null) acc(gamma, gg);
            if (gb != null) acc(beta, gb);
        });
        return out;
    }

    /** BatchNorm2d over x [B, C, H, W]; in training mode the running statistics are updated. */
    public Var batchNorm2d(Var x, Var gamma, Var beta, Tensor runningMean, Tensor runningVar,
                           boolean training, float momentum, float eps) {
        Checks.rank("batchNorm2d", "input", x.value(), 4);
        int c = x.dim(1);
        Checks.shape("batchNorm2d", "weight", gamma.value(), Shape.of(c));
        Tensor y = be.empty(x.shape()), sm = be.empty(Shape.of(c)), sr = be.empty(Shape.of(c));
        be.batchNorm(x.value(), gamma.value(), beta.value(), runningMean, runningVar, training, momentum, eps, y, sm, sr);
        boolean g = needs(x, gamma, beta);
        Var out = result(y, g);
        if (!g) free(sm, sr);
        else record(out, saves(x.value(), gamma.value()), internal(sm, sr), gy -> {
            Tensor gx = be.empty(x.shape());
            Tensor gg = wants(gamma) ? be.empty(gamma.shape()) : null;
            Tensor gb = wants(beta) ? be.empty(beta.shape()) : null;
            be.batchNormBackward(gy, x.value(), gamma.value(), sm, sr, training, gx, gg, gb);
            acc(x, gx);
            if (gg != null) acc(gamma, gg);
            if (gb != null) acc(beta, gb);
        });
        return out;
    }

    // ------------------------------------------------------------------ attention

    /**
     * Fused multi-head self-attention core on DINOv2's packed qkv [B, N, 3*C] -> [B, N, C]
     * (C = heads * headDim), scale 1/sqrt(headDim).
     */
    public Var attention(Var qkv, int heads) {
        String op = "attention";
        Checks.rank(op, "qkv", qkv.value(), 3);
        int three = qkv.dim(2);
        Checks.check(three % (3 * heads) == 0, op, "last dimension " + three + " is not 3 * heads(" + heads + ") * headDim, shape " + qkv.shape());
        int bsz = qkv.dim(0), n = qkv.dim(1), c = three / 3, d = c / heads;
        float scale = (float) (1.0 / Math.sqrt(d));
        Tensor y = be.empty(Shape.of(bsz, n, c)), lse = be.empty(Shape.of(bsz, heads, n));
        be.attention(qkv.value(), heads, scale, y, lse);
        autocastStore(y);
        boolean g = needs(qkv);
        Var out = result(y, g);
        // backward recomputes the probabilities from q, k and the log-sum-exp: nothing [N, N] is kept
        if (!g) free(lse);
        else record(out, saves(qkv.value(), y), internal(lse), gy -> {
            Tensor gq = be.empty(qkv.shape());
            be.attentionBackward(qkv.value(), y, lse, gy, heads, scale, gq);
            acc(qkv, gq);
        });
        return out;
    }

    // ------------------------------------------------------------------ convolutions

    /**
     * Non-overlapping patch embedding (a p×p, stride-p conv) returning tokens: x [B, 3, H, W],
     * w [C, 3, p, p], b [C] -> [B, (H/p)*(W/p), C], the layout of DINOv2's proj(x).flatten(2).transpose(1, 2).
     */
    public Var patchEmbed(Var x, Var w, Var b, int patch) {
        String op = "patchEmbed";
        Checks.rank(op, "input", x.value(), 4);
        Checks.rank(op, "weight", w.value(), 4);
        int bsz = x.dim(0), cin = x.dim(1), h = x.dim(2), wd = x.dim(3), cout = w.dim(0);
        if (w.dim(1) != cin || w.dim(2) != patch || w.dim(3) != patch)
            throw Checks.error(op, "weight does not match input channels and patch " + patch + ":", x.value(), w.value());
        if (h % patch != 0 || wd % patch != 0)
            throw Checks.error(op, "image size is not a multiple of the patch size " + patch + ":", x.value());
        int np = (h / patch) * (wd / patch), kk = cin * patch * patch;
        Tensor cols = be.empty(Shape.of(bsz, np, kk));
        be.im2col(x.value(), patch, patch, patch, 0, cols);
        Tensor y = be.empty(Shape.of(bsz, np, cout));
        int rows = bsz * np;
        be.linear(cols, w.value(), b == null ? null : b.value(), rows, cout, kk, y);   // bias and autocast's bf16 store included
        boolean g = needs(x, w, b);
        Var out = result(y, g);
        boolean keepCols = g && wants(w);
        if (!keepCols) free(cols);
        if (g) record(out, saves(valueIf(wants(x), w)), internal(keepCols ? cols : null), gy -> {
            if (wants(w)) {
                float beta = gradBeta(w);
                be.gemm(cout, kk, rows, 1f, MatrixView.of(gy, cout).t(), MatrixView.of(cols, kk), beta, MatrixView.of(w.grad, kk), 1);
            }
            if (wants(b)) { Tensor gb = be.empty(b.shape()); be.sumTo(gy, gb); acc(b, gb); }
            if (wants(x)) {
                Tensor gcols = be.empty(cols.shape());
                be.gemm(rows, kk, cout, 1f, MatrixView.of(gy, cout), MatrixView.of(w.value(), kk), 0f, MatrixView.of(gcols, kk), 1);
                Tensor gx = be.empty(x.shape());
                be.col2im(gcols, patch, patch, patch, 0, gx);
                gcols.close();
                acc(x, gx);
            }
        });
        return out;
    }

    /** 2-D convolution x [B, Cin, H, W], w [Cout, Cin, kh, kw], b [Cout] or null -> [B, Cout, OH, OW]. */
    public Var conv2d(Var x, Var w, Var b, int stride, int pad) {
        String op = "conv2d";
        Checks.rank(op, "input", x.value(), 4);
        Checks.rank(op, "weight", w.value(), 4);
        int bsz = x.dim(0), cin = x.dim(1), h = x.dim(2), wd = x.dim(3);
        int cout = w.dim(0), kh = w.dim(2), kw = w.dim(3);
        if (w.dim(1) != cin) throw Checks.error(op, "weight input channels do not match input:", x.value(), w.value());
        if (b != null && (b.rank() != 1 || b.dim(0) != cout)) throw Checks.error(op, "bias does not match weight:", b.value(), w.value());
        int oh = (h + 2 * pad - kh) / stride + 1, ow = (wd + 2 * pad - kw) / stride + 1;
        Checks.check(oh > 0 && ow > 0, op, "kernel larger than padded input: input " + x.shape() + ", weight " + w.shape());
        int p = oh * ow, kk = cin * kh * kw;
        boolean direct = kh == 1 && kw == 1 && stride == 1 && pad == 0;
        Tensor cols = null;
        Tensor y = be.empty(Shape.of(bsz, cout, oh, ow));
        if (direct) {
            // y_b [Cout, HW] = W [Cout, Cin] @ x_b [Cin, HW]
            be.gemm(cout, p, cin, 1f, MatrixView.of(w.value(), cin), MatrixView.of(x.value(), p).batched((long) cin * p), 0f, MatrixView.of(y, p).batched((long) cout * p), bsz);
        } else {
            cols = be.empty(Shape.of(bsz, p, kk));
            be.im2col(x.value(), kh, kw, stride, pad, cols);
            // y_b [Cout, P] = W [Cout, KK] @ cols_b^T [KK, P]
            be.gemm(cout, p, kk, 1f, MatrixView.of(w.value(), kk), MatrixView.of(cols, kk).batched((long) p * kk).t(), 0f, MatrixView.of(y, p).batched((long) cout * p), bsz);
        }
        if (b != null) be.add(y, b.value().reshape(cout, 1, 1), 1f, y);
        autocastStore(y);
        boolean g = needs(x, w, b);
        Var out = result(y, g);
        boolean keepCols = g && wants(w) && cols != null;
        if (!keepCols) free(cols);
        final Tensor fcols = keepCols ? cols : null;
        if (g) record(out, saves(valueIf(wants(w) && direct, x), valueIf(wants(x), w)), internal(fcols), gy -> {
            if (wants(w)) {
                float beta = gradBeta(w);
                for (int i = 0; i < bsz; i++) {
                    if (direct) // gW [Cout, Cin] += gy_b [Cout, P] @ x_b^T [P, Cin]
                        be.gemm(cout, cin, p, 1f, MatrixView.of(gy, p).at((long) i * cout * p), MatrixView.of(x.value(), p).at((long) i * cin * p).t(), beta, MatrixView.of(w.grad, cin), 1);
                    else // gW [Cout, KK] += gy_b [Cout, P] @ cols_b [P, KK]
                        be.gemm(cout, kk, p, 1f, MatrixView.of(gy, p).at((long) i * cout * p), MatrixView.of(fcols, kk).at((long) i * p * kk), beta, MatrixView.of(w.grad, kk), 1);
                    beta = 1f;
                }
            }
            if (wants(b)) { Tensor gb = be.empty(Shape.of(cout, 1, 1)); be.sumTo(gy, gb); acc(b, gb.reshape(cout)); }
            if (wants(x)) {
                Tensor gx = be.empty(x.shape());
                if (direct) { // gx_b [Cin, P] = W^T [Cin, Cout] @ gy_b [Cout, P]
                    be.gemm(cin, p, cout, 1f, MatrixView.of(w.value(), cin).t(), MatrixView.of(gy, p).batched((long) cout * p), 0f, MatrixView.of(gx, p).batched((long) cin * p), bsz);
                } else { // gcols_b [P, KK] = gy_b^T [P, Cout] @ W [Cout, KK]
                    Tensor gcols = be.empty(Shape.of(bsz, p, kk));
                    be.gemm(p, kk, cout, 1f, MatrixView.of(gy, p).batched((long) cout * p).t(), MatrixView.of(w.value(), kk), 0f, MatrixView.of(gcols, kk).batched((long) p * kk), bsz);
                    be.col2im(gcols, kh, kw, stride, pad, gx);
                    gcols.close();
                }
                acc(x, gx);
            }
        });
        return out;
    }

    // ------------------------------------------------------------------ layout

    /** A view with another shape; the gradient is reshaped back. */
    public Var reshape(Var x, int... dims) {
        Tensor y = x.value().reshape(dims);
        boolean g = needs(x);
        // a view of x's storage: held like x when this scope owns it, never owned when x is a parameter or an input
        Var out = new Var(y, g, true);
        tape.holdIfOwned(y);
        if (g) record(out, NONE, NONE, (gy, mayTake) -> accTake(x, gy, mayTake));
        return out;
    }

    /** Dimensions permuted: out.dim(i) = x.dim(perm[i]). */
    public Var permute(Var x, int... perm) {
        Checks.check(perm.length == x.rank(), "permute", "permutation " + java.util.Arrays.toString(perm) + " does not fit shape " + x.shape());
        int[] od = new int[perm.length];
        boolean[] seen = new boolean[perm.length];
        for (int i = 0; i < perm.length; i++) {
            int p = perm[i];
            Checks.check(p >= 0 && p < perm.length && !seen[p], "permute", "invalid permutation " + java.util.Arrays.toString(perm) + " for shape " + x.shape());
            seen[p] = true;
            od[i] = x.dim(p);
        }
        Tensor y = be.empty(Shape.of(od));
        be.permute(x.value(), perm, y);
        boolean g = needs(x);
        Var out = result(y, g);
        if (g) record(out, NONE, NONE, gy -> {
            int[] inv = new int[perm.length];
            for (int i = 0; i < perm.length; i++) inv[perm[i]] = i;
            Tensor gx = be.empty(x.shape());
            be.permute(gy, inv, gx);
            acc(x, gx);
        });
        return out;
    }

    /** Concatenation along {@code axis}; all other dimensions must agree. */
    public Var concat(List<Var> xs, int axis) {
        Checks.check(!xs.isEmpty(), "concat", "nothing to concatenate");
        Shape s0 = xs.get(0).shape();
        int ax = s0.axis(axis);
        int total = 0;
        for (Var v : xs) {
            Shape s = v.shape();
            boolean ok = s.rank() == s0.rank();
            for (int i = 0; ok && i < s.rank(); i++) if (i != ax && s.dim(i) != s0.dim(i)) ok = false;
            if (!ok) throw Checks.error("concat", "shapes differ outside axis " + ax + ":", s0, s);
            total += s.dim(ax);
        }
        Shape os = s0.with(ax, total);
        int outer = (int) s0.prod(0, ax);
        long inner = s0.prod(ax + 1, s0.rank());
        long dstStride = total * inner;
        Tensor y = be.empty(os);
        long off = 0;
        long[] offs = new long[xs.size()];
        for (int i = 0; i < xs.size(); i++) {
            long len = xs.get(i).dim(ax) * inner;
            offs[i] = off;
            be.copyBlocks(xs.get(i).value(), 0, len, y, off, dstStride, outer, len, false);
            off += len;
        }
        boolean g = needs(xs.toArray(new Var[0]));
        Var out = result(y, g);
        if (g) record(out, NONE, NONE, gy -> {
            for (int i = 0; i < xs.size(); i++) {
                Var v = xs.get(i);
                if (!wants(v)) continue;
                long len = v.dim(ax) * inner;
                Tensor gv = be.empty(v.shape());
                be.copyBlocks(gy, offs[i], dstStride, gv, 0, len, outer, len, false);
                acc(v, gv);
            }
        });
        return out;
    }

    /** Elements [start, start+len) along {@code axis}. */
    public Var slice(Var x, int axis, int start, int len) {
        Shape s = x.shape();
        int ax = s.axis(axis);
        Checks.check(start >= 0 && len >= 0 && start + len <= s.dim(ax), "slice",
                "range [" + start + ", " + (start + len) + ") outside axis " + ax + " of shape " + s);
        int outer = (int) s.prod(0, ax);
        long inner = s.prod(ax + 1, s.rank());
        long srcStride = s.dim(ax) * inner, rowLen = len * inner;
        Tensor y = be.empty(s.with(ax, len));
        be.copyBlocks(x.value(), start * inner, srcStride, y, 0, rowLen, outer, rowLen, false);
        boolean g = needs(x);
        Var out = result(y, g);
        if (g) record(out, NONE, NONE, gy -> {
            Tensor gx = be.zeros(s);
            be.copyBlocks(gy, 0, rowLen, gx, start * inner, srcStride, outer, rowLen, false);
            acc(x, gx);
        });
        return out;
    }

    // ------------------------------------------------------------------ resampling

    /** Bilinear resize of x [B, C, H, W] to [B, C, oh, ow] (align_corners=false, PyTorch semantics). */
    public Var resizeBilinear(Var x, int oh, int ow) {
        Checks.rank("resizeBilinear", "input", x.value(), 4);
        Checks.check(oh > 0 && ow > 0, "resizeBilinear", "output size " + oh + "x" + ow + " must be positive for input " + x.shape());
        if (x.dim(2) == oh && x.dim(3) == ow) return x;
        Tensor y = be.empty(Shape.of(x.dim(0), x.dim(1), oh, ow));
        be.resizeBilinear(x.value(), y);
        boolean g = needs(x);
        Var out = result(y, g);
        if (g) record(out, NONE, NONE, gy -> {
            Tensor gx = be.empty(x.shape());
            be.resizeBilinearBackward(gy, gx);
            acc(x, gx);
        });
        return out;
    }

    // ------------------------------------------------------------------ reductions and loss

    /** Sum of all elements (one-element result of shape []). */
    public Var sum(Var x) {
        Tensor y = be.empty(Shape.scalar());
        be.sumAll(x.value(), y);
        boolean g = needs(x);
        Var out = result(y, g);
        if (g) record(out, NONE, NONE, gy -> {
            Tensor gx = be.zeros(x.shape());
            be.add(gx, gy, 1f, gx);
            acc(x, gx);
        });
        return out;
    }

    /** Mean of all elements. */
    public Var mean(Var x) {
        Var s = sum(x);
        Var m = scale(s, (float) (1.0 / x.value().numel()));
        release(s);
        return m;
    }

    /**
     * Softmax cross-entropy of logits [B, K, ...] against int labels [B, ...]; pixels labelled
     * {@code ignoreIndex} (or out of range) are left out; optional class weights [K]. Returns the
     * mean loss (shape []).
     */
    public Var crossEntropy(Var logits, Tensor labels, Tensor classWeights, int ignoreIndex) {
        String op = "crossEntropy";
        Checks.dtype(op, "labels", labels, DType.I32);
        Shape ls = logits.shape();
        boolean ok = ls.rank() >= 2 && labels.rank() == ls.rank() - 1 && labels.dim(0) == ls.dim(0);
        for (int i = 2; ok && i < ls.rank(); i++) ok = labels.dim(i - 1) == ls.dim(i);
        if (!ok) throw Checks.error(op, "labels do not match logits [B, K, ...]:", logits.value(), labels);
        if (classWeights != null) Checks.shape(op, "class weights", classWeights, Shape.of(ls.dim(1)));
        boolean g = needs(logits);
        Tensor loss = be.empty(Shape.scalar());
        Tensor glog = g ? be.empty(ls) : null;
        be.softmaxCrossEntropy(logits.value(), labels, classWeights, ignoreIndex, loss, glog);
        Var out = result(loss, g);
        if (g) record(out, NONE, internal(glog), gy -> {
            // gy is one element: scale the saved dloss/dlogits by it without leaving the device
            // the saved dloss/dlogits becomes the logits' gradient: the tape no longer frees it
            be.mul(glog, gy, glog);
            tape.disown(glog);
            acc(logits, glog);
        });
        return out;
    }

    /**
     * crossEntropy(resizeBilinear(grid, oh, ow), labels, ...) for head logits at the patch grid, grid
     * [B, K, h, w], and labels [B, oh, ow], without keeping anything of size B·K·oh·ow between the
     * forward and the backward: the forward upsamples into one buffer, takes the loss (and shows the
     * buffer to {@code seeLogits}, e.g. for the confusion matrix, when it is not null) and frees it;
     * the backward upsamples again (cheap: a gather of four taps per pixel), turns the buffer into
     * d loss / d logits in place and resizes that back to the grid. Where crossEntropy after
     * resizeBilinear keeps the B·K·oh·ow gradient from the forward to the backward (70 MB for VOC's 21
     * classes at 644×644, batch 2), this keeps only the grid. Same loss and gradients as the two ops.
     * labels and classWeights (or null) must stay open until the backward ran. Returns the mean loss
     * (shape []).
     */
    public Var crossEntropyUpsampled(Var grid, int oh, int ow, Tensor labels, Tensor classWeights, int ignoreIndex,
                                     java.util.function.Consumer<Tensor> seeLogits) {
        String op = "crossEntropyUpsampled";
        Checks.rank(op, "logits", grid.value(), 4);
        Checks.check(oh > 0 && ow > 0, op, "output size " + oh + "x" + ow + " must be positive for logits " + grid.shape());
        Checks.dtype(op, "labels", labels, DType.I32);
        Shape up = Shape.of(grid.dim(0), grid.dim(1), oh, ow);
        if (!labels.shape().equals(Shape.of(grid.dim(0), oh, ow)))
            throw Checks.error(op, "labels do not match the upsampled logits " + up + ":", grid.value(), labels);
        if (classWeights != null) Checks.shape(op, "class weights", classWeights, Shape.of(grid.dim(1)));
        boolean same = grid.dim(2) == oh && grid.dim(3) == ow;
        Tensor loss = be.empty(Shape.scalar());
        Tensor u = same ? grid.value() : be.empty(up);
        try {
            if (!same) be.resizeBilinear(grid.value(), u);
            be.softmaxCrossEntropy(u, labels, classWeights, ignoreIndex, loss, null);
            if (seeLogits != null) seeLogits.accept(u);
        } finally {
            if (!same) u.close();
        }
        boolean g = needs(grid);
        Var out = result(loss, g);
        if (g) record(out, saves(grid.value()), NONE, gy -> {
            Tensor gu = be.empty(up);
            if (same) be.copy(grid.value(), gu);
            else be.resizeBilinear(grid.value(), gu);
            try (Tensor scratch = be.empty(Shape.scalar())) {
                be.softmaxCrossEntropy(gu, labels, classWeights, ignoreIndex, scratch, gu);   // in place
            }
            be.mul(gu, gy, gu);
            if (same) { acc(grid, gu); return; }
            Tensor gx = be.empty(grid.shape());
            be.resizeBilinearBackward(gu, gx);
            gu.close();
            acc(grid, gx);
        });
        return out;
    }
}
