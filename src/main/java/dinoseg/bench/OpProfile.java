package dinoseg.bench;

import dinoseg.backend.Backend;

import java.io.PrintWriter;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Time per op family for {@code bench --profile}: a {@link Backend} that forwards every call to
 * another backend and, for the ops, waits for the device after each one ({@link Backend#synchronize})
 * so the wall time of the call is the op's own. The waits slow a step down, so bench times its
 * steps with timing off and runs the profiled steps after them. Families follow
 * the sections of the Backend interface: gemm, attention, norm, elementwise, reduction, loss,
 * layout, resize, optimizer, memory (allocation and host transfers).
 */
public final class OpProfile {
    /** Calls and nanoseconds of one family. */
    private static final class Sum { long calls, nanos; }

    private final Map<String, Sum> sums = new TreeMap<>();
    /** The same per op (Backend method name), for the second table. */
    private final Map<String, Sum> perOp = new TreeMap<>();
    private volatile boolean on;
    private final Backend inner;
    private final Backend proxy;

    public OpProfile(Backend inner) {
        this.inner = inner;
        InvocationHandler h = this::invoke;
        this.proxy = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class}, h);
    }

    /** The profiling backend: use it where the steps would use the inner one (the model and optimizer included). */
    public Backend backend() { return proxy; }

    /** Starts or stops timing; while off, calls pass straight through (no waits). Off at first. */
    public void enable(boolean timing) { on = timing; }

    /**
     * The family of each Backend op, by method name. Every method of {@link Backend} is either here or
     * in {@link #NOT_OPS} (a test checks it), so a new op cannot go unprofiled.
     */
    static final Map<String, String> FAMILIES = families();

    /** Backend methods that are not ops: identity, settings, waiting, peak counters, graph capture. */
    static final java.util.Set<String> NOT_OPS = java.util.Set.of("name", "device", "synchronize", "close",
            "matmulPrecision", "setMatmulPrecision", "peakDeviceBytes", "resetPeakDeviceBytes", "capture", "capturesGraphs");

    private static Map<String, String> families() {
        Map<String, String> f = new java.util.HashMap<>();
        java.util.function.BiConsumer<String, String> put = (fam, names) -> {
            for (String n : names.split(" ")) f.put(n, fam);
        };
        put.accept("gemm", "gemm linear linearGelu linearScaled");
        put.accept("attention", "attention attentionBackward");
        put.accept("norm", "layerNorm layerNormBackward batchNorm batchNormBackward");
        put.accept("elementwise", "add mul scale axpy gelu geluBackward relu reluBackward swiglu swigluBackward fill roundTo addcmul");
        put.accept("reduction", "sumTo sumAll sumSquares softmax argmax confusionMatrix");
        put.accept("loss", "softmaxCrossEntropy");
        put.accept("layout", "permute copyBlocks copy im2col col2im flipLastDim");
        put.accept("resize", "resizeBilinear resizeBilinearBackward");
        put.accept("optimizer", "adamw");
        put.accept("memory", "empty zeros full fromFloats fromInts toFloats toInts readLater writeFloats writeInts adopt");
        return java.util.Collections.unmodifiableMap(f);
    }

    /** The family of a Backend method, or null for a method that is not an op (name, synchronize, settings). */
    static String family(String method) { return FAMILIES.get(method); }

    private Object invoke(Object self, Method m, Object[] args) throws Throwable {
        String fam = family(m.getName());
        if (m.getName().equals("equals") && args != null && args.length == 1) return self == args[0];
        if (m.getName().equals("hashCode") && (args == null || args.length == 0)) return System.identityHashCode(self);
        if (fam == null || !on) return call(m, args);
        long t0 = System.nanoTime();
        Object r = call(m, args);
        inner.synchronize();
        long dt = System.nanoTime() - t0;
        Sum s = sums.computeIfAbsent(fam, k -> new Sum());
        s.calls++;
        s.nanos += dt;
        Sum o = perOp.computeIfAbsent(m.getName(), k -> new Sum());
        o.calls++;
        o.nanos += dt;
        return r;
    }

    private Object call(Method m, Object[] args) throws Throwable {
        try {
            return m.invoke(inner, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    /** Milliseconds per family over everything profiled so far, for {@code steps} steps. */
    public Map<String, Double> millisPerStep(int steps) {
        Map<String, Double> r = new TreeMap<>();
        for (var e : sums.entrySet()) r.put(e.getKey(), e.getValue().nanos / 1e6 / Math.max(1, steps));
        return r;
    }

    /**
     * Two tables: per family, then per op (Backend method): calls per step, ms per step, share of the
     * op time; largest first.
     */
    public void print(PrintWriter err, int steps) {
        long sum = 0;
        for (Sum s : sums.values()) sum += s.nanos;
        table(err, "op family", sums, sum, steps);
        err.printf(Locale.ROOT, "%-22s %10s %12.2f %7s  (each op waited for; over %d steps)%n", "total", "", sum / 1e6 / Math.max(1, steps), "", steps);
        err.println();
        table(err, "op", perOp, sum, steps);
        err.flush();
    }

    private static void table(PrintWriter err, String head, Map<String, Sum> rows, long total, int steps) {
        err.printf(Locale.ROOT, "%-22s %10s %12s %7s%n", head, "calls/step", "ms/step", "share");
        rows.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue().nanos, a.getValue().nanos)).forEach(e ->
                err.printf(Locale.ROOT, "%-22s %10.1f %12.2f %6.1f%%%n", e.getKey(), e.getValue().calls / (double) Math.max(1, steps),
                        e.getValue().nanos / 1e6 / Math.max(1, steps), 100.0 * e.getValue().nanos / Math.max(1, total)));
    }
}
