package dinoseg.bench;

import com.google.gson.JsonObject;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.backend.MatrixView;
import dinoseg.backend.Precision;
import dinoseg.backend.cpu.CpuBackend;
import dinoseg.model.BackboneConfig;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.LongSupplier;

/**
 * Micro-benchmarks of the two op families that dominate a step, on the shapes of the chosen
 * model, image size and batch, in the manner of llm.c's {@code dev/cuda}: for each case a
 * reference, a check and a timing.
 * <ul>
 *   <li>{@code gemm}: the forward GEMMs of one block (qkv, proj, fc1, fc2; tokens = batch × (1 +
 *       registers + (imgsz/patch)²)) and fc1's weight gradient (k = tokens), FLOPs 2mnk;</li>
 *   <li>{@code attention}: the fused forward and backward of all heads, FLOPs 4·B·H·N²·D forward
 *       and 2.5 times that backward (FlashAttention-2's count).</li>
 * </ul>
 * The reference is the CPU backend at the same {@link Precision} on a slice (the first 256 rows of
 * a GEMM, the first batch entry of attention); the check is the largest |difference| relative to
 * the largest |reference| value ({@code max_rel_err}; null when the benchmarked backend is the CPU). Timing: warm-up runs (at least --warmup and 1 s; none with --warmup 0), then the median of timed runs, each ending
 * with {@link Backend#synchronize}. One JSON object per case; {@code tools/torch_ops.py} prints
 * PyTorch's for the same cases.
 */
public final class OpBench {
    private OpBench() { }

    /** One GEMM of a step: C[m, n] = op(A) op(B), A stored k×m when ta, B stored n×k when tb. */
    record Gemm(String name, boolean ta, boolean tb, int m, int n, int k) { }

    static int tokensPerImage(BackboneConfig bc, int imgsz) {
        int g = imgsz / bc.patch();
        return 1 + bc.registers() + g * g;
    }

    /** The GEMMs of one block of bc at imgsz, batch images (as nn.Linear computes them). */
    static List<Gemm> gemms(BackboneConfig bc, int imgsz, int batch) {
        int t = batch * tokensPerImage(bc, imgsz), c = bc.embedDim(), h = bc.ffnHidden();
        int fc1Out = bc.swiglu() ? 2 * h : h;
        return List.of(new Gemm("qkv", false, true, t, 3 * c, c),
                new Gemm("proj", false, true, t, c, c),
                new Gemm("fc1", false, true, t, fc1Out, c),
                new Gemm("fc2", false, true, t, c, h),
                new Gemm("fc1 weight grad", true, false, fc1Out, c, t));
    }

    /** Runs the cases of {@code op} ("gemm" or "attention") on be; one JSON object each. */
    public static List<JsonObject> run(Bench.Config c, Backend be, String op) {
        BackboneConfig bc = BackboneConfig.parse(c.backbone());
        List<JsonObject> out = new ArrayList<>();
        try (Backend ref = Backends.cpu() == be ? null : new CpuBackend()) {
            Backend r = ref == null ? be : ref;
            r.setMatmulPrecision(c.precision());
            be.setMatmulPrecision(c.precision());
            if (op.equals("gemm")) {
                // whole products, packing included, as tools/torch_ops.py times PyTorch's
                CpuBackend prepacking = be instanceof CpuBackend cpu && cpu.prepack() ? cpu : null;
                if (prepacking != null) prepacking.setPrepack(false);
                try {
                    for (Gemm g : gemms(bc, c.imgsz(), c.batch())) out.add(gemm(c, be, r, g));
                } finally {
                    if (prepacking != null) prepacking.setPrepack(true);
                }
            } else {
                out.addAll(attention(c, be, r, bc));
            }
        } finally {
            be.setMatmulPrecision(Precision.FP32);
        }
        return out;
    }

