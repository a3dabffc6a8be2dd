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

    /** The family of a Backend method, or null for a method that is not an op (name, synchronize, settings). */
    static String family(String method) {
        return switch (method) {
            case "gemm" -> "gemm";
            case "attention", "attentionBackward" -> "attention";
            case "layerNorm", "layerNormBackward", "batchNorm", "batchNormBackward" -> "norm";
            case "add", "mul", "scale", "axpy", "gelu", "geluBackward", "relu", "reluBackward", "swiglu", "swigluBackward", "fill" -> "elementwise";
            case "sumTo", "sumAll", "sumSquares", "softmax", "argmax" -> "reduction";
            case "softmaxCrossEntropy" -> "loss";
            case "permute", "copyBlocks", "copy", "im2col", "col2im", "flipLastDim" -> "layout";
            case "resizeBilinear", "resizeBilinearBackward" -> "resize";
            case "adamw" -> "optimizer";
            case "empty", "zeros", "full", "fromFloats", "fromInts", "toFloats", "toInts", "writeFloats", "writeInts", "adopt" -> "memory";
            default -> null;
        };
    }

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

    /** The table: family, calls per step, ms per step, share of the op time; largest first. */
    public void print(PrintWriter err, int steps) {
        long sum = 0;
        for (Sum s : sums.values()) sum += s.nanos;
        final long total = sum;
        err.printf(Locale.ROOT, "%-12s %10s %12s %7s%n", "op family", "calls/step", "ms/step", "share");
        sums.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue().nanos, a.getValue().nanos)).forEach(e ->
                err.printf(Locale.ROOT, "%-12s %10.1f %12.2f %6.1f%%%n", e.getKey(), e.getValue().calls / (double) Math.max(1, steps),
                        e.getValue().nanos / 1e6 / Math.max(1, steps), 100.0 * e.getValue().nanos / Math.max(1, total)));
        err.printf(Locale.ROOT, "%-12s %10s %12.2f %7s  (each op waited for; over %d steps)%n", "total", "", total / 1e6 / Math.max(1, steps), "", steps);
        err.flush();
    }
}
