package dinoseg.backend.cuda;

import java.util.concurrent.atomic.AtomicInteger;

import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;

/**
 * Prints, at the end of a test run, one line saying how many CUDA tests (package dinoseg.backend.cuda and
 * classes named Cuda* elsewhere, the CPU-only kernel emulation excepted) ran and on which driver, and how many were skipped, so that
 * a run cannot skip the GPU path silently. Registered through META-INF/services.
 */
public final class CudaTestReport implements TestExecutionListener {
    private final AtomicInteger ran = new AtomicInteger(), skipped = new AtomicInteger(), failed = new AtomicInteger();

    private static boolean isCudaTest(TestIdentifier id) {
        if (!id.isTest()) return false;
        return id.getSource().filter(MethodSource.class::isInstance).map(MethodSource.class::cast)
                .map(m -> {
                    String c = m.getClassName(), simple = c.substring(c.lastIndexOf('.') + 1);
                    return (c.startsWith("dinoseg.backend.cuda.") || simple.startsWith("Cuda")) && !simple.equals("KernelEmulationTest");
                })
                .orElse(false);
    }

    @Override public void executionSkipped(TestIdentifier id, String reason) {
        if (isCudaTest(id)) skipped.incrementAndGet();
    }

    @Override public void executionFinished(TestIdentifier id, TestExecutionResult result) {
        if (!isCudaTest(id)) return;
        if (result.getStatus() == TestExecutionResult.Status.ABORTED) {   // an assumption failed: a skip
            skipped.incrementAndGet();
            return;
        }
        ran.incrementAndGet();
        if (result.getStatus() != TestExecutionResult.Status.SUCCESSFUL) failed.incrementAndGet();
    }

    @Override public void testPlanExecutionFinished(TestPlan plan) {
        if (ran.get() + skipped.get() == 0) return;
        String where;
        synchronized (CudaTestSupport.class) {
            where = !CudaTestSupport.triedOpening() ? "no CUDA backend opened"
                    : CudaTestSupport.reason() != null ? "CUDA unavailable: " + CudaTestSupport.reason()
                    : EmulatedDriver.active() ? "the emulated CUDA driver" : "a real GPU (" + CudaTestSupport.gpu().name() + ")";
        }
        System.out.printf("[cuda-tests] %d CUDA tests ran on %s (%d not successful), %d skipped%n",
                ran.get(), where, failed.get(), skipped.get());
    }
}