    private static JsonObject gemm(Bench.Config c, Backend be, Backend ref, Gemm g) {
        SplittableRandom rng = new SplittableRandom(1);
        float[] a = randn(rng, (long) g.m() * g.k()), b = randn(rng, (long) g.k() * g.n());
        int lda = g.ta() ? g.m() : g.k(), ldb = g.tb() ? g.k() : g.n();
        Tensor ta = be.fromFloats(a, Shape.of(a.length)), tb = be.fromFloats(b, Shape.of(b.length)), tc = be.empty(Shape.of(Math.toIntExact((long) g.m() * g.n())));
        MatrixView va = MatrixView.of(ta, lda).t(g.ta()), vb = MatrixView.of(tb, ldb).t(g.tb()), vc = MatrixView.of(tc, g.n());
        Runnable once = () -> be.gemm(g.m(), g.n(), g.k(), 1f, va, vb, 0f, vc, 1);
        double ms = time(be, once, c.warmup(), c.iters()) * 1e3;
        // reference: the first rows on the CPU (rows of op(A) are columns of A when transposed: same ld)
        int rows = Math.min(g.m(), 256);
        Tensor ra = ref == be ? ta : ref.fromFloats(a, Shape.of(a.length)), rb = ref == be ? tb : ref.fromFloats(b, Shape.of(b.length));
        Tensor rc = ref.empty(Shape.of(rows * g.n()));
        ref.gemm(rows, g.n(), g.k(), 1f, MatrixView.of(ra, lda).t(g.ta()), MatrixView.of(rb, ldb).t(g.tb()), 0f, MatrixView.of(rc, g.n()), 1);
        float[] want = ref.toFloats(rc), got = be.toFloats(tc);
        JsonObject o = header(c, be, "gemm", g.name());
        o.addProperty("m", g.m());
        o.addProperty("n", g.n());
        o.addProperty("k", g.k());
        o.addProperty("transposes", (g.ta() ? "T" : "N") + (g.tb() ? "T" : "N"));
        o.addProperty("ms_median", round(ms, 4));
        o.addProperty("tflops", round(2.0 * g.m() * g.n() * g.k() / (ms * 1e-3) / 1e12, 3));
        if (ref == be) o.add("max_rel_err", com.google.gson.JsonNull.INSTANCE);   // the CPU is its own reference
        else o.addProperty("max_rel_err", relErr(want, got, want.length));
        return o;
    }

    private static List<JsonObject> attention(Bench.Config c, Backend be, Backend ref, BackboneConfig bc) {
        int b = c.batch(), n = tokensPerImage(bc, c.imgsz()), h = bc.heads(), d = bc.embedDim() / h, cc = bc.embedDim();
        float scale = (float) (1 / Math.sqrt(d));
        SplittableRandom rng = new SplittableRandom(2);
        float[] qkv = randn(rng, (long) b * n * 3 * cc), gout = randn(rng, (long) b * n * cc);
        Tensor x = be.fromFloats(qkv, Shape.of(b, n, 3 * cc)), go = be.fromFloats(gout, Shape.of(b, n, cc));
        Tensor out = be.empty(Shape.of(b, n, cc)), lse = be.empty(Shape.of(b, h, n)), gx = be.empty(Shape.of(b, n, 3 * cc));
        double fwd = time(be, () -> be.attention(x, h, scale, out, lse), c.warmup(), c.iters()) * 1e3;
        double bwd = time(be, () -> be.attentionBackward(x, out, lse, go, h, scale, gx), c.warmup(), c.iters()) * 1e3;
        // reference: the first batch entry on the CPU
        int one = n * 3 * cc;
        Tensor rx = ref.fromFloats(java.util.Arrays.copyOf(qkv, one), Shape.of(1, n, 3 * cc));
        Tensor rgo = ref.fromFloats(java.util.Arrays.copyOf(gout, n * cc), Shape.of(1, n, cc));
        Tensor ro = ref.empty(Shape.of(1, n, cc)), rl = ref.empty(Shape.of(1, h, n)), rg = ref.empty(Shape.of(1, n, 3 * cc));
        ref.attention(rx, h, scale, ro, rl);
        ref.attentionBackward(rx, ro, rl, rgo, h, scale, rg);
        double flops = 4.0 * b * h * (double) n * n * d;
        List<JsonObject> res = new ArrayList<>();
        for (boolean backward : new boolean[]{false, true}) {
            JsonObject o = header(c, be, "attention", backward ? "backward" : "forward");
            o.addProperty("batch", b);
            o.addProperty("tokens", n);
            o.addProperty("heads", h);
            o.addProperty("head_dim", d);
            double ms = backward ? bwd : fwd;
            o.addProperty("ms_median", round(ms, 4));
            o.addProperty("tflops", round((backward ? 2.5 : 1) * flops / (ms * 1e-3) / 1e12, 3));
            if (ref == be) o.add("max_rel_err", com.google.gson.JsonNull.INSTANCE);
            else o.addProperty("max_rel_err", backward ? relErr(ref.toFloats(rg), be.toFloats(gx), one)
                    : relErr(ref.toFloats(ro), be.toFloats(out), n * cc));
            res.add(o);
        }
        return res;
    }

