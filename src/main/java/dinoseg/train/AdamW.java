package dinoseg.train;

import dinoseg.backend.Backend;
import dinoseg.nn.Parameter;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * PyTorch's {@code torch.optim.AdamW} over parameter groups, each with its own learning rate and
 * weight decay (decoupled: {@code p -= lr*wd*p} before the Adam update, bias-corrected moments).
 *
 * <p>As in PyTorch, a parameter's moments are created on its first step with a gradient, and its
 * bias correction uses its own step count, so a parameter that had no gradient in some step (frozen
 * for a while, unused branch) is updated exactly as PyTorch would. Parameters without a gradient are
 * skipped. {@link #state()} and {@link #loadState} export and import everything needed to resume
 * bit-exactly: the step counter, the current learning rates, and each parameter's m, v and step.
 *
 * <p>{@link #capturable} is PyTorch's {@code capturable=True}: the scalars of each parameter's step
 * (lr, lr / (1 - beta1^step), sqrt(1 - beta2^step)) are written to a device tensor before its
 * update kernels run and read by them there, so the update can be recorded in a CUDA graph
 * ({@link #captureUpdate}) and replayed step after step ({@link #advance} before each replay). The
 * values are the same as those of an ordinary step.
 */
public final class AdamW {
    /** A set of parameters sharing a learning rate and weight decay; names must be unique. */
    public record ParamGroup(String name, List<Parameter> params, double lr, double weightDecay) {
        public ParamGroup {
            if (name == null || name.isEmpty()) throw new IllegalArgumentException("AdamW: a parameter group needs a name");
            params = List.copyOf(params);
            if (!(lr >= 0)) throw new IllegalArgumentException("AdamW: group " + name + " has invalid learning rate " + lr);
            if (!(weightDecay >= 0)) throw new IllegalArgumentException("AdamW: group " + name + " has invalid weight decay " + weightDecay);
        }
    }

    /** One parameter's optimizer state as host arrays: first and second moments and its step count. */
    public record ParamState(int step, float[] m, float[] v) { }

    /**
     * The whole optimizer state. {@code params} is keyed {@code "<group name>/<index in group>"} and
     * holds only the parameters that have had a step.
     */
    public record State(int step, double[] lrs, Map<String, ParamState> params) { }

    private static final class Slot {
        final Tensor m, v;
        int step;

        Slot(Tensor m, Tensor v, int step) {
            this.m = m;
            this.v = v;
            this.step = step;
        }
    }

    private final Backend be;
    private final List<ParamGroup> groups;
    private final double[] lrs;
    private final double beta1, beta2, eps;
    private final Map<Parameter, Slot> slots = new IdentityHashMap<>();
    private int step;
    /** capturable: the row of each trainable parameter in {@link #scalars}, its host copy, the device tensor [P, 3]. */
    private Map<Parameter, Integer> rows;
    private float[] hostScalars;
    private Tensor scalars;
    /** The updates {@link #captureUpdate} recorded: group index and parameter, in launch order. */
    private List<Map.Entry<Integer, Parameter>> captured;

    /** AdamW with PyTorch's defaults: betas (0.9, 0.999), eps 1e-8. */
    public AdamW(Backend be, List<ParamGroup> groups) { this(be, groups, 0.9, 0.999, 1e-8); }

    public AdamW(Backend be, List<ParamGroup> groups, double beta1, double beta2, double eps) {
        if (groups.isEmpty()) throw new IllegalArgumentException("AdamW: no parameter groups");
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
            throw new IllegalArgumentException("AdamW: betas must be in [0, 1), got (" + beta1 + ", " + beta2 + ")");
        if (!(eps >= 0)) throw new IllegalArgumentException("AdamW: invalid eps " + eps);
        Set<String> names = new HashSet<>();
        Set<Parameter> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (ParamGroup g : groups) {
            if (!names.add(g.name())) throw new IllegalArgumentException("AdamW: duplicate parameter group " + g.name());
            for (Parameter p : g.params()) {
                if (!seen.add(p)) throw new IllegalArgumentException("AdamW: a parameter appears twice (group " + g.name() + ")");
                if (p.isBuffer()) throw new IllegalArgumentException("AdamW: group " + g.name() + " holds a buffer, which is never trained");
            }
        }
        this.be = be;
        this.groups = List.copyOf(groups);
        this.lrs = new double[groups.size()];
        for (int i = 0; i < lrs.length; i++) lrs[i] = groups.get(i).lr();
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
    }

    /** Convenience: one group named "all" holding every trainable parameter. */
    public static AdamW single(Backend be, List<Parameter> params, double lr, double weightDecay) {
        List<Parameter> ps = new ArrayList<>();
        for (Parameter p : params) if (!p.isBuffer()) ps.add(p);
        return new AdamW(be, List.of(new ParamGroup("all", ps, lr, weightDecay)));
    }

    public List<ParamGroup> groups() { return groups; }

    /** Number of {@link #step()} calls so far (after a resume: including the ones before it). */
    public int stepCount() { return step; }

    /** The current learning rate of group {@code i} (its group's lr until a scheduler sets it). */
    public double lr(int i) { return lrs[i]; }

    public void setLr(int i, double lr) {
        if (!(lr >= 0)) throw new IllegalArgumentException("AdamW: invalid learning rate " + lr + " for group " + groups.get(i).name());
        lrs[i] = lr;
    }

    public void setLr(String group, double lr) { setLr(indexOf(group), lr); }

    /** Sets every group's lr to its base lr (the ParamGroup's) times {@code factor}: what a scheduler does. */
    public void scaleBaseLrs(double factor) {
        for (int i = 0; i < lrs.length; i++) setLr(i, groups.get(i).lr() * factor);
    }

    private int indexOf(String group) {
        for (int i = 0; i < groups.size(); i++) if (groups.get(i).name().equals(group)) return i;
        throw new IllegalArgumentException("AdamW: no parameter group named " + group);
    }

    /**
     * PyTorch's {@code capturable=True} (see the class comment): from the next step on, each step's
     * scalars are written to device memory and read by the update kernels. Same values as before.
     */
    public AdamW capturable() {
        if (rows != null) return this;
        rows = new IdentityHashMap<>();
        for (ParamGroup g : groups) for (Parameter p : g.params()) rows.put(p, rows.size());
        hostScalars = new float[3 * rows.size()];
        scalars = be.zeros(Shape.of(rows.size(), 3));
        return this;
    }

    /** Whether {@link #capturable} was called. */
    public boolean isCapturable() { return rows != null; }

    /** One update of every parameter that has a gradient. */
    public void step() {
        if (rows != null) {
            capturableStep();
            return;
        }
        step++;
        for (int gi = 0; gi < groups.size(); gi++) {
            ParamGroup g = groups.get(gi);
            float lr = (float) lrs[gi], wd = (float) g.weightDecay();
            for (Parameter p : g.params()) {
                Tensor grad = p.grad();
                if (grad == null) continue;
                Slot s = slots.get(p);
                if (s == null) {
                    s = new Slot(be.zeros(p.shape()), be.zeros(p.shape()), 0);
                    slots.put(p, s);
                }
                s.step++;
                be.adamw(p.value(), grad, s.m, s.v, lr, (float) beta1, (float) beta2, (float) eps, wd, s.step);
            }
        }
    }

    private void capturableStep() {
        step++;
        List<Map.Entry<Integer, Parameter>> stepping = withGradients(true);
        for (Map.Entry<Integer, Parameter> e : stepping) slots.get(e.getValue()).step++;
        writeScalars(stepping);
        queueUpdates(stepping);
    }

    /**
     * (group index, parameter) of every parameter with a gradient, in group order; a parameter
     * without moments gets them ({@code makeMoments}) or is an error (a capture must not make them).
     */
    private List<Map.Entry<Integer, Parameter>> withGradients(boolean makeMoments) {
        List<Map.Entry<Integer, Parameter>> stepping = new ArrayList<>();
        for (int gi = 0; gi < groups.size(); gi++)
            for (int i = 0; i < groups.get(gi).params().size(); i++) {
                Parameter p = groups.get(gi).params().get(i);
                if (p.grad() == null) continue;
                if (makeMoments) slots.computeIfAbsent(p, q -> new Slot(be.zeros(q.shape()), be.zeros(q.shape()), 0));
                else if (!slots.containsKey(p))
                    throw new IllegalStateException("AdamW: parameter " + groups.get(gi).name() + "/" + i
                            + " has had no step: take an ordinary step before capturing one");
                stepping.add(Map.entry(gi, p));
            }
        return stepping;
    }

    /** Row of each stepping parameter: lr, lr / bc1, sqrt(bc2) at its step (as the kernel's scalar arguments would be); then one upload. */
    private void writeScalars(List<Map.Entry<Integer, Parameter>> stepping) {
        float b1 = (float) beta1, b2 = (float) beta2;
        for (Map.Entry<Integer, Parameter> e : stepping) {
            float lr = (float) lrs[e.getKey()];
            int t = slots.get(e.getValue()).step, row = 3 * rows.get(e.getValue());
            double bc1 = 1 - Math.pow(b1, t), bc2 = 1 - Math.pow(b2, t);
            hostScalars[row] = lr;
            hostScalars[row + 1] = (float) (lr / bc1);
            hostScalars[row + 2] = (float) Math.sqrt(bc2);
        }
        be.writeFloats(hostScalars, 0, scalars, 0, hostScalars.length);
    }

    private void queueUpdates(List<Map.Entry<Integer, Parameter>> stepping) {
        for (Map.Entry<Integer, Parameter> e : stepping) {
            Parameter p = e.getValue();
            Slot s = slots.get(p);
            be.adamw(p.value(), p.grad(), s.m, s.v, scalars, rows.get(p), (float) beta1, (float) beta2, (float) eps,
                    (float) groups.get(e.getKey()).weightDecay());
        }
    }

    /**
     * Queues the update of every parameter that has a gradient, reading the scalars the next
     * {@link #advance} writes, and remembers which: what a captured training step holds. Step
     * counts do not move here (a capture runs nothing).
     *
     * @throws IllegalStateException when not {@link #capturable}, or a parameter with a gradient has
     *     had no step yet (its moments would be made inside the capture: take one ordinary step first)
     */
    public void captureUpdate() {
        if (rows == null) throw new IllegalStateException("AdamW: captureUpdate needs a capturable optimizer");
        List<Map.Entry<Integer, Parameter>> stepping = withGradients(false);
        queueUpdates(stepping);
        captured = stepping;
    }

    /**
     * The host half of a replayed step: counts one more step for the optimizer and for each
     * parameter {@link #captureUpdate} recorded, and writes their scalars (at the current learning
     * rates) to the device, ahead of the replay on the same stream.
     *
     * @throws IllegalStateException when no update was captured
     */
    public void advance() {
        if (captured == null) throw new IllegalStateException("AdamW: advance needs a captured update (captureUpdate)");
        step++;
        for (Map.Entry<Integer, Parameter> e : captured) slots.get(e.getValue()).step++;
        writeScalars(captured);
    }

    /**
     * {@code torch.nn.utils.clip_grad_norm_(params, maxNorm)} over every parameter of every group
     * that has a gradient: total = sqrt(Σ ‖g‖²) (the L2 norm of all gradients as one vector); when
     * maxNorm / (total + 1e-6) &lt; 1 every gradient is multiplied by it (PyTorch's clip_coef, clamped
     * at 1), else the gradients are left as they are. A non-finite total scales by 0 (infinite) or NaN,
     * as PyTorch 1.13 does without {@code error_if_nonfinite}.
     *
     * @param maxNorm the largest total norm kept, &gt; 0
     * @return the total norm before clipping (0 when no parameter has a gradient)
     * @throws IllegalArgumentException when maxNorm is not positive
     */
    public double clipGradNorm(double maxNorm) {
        if (!(maxNorm > 0)) throw new IllegalArgumentException("clip_grad_norm: max norm must be positive, got " + maxNorm);
        double sq = 0;
        for (ParamGroup g : groups)
            for (Parameter p : g.params()) if (p.grad() != null) sq += be.sumSquares(p.grad());
        double total = Math.sqrt(sq);
        double coef = maxNorm / (total + 1e-6);
        if (coef < 1 || Double.isNaN(coef))
            for (ParamGroup g : groups)
                for (Parameter p : g.params()) if (p.grad() != null) be.scale(p.grad(), (float) coef, p.grad());
        return total;
    }

    /** Multiplies every gradient by {@code factor} (gradient accumulation's normalisation). */
    public void scaleGrads(double factor) {
        for (ParamGroup g : groups)
            for (Parameter p : g.params()) if (p.grad() != null) be.scale(p.grad(), (float) factor, p.grad());
    }

    /** Drops the gradient of every parameter in every group. */
    public void zeroGrad() {
        for (ParamGroup g : groups) for (Parameter p : g.params()) p.zeroGrad();
    }

    /** A host copy of the whole state. */
    public State state() {
        Map<String, ParamState> ps = new LinkedHashMap<>();
        for (ParamGroup g : groups) {
            List<Parameter> list = g.params();
            for (int i = 0; i < list.size(); i++) {
                Slot s = slots.get(list.get(i));
                if (s != null) ps.put(g.name() + "/" + i, new ParamState(s.step, be.toFloats(s.m), be.toFloats(s.v)));
            }
        }
        return new State(step, lrs.clone(), ps);
    }

    /**
     * Restores a state exported by {@link #state()} from an optimizer over the same groups (same
     * names, same parameter shapes in the same order). Replaces all current moments.
     */
    public void loadState(State st) {
        if (st.lrs().length != groups.size())
            throw new IllegalArgumentException("AdamW state: has " + st.lrs().length + " groups, the optimizer has " + groups.size());
        Map<Parameter, Slot> fresh = new IdentityHashMap<>();
        Set<String> used = new HashSet<>();
        for (ParamGroup g : groups) {
            List<Parameter> list = g.params();
            for (int i = 0; i < list.size(); i++) {
                String key = g.name() + "/" + i;
                ParamState s = st.params().get(key);
                if (s == null) continue;
                used.add(key);
                Shape shape = list.get(i).shape();
                if (s.m().length != shape.numel() || s.v().length != shape.numel())
                    throw new IllegalArgumentException("AdamW state: " + key + " holds " + s.m().length + "/" + s.v().length
                            + " values, the parameter has shape " + shape);
                if (s.step() < 1) throw new IllegalArgumentException("AdamW state: " + key + " has step " + s.step());
                fresh.put(list.get(i), new Slot(be.fromFloats(s.m(), shape), be.fromFloats(s.v(), shape), s.step()));
            }
        }
        for (String k : st.params().keySet())
            if (!used.contains(k)) throw new IllegalArgumentException("AdamW state: entry " + k + " matches no parameter of this optimizer");
        for (int i = 0; i < lrs.length; i++) setLr(i, st.lrs()[i]);
        for (Slot s : slots.values()) {   // the replaced moments: memory back now, not at the next GC
            s.m.close();
            s.v.close();
        }
        slots.clear();
        slots.putAll(fresh);
        step = st.step();
    }
}
