package dinoseg.backend.cuda;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/**
 * Shared by every GPU test: one CUDA backend per JVM (opened on first use), whether it is available
 * and why not, the CPU reference backend, and helpers to build the same random inputs on both
 * backends and compare results with stated tolerances.
 *
 * <pre>
 *   &#64;BeforeEach void gpu() { CudaTestSupport.assumeGpu(); }
 *   Pair x = CudaTestSupport.randn(rnd, Shape.of(2, 3));   // same values on CPU and GPU
 *   ... run the op on x.cpu() with cpu() and on x.gpu() with gpu() ...
 *   CudaTestSupport.assertClose("op", outCpu, outGpu, 1e-5, 1e-6);
 * </pre>
 */
public final class CudaTestSupport {
    private CudaTestSupport() { }

    private static CudaBackend backend;
    private static String reason;
    private static boolean tried;

    /** Whether some test has tried to open the CUDA backend in this JVM. */
    static synchronized boolean triedOpening() { return tried; }

    /** True when a CUDA device, the driver, JCuda's natives and the kernels are all usable. */
    public static synchronized boolean available() {
        if (!tried) {
            tried = true;
            try {
                backend = CudaBackend.open();
                Runtime.getRuntime().addShutdownHook(new Thread(() -> { synchronized (CudaTestSupport.class) { backend.close(); } }));
            } catch (Backends.UnavailableException e) {
                reason = "CUDA unavailable: " + e.getMessage();
            }
        }
        return backend != null;
    }

    /**
     * Skips the calling test when CUDA is unavailable, or fails it when the system property
     * {@code dinoseg.cuda.require=true} is set (tools/gpu_check.sh sets it, so a GPU run cannot pass by skipping).
     */
    public static void assumeGpu() {
        if (available()) return;
        if (Boolean.getBoolean("dinoseg.cuda.require")) fail("dinoseg.cuda.require is set but " + reason());
        org.junit.jupiter.api.Assumptions.assumeTrue(false, reason());
    }

    /** Why CUDA is unavailable (for assumption messages); null when it is available. */
    public static synchronized String reason() {
        available();
        return reason;
    }

    /** The shared CUDA backend (call {@link #available()} first). */
    public static synchronized CudaBackend gpu() {
        if (!available()) throw new IllegalStateException(reason);
        return backend;
    }

    /** The CPU reference backend. */
    public static Backend cpu() { return Backends.cpu(); }

    /** A copy on the GPU of a tensor of any backend (e.g. a CPU model's parameter). */
    public static Tensor toGpu(Tensor t, dinoseg.backend.Backend owner) { return gpu().adopt(t, owner); }

    /** A copy on the CPU of a GPU tensor. */
    public static Tensor toCpu(Tensor gpuTensor) { return cpu().adopt(gpuTensor, gpu()); }

    /** A tensor with the same contents on the CPU and on the GPU. */
    public record Pair(Tensor cpu, Tensor gpu) {
        public Shape shape() { return cpu.shape(); }
    }

    public static Pair pair(float[] data, Shape shape) {
        return new Pair(cpu().fromFloats(data, shape), gpu().fromFloats(data, shape));
    }

    public static Pair pairInts(int[] data, Shape shape) {
        return new Pair(cpu().fromInts(data, shape), gpu().fromInts(data, shape));
    }

    /** Normal(0, 1) values. */
    public static float[] randn(Random rnd, long n) {
        float[] a = new float[Math.toIntExact(n)];
        for (int i = 0; i < a.length; i++) a[i] = (float) rnd.nextGaussian();
        return a;
    }

    public static Pair randn(Random rnd, Shape shape) { return pair(randn(rnd, shape.numel()), shape); }

    /** Uniform in [lo, hi). */
    public static Pair uniform(Random rnd, Shape shape, float lo, float hi) {
        float[] a = new float[shape.size()];
        for (int i = 0; i < a.length; i++) a[i] = lo + (hi - lo) * rnd.nextFloat();
        return pair(a, shape);
    }

    /** Uninitialised-on-purpose outputs: NaN-filled on both sides, so an op that skips an element is caught. */
    public static Pair nans(Shape shape) {
        float[] a = new float[shape.size()];
        java.util.Arrays.fill(a, Float.NaN);
        return pair(a, shape);
    }

    public static Pair zeros(Shape shape) { return new Pair(cpu().zeros(shape), gpu().zeros(shape)); }

    public static Pair emptyInts(Shape shape) {
        return new Pair(cpu().zeros(shape, DType.I32), gpu().zeros(shape, DType.I32));
    }

    /** Compares a pair element-wise: |cpu - gpu| <= atol + rtol * |cpu| everywhere (NaN only where both are NaN). */
    public static void assertClose(String what, Pair p, double rtol, double atol) {
        assertClose(what, cpu().toFloats(p.cpu()), gpu().toFloats(p.gpu()), rtol, atol);
    }

    public static void assertClose(String what, float[] expected, float[] actual, double rtol, double atol) {
        if (expected.length != actual.length) fail(what + ": lengths differ " + expected.length + " vs " + actual.length);
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < expected.length; i++) {
            float e = expected[i], a = actual[i];
            if (Float.isNaN(e) && Float.isNaN(a)) continue;
            double err = Math.abs((double) e - a);
            double allowed = atol + rtol * Math.abs(e);
            if (!(err <= allowed)) {
                double excess = Double.isNaN(err) ? Double.POSITIVE_INFINITY : err / allowed;
                if (worst < 0 || excess > worstExcess) { worst = i; worstExcess = excess; }
            }
        }
        if (worst >= 0)
            fail(String.format("%s: element %d: cpu %s vs cuda %s (rtol %g, atol %g; worst of %d)", what, worst,
                    expected[worst], actual[worst], rtol, atol, expected.length));
    }

    public static void assertSameInts(String what, Pair p) {
        int[] e = cpu().toInts(p.cpu()), a = gpu().toInts(p.gpu());
        if (!java.util.Arrays.equals(e, a)) {
            for (int i = 0; i < e.length; i++)
                if (e[i] != a[i]) fail(what + ": element " + i + ": cpu " + e[i] + " vs cuda " + a[i]);
            fail(what + ": lengths differ");
        }
    }
}