    private static JsonObject header(Bench.Config c, Backend be, String op, String name) {
        JsonObject o = new JsonObject();
        o.addProperty("engine", "dinoseg 0.1.0 (" + be.name() + ")");
        o.addProperty("device", be.device().kind().name().toLowerCase(Locale.ROOT));   // what auto picked: cpu, cuda
        o.addProperty("op", op);
        o.addProperty("case", name);
        o.addProperty("backbone", c.backbone());
        o.addProperty("imgsz", c.imgsz());
        o.addProperty("precision", c.precision().flag());
        return o;
    }

    /**
     * Untimed runs before a case is timed: at least {@code --warmup}, at least this long after the
     * first run (which pays one-time set-up: the CPU attention's first call takes a second by itself),
     * and until a window of runs in which the JIT compiled nothing and the op's mean time is within 5%
     * of the window's before ({@link #steady}). A millisecond op would otherwise be timed while the JIT
     * still compiles the CPU kernels (with {@code --warmup 2} the first GEMM case read half its rate;
     * attention at 224, warmed for a second from its first call, read 0.44 of its rate: C2 was still
     * compiling its kernels a second after that) or the GPU clocks ramp up.
     */
    static final long MIN_WARMUP_NANOS = 1_000_000_000L;
    /** The warm-up stops here even when the op's speed has not settled. */
    static final long MAX_WARMUP_NANOS = 10_000_000_000L;
    /** Length of one window of warm-up runs. */
    static final long WINDOW_NANOS = 250_000_000L;

    /** Milliseconds the JIT has spent compiling in this JVM, or a constant where it cannot tell. */
    private static final LongSupplier JIT_MILLIS = jitMillis();

    private static LongSupplier jitMillis() {
        CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
        if (jit == null || !jit.isCompilationTimeMonitoringSupported()) return () -> 0L;
        return jit::getTotalCompilationTime;
    }

    /**
     * Median seconds of iters timed runs after the warm-up above ({@code warmup} 0: none at all).
     */
    static double time(Backend be, Runnable r, int warmup, int iters) {
        return time(be, r, warmup, iters, JIT_MILLIS);
    }

    /** As above with the JIT's compilation clock given (tests stand in for the JIT with it). */
    static double time(Backend be, Runnable r, int warmup, int iters, LongSupplier jitMillis) {
        if (warmup > 0) {
            r.run();
            be.synchronize();
            long start = System.nanoTime(), windowStart = start, jitAtWindow = jitMillis.getAsLong();
            int runs = 1, windowRuns = 0;
            double previous = Double.NaN;
            while (true) {
                r.run();
                be.synchronize();
                runs++;
                windowRuns++;
                long now = System.nanoTime();
                if (now - windowStart < WINDOW_NANOS) continue;
                double mean = (now - windowStart) / (double) windowRuns;
                long jit = jitMillis.getAsLong();
                boolean quiet = jit == jitAtWindow;
                boolean done = runs >= warmup && now - start >= MIN_WARMUP_NANOS && quiet && steady(previous, mean);
                if (done || now - start >= MAX_WARMUP_NANOS) break;
                previous = mean;
                windowStart = now;
                windowRuns = 0;
                jitAtWindow = jit;
            }
        }
        double[] t = new double[iters];
        for (int i = 0; i < iters; i++) {
            long s = System.nanoTime();
            r.run();
            be.synchronize();
            t[i] = (System.nanoTime() - s) / 1e9;
        }
        return Bench.median(t);
    }

    /** Whether a window's mean run time is within 5% of the window's before it. */
    static boolean steady(double previousMean, double mean) {
        return !Double.isNaN(previousMean) && Math.abs(mean - previousMean) <= 0.05 * mean;
    }

    /** max |got - want| / max |want| over the first n elements (both start at the same element). */
    static double relErr(float[] want, float[] got, int n) {
        double e = 0, s = 0;
        for (int i = 0; i < n; i++) {
            e = Math.max(e, Math.abs((double) got[i] - want[i]));
            s = Math.max(s, Math.abs(want[i]));
        }
        return s == 0 ? e : Double.parseDouble(String.format(Locale.ROOT, "%.3g", e / s));
    }

    private static float[] randn(SplittableRandom r, long n) {
        float[] a = new float[Math.toIntExact(n)];
        for (int i = 0; i < a.length; i++) {
            double u1;
            do { u1 = r.nextDouble(); } while (u1 <= 1e-300);
            a[i] = (float) (Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * r.nextDouble()));
        }
        return a;
    }

    private static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }
}
