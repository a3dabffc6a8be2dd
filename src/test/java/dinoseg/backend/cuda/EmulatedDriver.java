package dinoseg.backend.cuda;

import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import jcuda.CudaException;
import jcuda.driver.CUdevice;

/**
 * The emulated CUDA driver of the tests (kernels/test/driver/driver.cpp, a libcuda.so.1 that Surefire puts
 * on LD_LIBRARY_PATH): whether the CUDA backend runs on it, and its counters. The counters are read
 * through cuDeviceGetAttribute with private attribute numbers (DSEMU_ATTR_* in driver.cpp); a real
 * driver rejects those numbers, so on a GPU {@link #active()} is false.
 */
public final class EmulatedDriver {
    private EmulatedDriver() { }

    static final int BASE = 0x44530000;
    public static final int EMULATED = BASE, LAUNCHES = BASE + 1, MEM_ALLOCS = BASE + 2, MEM_FREES = BASE + 3,
            LIVE_KIB = BASE + 4, PEAK_KIB = BASE + 5, COPIES_HTOD = BASE + 6, COPIES_DTOH = BASE + 7,
            HOST_WAITS = BASE + 8, FAILED_LAUNCHES = BASE + 9, LIVE_ALLOCATIONS = BASE + 10, GRAPH_LAUNCHES = BASE + 11,
            CAPTURED_NODES = BASE + 12;

    private static Boolean active;

    /** True when CUDA is available and the driver is the emulator. */
    public static synchronized boolean active() {
        if (active == null) {
            if (!CudaTestSupport.available()) active = false;
            else {
                try {
                    active = query(EMULATED) == 1;
                } catch (CudaException e) {   // a real driver: CUDA_ERROR_INVALID_VALUE
                    active = false;
                }
            }
        }
        return active;
    }

    /** One counter of the emulated driver (launches, cuMemAlloc calls, ...). */
    public static int count(int attribute) {
        if (!active()) throw new IllegalStateException("not running on the emulated CUDA driver");
        return query(attribute);
    }

    /**
     * Runs {@link EmulatedDriverProbe} {@code mode} in a JVM of its own with extra environment variables
     * (name, value pairs); asserts it exits 0 within 3 minutes and returns its output.
     */
    static String probe(String mode, String... env) throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElse("java");
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx512m", "-XX:ErrorFile=" + System.getProperty("java.io.tmpdir") + "/dinoseg-probe-hs_err_%p.log", "-cp", cp, EmulatedDriverProbe.class.getName(), mode));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        for (int i = 0; i < env.length; i += 2) pb.environment().put(env[i], env[i + 1]);
        Process p = pb.start();
        StringBuilder out = new StringBuilder();
        Thread reader = new Thread(() -> {
            try (var in = p.getInputStream()) { out.append(new String(in.readAllBytes(), StandardCharsets.UTF_8)); }
            catch (IOException ignored) { /* the process ended */ }
        });
        reader.start();
        if (!p.waitFor(3, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError("probe " + mode + " did not finish in 3 minutes");
        }
        reader.join(10_000);
        assertEquals(0, p.exitValue(), "probe " + mode + ":\n" + out);
        return out.toString();
    }

    private static int query(int attribute) {
        CUdevice dev = new CUdevice();
        cuDeviceGet(dev, 0);
        int[] v = new int[1];
        cuDeviceGetAttribute(v, attribute, dev);
        return v[0];
    }
}
