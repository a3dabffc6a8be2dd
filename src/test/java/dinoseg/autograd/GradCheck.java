package dinoseg.autograd;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.ref.DTensor;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Checks one differentiable op twice:
 * <ol>
 *   <li>its float forward (through {@link Ops} on the CPU backend) against a double-precision
 *       reference forward;</li>
 *   <li>the analytic gradients that {@link Tape#backward} gives for loss = sum(out * R), R a fixed
 *       random tensor, against central finite differences of the <em>double</em> reference, for
 *       every input that requires a gradient (and checks that the others get none).</li>
 * </ol>
 * Usage: {@code GradCheck.of("linear", seed).input("x", 2, 3).input("w", 4, 3).run((ops, v) -> ..., r -> ...)}.
 */
public final class GradCheck {
    /** The float side: builds the op from Vars (in input order). */
    public interface FloatFn { Var apply(Ops ops, List<Var> in); }

    /** The double reference of the same op (inputs in the same order). */
    public interface RefFn { DTensor apply(List<DTensor> in); }

    /** What a check measured: worst forward and gradient errors relative to the scale used. */
    public record Report(double forwardError, double gradError) { }

    private final String op;
    private final SplittableRandom rng;
    private final List<String> names = new ArrayList<>();
    private final List<DTensor> values = new ArrayList<>();
    private final List<Boolean> grads = new ArrayList<>();
    private double forwardTol = 1e-5, gradTol = 3e-5, h = 1e-6;
    private final Backend be = Backends.cpu();

    private GradCheck(String op, long seed) {
        this.op = op;
        this.rng = new SplittableRandom(seed);
    }

    public static GradCheck of(String op, long seed) { return new GradCheck(op, seed); }

    public SplittableRandom rng() { return rng; }

    /** The (float-rounded) value of a named input, as both sides saw it. */
    public DTensor value(String name) { return values.get(names.indexOf(name)); }

    /** An input taking a gradient, uniform in [-1, 1). */
    public GradCheck input(String name, int... shape) { return input(name, DTensor.random(rng, shape), true); }

    /** A constant input (no gradient), uniform in [-1, 1). */
    public GradCheck constant(String name, int... shape) { return input(name, DTensor.random(rng, shape), false); }

    /** An input with given values (rounded to float so both sides see the same numbers). */
    public GradCheck input(String name, DTensor value, boolean requiresGrad) {
        DTensor v = DTensor.fromFloats(value.toFloats(), value.shape());
        names.add(name);
        values.add(v);
        grads.add(requiresGrad);
        return this;
    }

    /** Forward tolerance: max |float - ref| &lt;= tol * max(1, max |ref|). */
    public GradCheck forwardTol(double tol) { this.forwardTol = tol; return this; }

    /** Gradient tolerance: max |analytic - numeric| &lt;= tol * max(1, max |numeric|), per input. */
    public GradCheck gradTol(double tol) { this.gradTol = tol; return this; }

    public GradCheck step(double h) { this.h = h; return this; }

    /**
     * Checks gradients along {@code k} random directions u instead of element by element:
     * &lt;analytic, u&gt; against (f(x + h u) - f(x - h u)) / 2h, for inputs too large for a full
     * finite-difference sweep. The error is measured against max(1, sum |analytic_j u_j|).
     */
    public GradCheck directions(int k) { this.directions = k; return this; }

    private int directions;

    private static double maxAbs(double[] a) {
        double m = 0;
        for (double v : a) m = Math.max(m, Math.abs(v));
        return m;
    }

    /** Runs both checks; fails with a message naming the op, the input and the worst element. */
    public Report run(FloatFn f, RefFn ref) {
        Ops ops = new Ops(be);
        List<Var> vars = new ArrayList<>();
        for (int i = 0; i < values.size(); i++)
            vars.add(new Var(be.fromFloats(values.get(i).toFloats(), Shape.of(values.get(i).shape())), grads.get(i)));
        Var out = f.apply(ops, vars);

        // (a) forward
        DTensor want = ref.apply(values);
        if (!Shape.of(want.shape()).equals(out.shape()))
            fail(op + ": float output shape " + out.shape() + " differs from reference " + Shape.of(want.shape()));
        float[] got = be.toFloats(out.value());
        double scale = Math.max(1, maxAbs(want.data)), fwdErr = 0;
        int worst = -1;
        for (int i = 0; i < got.length; i++) {
            double e = Math.abs(got[i] - want.data[i]);
            if (!(e <= fwdErr)) { fwdErr = e; worst = i; }
        }
        if (!(fwdErr <= forwardTol * scale))
            fail(String.format("%s forward: element %d float %.9g vs reference %.9g (error %.3g > %.3g)",
                    op, worst, got[worst], want.data[worst], fwdErr, forwardTol * scale));

        // (b) gradients of loss = sum(out * R)
        DTensor r = DTensor.random(rng, want.shape());
        boolean anyGrad = grads.contains(true);
        if (!anyGrad) return report(new Report(fwdErr / scale, 0));
        Var loss = ops.sum(ops.mul(out, Var.constant(be.fromFloats(r.toFloats(), out.shape()))));
        ops.backward(loss);
        double gradErrMax = 0;
        for (int i = 0; i < values.size(); i++) {
            Var v = vars.get(i);
            if (!grads.get(i)) { assertNull(v.grad(), op + ": constant input " + names.get(i) + " received a gradient"); continue; }
            assertNotNull(v.grad(), op + ": input " + names.get(i) + " received no gradient");
            float[] analytic = be.toFloats(v.grad());
            if (directions > 0) {
                gradErrMax = Math.max(gradErrMax, directional(ref, i, r, analytic));
                continue;
            }
            double[] numeric = numericGrad(ref, i, r);
            double gs = Math.max(1, maxAbs(numeric)), err = 0;
            int w = -1;
            for (int j = 0; j < numeric.length; j++) {
                double e = Math.abs(analytic[j] - numeric[j]);
                if (!(e <= err)) { err = e; w = j; }
            }
            if (!(err <= gradTol * gs))
                fail(String.format("%s gradient of %s %s: element %d analytic %.9g vs finite difference %.9g (error %.3g > %.3g)",
                        op, names.get(i), Shape.of(values.get(i).shape()), w, analytic[w], numeric[w], err, gradTol * gs));
            gradErrMax = Math.max(gradErrMax, err / gs);
        }
        if (ops.tape.size() != 0) fail(op + ": tape not empty after backward");
        return report(new Report(fwdErr / scale, gradErrMax));
    }

    /** With -Dgradcheck.verbose=true every check prints its measured errors (to size tolerances). */
    private Report report(Report r) {
        if (Boolean.getBoolean("gradcheck.verbose"))
            System.err.printf("gradcheck %-40s forward %.2e  grad %.2e%n", op, r.forwardError(), r.gradError());
        return r;
    }

    private double directional(RefFn ref, int which, DTensor r, float[] analytic) {
        double worst = 0;
        for (int d = 0; d < directions; d++) {
            DTensor u = DTensor.random(rng, values.get(which).shape());
            List<DTensor> in = new ArrayList<>(values);
            DTensor x = values.get(which).copy();
            in.set(which, x);
            double[] keep = x.data.clone();
            for (int j = 0; j < keep.length; j++) x.data[j] = keep[j] + h * u.data[j];
            double up = dot(ref.apply(in), r);
            for (int j = 0; j < keep.length; j++) x.data[j] = keep[j] - h * u.data[j];
            double down = dot(ref.apply(in), r);
            double numeric = (up - down) / (2 * h), analyticDot = 0, mag = 0;
            for (int j = 0; j < keep.length; j++) { analyticDot += analytic[j] * u.data[j]; mag += Math.abs(analytic[j] * u.data[j]); }
            double scale = Math.max(1, mag), err = Math.abs(analyticDot - numeric);
            if (!(err <= gradTol * scale))
                fail(String.format("%s gradient of %s %s along direction %d: analytic %.9g vs finite difference %.9g (error %.3g > %.3g)",
                        op, names.get(which), Shape.of(values.get(which).shape()), d, analyticDot, numeric, err, gradTol * scale));
            worst = Math.max(worst, err / scale);
        }
        return worst;
    }

    /** Central differences of sum(ref(inputs) * r) with respect to input {@code which}, in double. */
    private double[] numericGrad(RefFn ref, int which, DTensor r) {
        List<DTensor> in = new ArrayList<>(values);
        DTensor x = values.get(which).copy();
        in.set(which, x);
        double[] g = new double[x.numel()];
        for (int j = 0; j < g.length; j++) {
            double keep = x.data[j];
            x.data[j] = keep + h;
            double up = dot(ref.apply(in), r);
            x.data[j] = keep - h;
            double down = dot(ref.apply(in), r);
            x.data[j] = keep;
            g[j] = (up - down) / (2 * h);
        }
        return g;
    }

    private static double dot(DTensor a, DTensor b) {
        double s = 0;
        for (int i = 0; i < a.data.length; i++) s += a.data[i] * b.data[i];
        return s;
    }

    /** Host floats of a tensor as a DTensor (for comparing extra outputs such as running stats). */
    public static DTensor toD(Backend be, Tensor t) { return DTensor.fromFloats(be.toFloats(t), t.shape().dims()); }
}
