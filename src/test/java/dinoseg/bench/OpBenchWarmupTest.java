package dinoseg.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

import dinoseg.backend.Backends;

/** The op bench warms each case up for --warmup runs and at least a second, and not at all with --warmup 0. */
class OpBenchWarmupTest {
    @Test
    void aShortOpWarmsUpForASecondUnlessWarmupIsZero() {
        AtomicInteger runs = new AtomicInteger();
        Runnable op = () -> {
            runs.incrementAndGet();
            try { Thread.sleep(5); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
        };
        long t0 = System.nanoTime();
        OpBench.time(Backends.cpu(), op, 2, 3);
        double s = (System.nanoTime() - t0) / 1e9;
        assertTrue(s >= OpBench.MIN_WARMUP_NANOS / 1e9, "warm-up of " + s + " s");
        assertTrue(runs.get() > 2 + 3 + 20, "runs " + runs.get() + ": the warm-up goes on past --warmup runs");
        runs.set(0);
        OpBench.time(Backends.cpu(), op, 0, 3);
        assertEquals(3, runs.get(), "--warmup 0: only the timed runs");
    }
}
