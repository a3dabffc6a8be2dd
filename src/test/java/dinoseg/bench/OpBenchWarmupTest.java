package dinoseg.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;

import org.junit.jupiter.api.Test;

import dinoseg.backend.Backends;

/**
 * The op bench warms each case up for --warmup runs, at least a second after its first run and until
 * its speed is steady, and not at all with --warmup 0.
 */
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

    @Test
    void theWarmupSecondStartsAfterASlowFirstRun() {
        AtomicInteger runs = new AtomicInteger();
        Runnable op = () -> sleep(runs.getAndIncrement() == 0 ? 1200 : 5);
        long t0 = System.nanoTime();
        OpBench.time(Backends.cpu(), op, 2, 3);
        double s = (System.nanoTime() - t0) / 1e9;
        assertTrue(s >= 1.2 + OpBench.MIN_WARMUP_NANOS / 1e9, "warm-up of " + s + " s after a first run of 1.2 s");
    }

    @Test
    void anOpIsTimedOnlyOnceTheJitHasStoppedCompiling() {
        // the JIT compiles for the op's first 1.5 s, and the op runs at 20 ms per run until it is done,
        // 2 ms after: steady at 20 ms for a second, yet it is timed at 2 ms
        long[] first = {0};
        Runnable op = () -> {
            long now = System.nanoTime();
            if (first[0] == 0) first[0] = now;
            sleep(now - first[0] < 1_500_000_000L ? 20 : 2);
        };
        LongSupplier jit = () -> first[0] == 0 ? 0 : Math.min(1500, (System.nanoTime() - first[0]) / 1_000_000);
        double s = OpBench.time(Backends.cpu(), op, 2, 5, jit);
        assertTrue(s < 0.008, "timed at " + s * 1e3 + " ms per run");
        assertTrue(OpBench.steady(2.0, 2.05) && !OpBench.steady(Double.NaN, 2.0) && !OpBench.steady(20, 11),
                "steady: two windows within 5%");
    }

    private static void sleep(long ms) {
        try { Thread.sleep(ms); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
    }
}
