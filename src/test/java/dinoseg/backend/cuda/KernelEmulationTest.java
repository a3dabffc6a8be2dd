package dinoseg.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Runs without a GPU: compiles kernels/*.cu with g++ against a CPU emulator of the CUDA execution
 * model (kernels/test/emu.h) and checks every kernel against double-precision reference loops,
 * finite differences and adjoint identities (kernels/test/check_kernels.cpp). Skipped when g++ 12+
 * is not installed.
 */
class KernelEmulationTest {

    @Test
    void everyKernelMatchesItsReferenceOnTheCpuEmulator() throws IOException, InterruptedException {
        Path script = Path.of("kernels", "test", "run.sh");
        Assumptions.assumeTrue(Files.exists(script), "no " + script + " (not run from the project root)");
        Process p = new ProcessBuilder("bash", script.toString()).redirectErrorStream(true).start();
        String out;
        try (var in = p.getInputStream()) { out = new String(in.readAllBytes(), StandardCharsets.UTF_8); }
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "kernel emulation timed out");
        Assumptions.assumeFalse(p.exitValue() == 3, out.strip());
        assertEquals(0, p.exitValue(), "kernel checks failed:\n" + out);
        assertTrue(out.contains("all kernel checks passed"), out);
    }
}
