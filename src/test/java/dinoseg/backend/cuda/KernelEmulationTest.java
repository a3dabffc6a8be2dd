package dinoseg.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs without a GPU: compiles kernels/*.cu with g++ against a CPU emulator of the CUDA execution
 * model (kernels/test/emu.h: fibers with a seeded warp scheduler, guarded device memory, barrier and
 * shuffle misuse checks) and checks every kernel against double-precision reference loops, finite
 * differences and adjoint identities (kernels/test/check_kernels.cpp, driven by kernels/test/run.sh).
 * Skipped when g++ 12+ is not installed (run.sh exit status 3), unless the system property
 * {@code dinoseg.cuda.require=true} is set, which turns the skip into a failure.
 */
class KernelEmulationTest {

    private static final Path SCRIPT = Path.of("kernels", "test", "run.sh");

    /** Output and exit status of one run.sh run. */
    record Run(int status, String output) {}

    /** Runs run.sh with extra environment variables and arguments; never waits longer than the limit. */
    static Run runScript(Map<String, String> env, long limitMinutes, String... families)
            throws IOException, InterruptedException {
        Assumptions.assumeTrue(Files.exists(SCRIPT), "no " + SCRIPT + " (not run from the project root)");
        List<String> cmd = new ArrayList<>(List.of("bash", SCRIPT.toString()));
        cmd.addAll(List.of(families));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        // Drain the output on another thread: a full pipe must not stall the process while we wait.
        Thread reader = new Thread(() -> {
            try (InputStream in = p.getInputStream()) {
                in.transferTo(buf);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }, "run.sh output");
        reader.setDaemon(true);
        reader.start();
        if (!p.waitFor(limitMinutes, TimeUnit.MINUTES)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            reader.join(5_000);
            fail("kernel emulation did not finish within " + limitMinutes + " minutes:\n" + text(buf));
        }
        reader.join(10_000);
        String out = text(buf);
        if (p.exitValue() == 3) {
            if (Boolean.getBoolean("dinoseg.cuda.require")) fail("dinoseg.cuda.require=true but " + out.strip());
            Assumptions.abort(out.strip());
        }
        return new Run(p.exitValue(), out);
    }

    private static String text(ByteArrayOutputStream buf) {
        synchronized (buf) {
            return buf.toString(StandardCharsets.UTF_8);
        }
    }

    @Test
    void everyKernelMatchesItsReferenceOnTheCpuEmulator() throws IOException, InterruptedException {
        Run r = runScript(Map.of(), 6);
        assertEquals(0, r.status(), "kernel checks failed:\n" + r.output());
        assertTrue(r.output().contains("all kernel checks passed"), r.output());
        assertTrue(r.output().contains("ok   emulator exposes a missing write-after-read barrier"), r.output());
        assertTrue(r.output().contains("ok   gemm_bf16_tc TN M384 N128 K8468"), r.output());
    }

    /** Replaces the n-th (0-based) occurrence of what in dir/file (a copy made by {@link #copyKernels}). */
    static void plant(Path dir, String file, String what, int n, String with) throws IOException {
        Path f = dir.resolve(file);
        String s = Files.readString(f);
        int at = -1;
        for (int i = 0; i <= n; i++) {
            at = s.indexOf(what, at + 1);
            assertNotEquals(-1, at, "cannot plant the bug: occurrence " + n + " of '" + what + "' not in " + file);
        }
        Files.writeString(f, s.substring(0, at) + with + s.substring(at + what.length()));
    }

    /** Copies kernels/*.cu and *.cuh into dir (skips the test when not run from the project root). */
    static void copyKernels(Path dir) throws IOException {
        Path kernels = Path.of("kernels");
        Assumptions.assumeTrue(Files.isDirectory(kernels), "no kernels/ (not run from the project root)");
        try (Stream<Path> files = Files.list(kernels)) {
            for (Path f : (Iterable<Path>) files.filter(x -> x.toString().endsWith(".cu") || x.toString().endsWith(".cuh"))::iterator)
                Files.copy(f, dir.resolve(f.getFileName()));
        }
    }

    @Test
    void plantedBugsAreCaughtAndNamed(@TempDir Path dir) throws IOException, InterruptedException {
        copyKernels(dir);
        // gemm: the barrier after the tile loads (the compute then reads tiles other warps have not written)
        plant(dir, "gemm.cu", "__syncthreads();", 0, ";");
        // attention_fwd: the barrier before a K/V tile is overwritten (other warps still read the last one)
        plant(dir, "attention.cu", "__syncthreads();", 0, ";");
        // fill_f writes one element past the end of its buffer
        plant(dir, "elementwise.cu", "DS_GRID_LOOP(i, n) out[i] = value;", 0, "DS_GRID_LOOP(i, n) out[i + 1] = value;");
        Run r = runScript(Map.of("DSEMU_KERNELS_DIR", dir.toAbsolutePath().toString(), "DSEMU_LAUNCH_TIMEOUT", "60"), 6,
                "gemm", "attention", "elementwise");
        assertEquals(1, r.status(), "the planted bugs were not all caught:\n" + r.output());
        String out = r.output();
        assertTrue(out.lines().anyMatch(l -> l.startsWith("FAIL gemm")), "removed gemm barrier not caught:\n" + out);
        assertTrue(out.lines().anyMatch(l -> l.startsWith("FAIL attention")), "removed attention barrier not caught:\n" + out);
        assertTrue(out.lines().anyMatch(l -> l.startsWith("FAIL launch fill_f") && l.contains("fill_f")
                        && (l.contains("error 700") || l.contains("error 719"))),
                "out-of-bounds write in fill_f not reported:\n" + out);
        assertTrue(out.contains("kernel checks FAILED"), out);
    }
}
