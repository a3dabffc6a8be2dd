package dinoseg.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;

/** Runs on every machine: the packaged kernels, the one-line failure without a GPU, and the pure-Java helpers. */
class CudaAvailabilityTest {

    private static byte[] resource(String path) throws IOException {
        try (InputStream in = CudaAvailabilityTest.class.getResourceAsStream(path)) {
            return in == null ? null : in.readAllBytes();
        }
    }

    private static boolean contains(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return true;
        }
        return false;
    }

    @Test
    void fatbinHoldsEveryKernelTheBackendLaunches() throws IOException {
        byte[] fatbin = resource(CudaKernels.FATBIN);
        if (fatbin == null && Boolean.getBoolean("dinoseg.cuda.require"))
            throw new AssertionError("dinoseg.cuda.require is set but the jar has no " + CudaKernels.FATBIN);
        Assumptions.assumeTrue(fatbin != null, "built without nvcc: no " + CudaKernels.FATBIN);
        List<String> missing = new ArrayList<>();
        for (String name : CudaKernels.NAMES) {
            // the symbol appears NUL-terminated in every cubin's string table (the fatbin is not compressed)
            byte[] sym = (name + "\0").getBytes(StandardCharsets.US_ASCII);
            if (!contains(fatbin, sym)) missing.add(name);
        }
        assertTrue(missing.isEmpty(), "kernels missing from the fatbin: " + missing);
        byte[] list = resource("/kernels/kernels.txt");
        assertNotNull(list, "build.sh writes kernels/kernels.txt beside the fatbin");
        TreeSet<String> built = new TreeSet<>(List.of(new String(list, StandardCharsets.US_ASCII).trim().split("\\s+")));
        assertEquals(new TreeSet<>(CudaKernels.NAMES), built, "kernels.txt (extern \"C\" kernels in kernels/*.cu) vs CudaKernels.NAMES");
    }

    /**
     * Without a driver, {@code --device cuda} fails with one line and {@code auto} falls back to the CPU
     * saying why. On the emulated driver this runs in a JVM of its own without the emulator on
     * LD_LIBRARY_PATH (so libcuda.so.1 is missing for real); skipped only on a real GPU.
     */
    @Test
    void cudaWithoutGpuFailsWithOneLine() throws Exception {
        if (EmulatedDriver.active()) {
            String out = EmulatedDriver.probe("no-driver", "LD_LIBRARY_PATH", "");
            assertTrue(out.contains("no-driver checks passed"), out);
            return;
        }
        Assumptions.assumeFalse(CudaTestSupport.available(), "a GPU is present");
        checkWithoutDriver();
    }

    /** The checks of {@link #cudaWithoutGpuFailsWithOneLine}, also run by {@link EmulatedDriverProbe}. */
    static void checkWithoutDriver() {
        List<String> log = new ArrayList<>();
        Backends.UnavailableException e = assertThrows(Backends.UnavailableException.class, () -> Backends.create("cuda", log::add));
        String m = e.getMessage();
        assertNotNull(m);
        assertFalse(m.isBlank());
        assertFalse(m.contains("\n"), "one line: " + m);
        assertFalse(m.contains("\tat "), "no stack trace: " + m);
        assertTrue(m.length() < 250, m);
        // a second attempt says the same thing (JCuda's natives are loaded once per JVM)
        Backends.UnavailableException again = assertThrows(Backends.UnavailableException.class, CudaBackend::open);
        assertEquals(m, again.getMessage());
        // auto falls back to the CPU and says why, in one line
        log.clear();
        Backend b = Backends.create("auto", log::add);
        assertSame(Backends.cpu(), b);
        assertEquals(1, log.size(), log.toString());
        assertTrue(log.get(0).startsWith("device: cpu (CUDA not used: "), log.get(0));
        assertFalse(log.get(0).contains("\n"), log.get(0));
    }

    @Test
    void linkErrorsAreDescribedInOneLine() {
        assertEquals("no NVIDIA driver (libcuda.so.1 cannot be loaded)", CudaBackend.describeLinkError(
                new UnsatisfiedLinkError("Error while loading native library \"JCudaDriver-12.6.0-linux-x86_64\"\n"
                        + "Stack trace from the attempt: libcuda.so.1: cannot open shared object file")));
        String other = CudaBackend.describeLinkError(new UnsatisfiedLinkError("no JCudaDriver in java.library.path\nmore"));
        assertTrue(other.startsWith("the JCuda native library"), other);
        assertFalse(other.contains("\n"), other);
        assertEquals("first", CudaBackend.oneLine("  first \n second"));
    }

    @Test
    void allocatorBuckets() {
        long prev = 0;
        for (long bytes = 1; bytes < (1L << 34); bytes = bytes * 3 / 2 + 1) {
            long b = CudaAllocator.bucket(bytes);
            assertTrue(b >= bytes, "bucket " + b + " holds " + bytes);
            assertTrue(b <= Math.max(512, bytes * 1.126 + 512), "bucket " + b + " wastes little for " + bytes);
            assertTrue(b % 512 == 0, "aligned " + b);
            assertTrue(b >= prev, "monotone");
            prev = b;
        }
        assertEquals(CudaAllocator.bucket(3_000_000), CudaAllocator.bucket(3_000_001), "nearby sizes share a bucket");
    }

    @Test
    void dimsCollapseAndPack() {
        // [2,3,4,5] + b[4,1]: b strides (0,0,1,0) -> dims (6,4,5) strides (0,1,0)
        long[][] d = Dims.collapse(new long[]{2, 3, 4, 5}, Dims.broadcastStrides(new int[]{2, 3, 4, 5}, new int[]{4, 1}));
        assertEquals(List.of(6L, 4L, 5L), List.of(d[0][0], d[0][1], d[0][2]));
        assertEquals(List.of(0L, 1L, 0L), List.of(d[1][0], d[1][1], d[1][2]));
        // a contiguous operand collapses to one dim; size-1 dims vanish
        long[][] c = Dims.collapse(new long[]{2, 1, 3, 4}, new long[]{12, 12, 4, 1});
        assertEquals(1, c[0].length);
        assertEquals(24, c[0][0]);
        assertEquals(1, c[1][0]);
        long[] p = Dims.pack("t", d);
        assertEquals(13, p.length);
        assertEquals(3, p[0]);
        assertEquals(1, p[4]);   // unused dims are 1
        assertThrows(IllegalArgumentException.class, () -> Dims.pack("t",
                Dims.collapse(new long[]{2, 2, 2, 2, 2, 2, 2}, new long[]{1, 0, 1, 0, 1, 0, 1})));
    }
}
