package dinoseg.backend.cpu;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The CPU backend's fork-join team ({@link Parallel}): splits, hand-offs, failures, nesting and waking. */
class ParallelTest {

    /** Runs a two-piece loop whose piece 0 only ends once piece 1 has started on another thread. */
    private static void requireTwoThreads() throws Exception {
        CountDownLatch second = new CountDownLatch(1);
        Set<Thread> threads = ConcurrentHashMap.newKeySet();
        boolean[] met = new boolean[1];
        Parallel.forChunks(2, 2, (Parallel.Chunk) (c, from, to) -> {
            threads.add(Thread.currentThread());
            try {
                if (c == 1) second.countDown();
                else met[0] = second.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        assertTrue(met[0], "piece 1 never started beside piece 0: no second thread took it");
        assertEquals(2, threads.size());
    }

    @Test void everyPieceRunsOnceOverItsOwnRange() {
        for (int n : new int[] {1, 2, 7, 64, 1000}) {
            for (int chunks : new int[] {1, 2, 3, 8, 5000}) {
                AtomicIntegerArray seen = new AtomicIntegerArray(n);
                int expect = Math.max(1, Math.min(chunks, n));
                AtomicIntegerArray pieces = new AtomicIntegerArray(expect);
                int got = Parallel.forChunks(n, chunks, (Parallel.Chunk) (c, from, to) -> {
                    pieces.incrementAndGet(c);
                    assertEquals((int) ((long) n * c / expect), from);
                    assertEquals((int) ((long) n * (c + 1) / expect), to);
                    for (int i = from; i < to; i++) seen.incrementAndGet(i);
                });
                assertEquals(expect, got);
                for (int i = 0; i < n; i++) assertEquals(1, seen.get(i), "index " + i + " of " + n + " in " + chunks);
                for (int c = 0; c < expect; c++) assertEquals(1, pieces.get(c), "piece " + c);
            }
        }
    }

    @Test void theCallerAndAWorkerShareALoop() throws Exception {
        assumeTrue(Parallel.THREADS > 1, "one core: every loop is serial");
        requireTwoThreads();
    }

    @Test void aParkedWorkerIsWokenForTheNextLoop() throws Exception {
        assumeTrue(Parallel.THREADS > 1, "one core: every loop is serial");
        for (int round = 0; round < 20; round++) {
            // idle for longer than the spin, so the workers park (a lost wake-up hangs piece 0 for 10 s and fails)
            Thread.sleep(Parallel.SPIN_NS / 1_000_000 + 3);
            requireTwoThreads();
        }
    }

    @Test void aCallerWaitingForAWorkersPieceIsWoken() {
        assumeTrue(Parallel.THREADS > 1, "one core: every loop is serial");
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            for (int round = 0; round < 10; round++) {
                CountDownLatch both = new CountDownLatch(2);
                Thread self = Thread.currentThread();
                Parallel.forChunks(2, 2, (Parallel.Chunk) (c, from, to) -> {
                    both.countDown();
                    try {
                        assertTrue(both.await(10, TimeUnit.SECONDS), "no second thread");
                        // the worker's piece outlasts the caller's spin, so the caller parks (a lost wake-up hangs)
                        if (Thread.currentThread() != self) Thread.sleep(Parallel.SPIN_NS / 1_000_000 + 5);
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                });
            }
        });
    }

    @Test void aFailingPieceIsRethrownToTheCallerAndTheTeamGoesOn() throws Exception {
        IllegalArgumentException planted = new IllegalArgumentException("planted");
        for (int round = 0; round < 50; round++) {
            int failAt = round % 8;
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                    Parallel.forChunks(8, 8, (Parallel.Chunk) (c, from, to) -> { if (c == failAt) throw planted; }));
            assertSame(planted, e);
        }
        AssertionError err = assertThrows(AssertionError.class, () ->
                Parallel.forChunks(4, 4, (Parallel.Chunk) (c, from, to) -> { if (c == 3) throw new AssertionError("in piece 3"); }));
        assertEquals("in piece 3", err.getMessage());
        assertFalse(Parallel.inPool(), "the caller is out of the team once its loop has ended");
        if (Parallel.THREADS > 1) requireTwoThreads();
    }

    @Test void aLoopInsideAPieceRunsSeriallyOnThatThread() {
        AtomicIntegerArray inner = new AtomicIntegerArray(2 * 100);
        // both pieces wait for each other, so the caller runs one of them and a worker the other
        CountDownLatch both = new CountDownLatch(Parallel.THREADS > 1 ? 2 : 1);
        Parallel.forChunks(2, 2, (Parallel.Chunk) (c, from, to) -> {
            both.countDown();
            try {
                assertTrue(both.await(10, TimeUnit.SECONDS), "no second thread");
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            assertTrue(Parallel.inPool(), "a thread running a piece is in the team");
            Thread self = Thread.currentThread();
            Parallel.forChunks(100, 10, (Parallel.Chunk) (c2, f2, t2) -> {
                assertSame(self, Thread.currentThread(), "a nested piece left its thread");
                for (int i = f2; i < t2; i++) inner.incrementAndGet(c * 100 + i);
            });
        });
        for (int i = 0; i < inner.length(); i++) assertEquals(1, inner.get(i));
        assertFalse(Parallel.inPool());
    }

    /** A loop whose body holds a 64 MiB array; returns a weak reference to it. */
    private static java.lang.ref.WeakReference<float[]> loopOverABigArray() {
        float[] big = new float[16 << 20];
        Parallel.forChunks(8, 8, (Parallel.Chunk) (c, from, to) -> big[c] = c);
        return new java.lang.ref.WeakReference<>(big);
    }

    @Test void theTeamKeepsNoArrayOfALoopThatHasEnded() throws Exception {
        java.lang.ref.WeakReference<float[]> ref = loopOverABigArray();
        Thread.sleep(Parallel.SPIN_NS / 1_000_000 + 5);   // the workers are parked, waiting for the next loop
        for (int i = 0; i < 20 && ref.get() != null; i++) {
            System.gc();
            Thread.sleep(20);
        }
        assertTrue(ref.get() == null, "the ended loop's body (and the array it holds) is still reachable from the team");
    }

    @Test void concurrentCallersEachGetTheirWholeLoop() throws Exception {
        ExecutorService ex = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                final int id = t;
                fs.add(ex.submit(() -> {
                    for (int rep = 0; rep < 300; rep++) {
                        int n = 50 + id * 13 + rep % 7;
                        long[] sums = new long[6];
                        Parallel.forChunks(n, 6, (Parallel.Chunk) (c, from, to) -> {
                            for (int i = from; i < to; i++) sums[c] += i;
                        });
                        long total = 0;
                        for (long s : sums) total += s;
                        assertEquals((long) n * (n - 1) / 2, total);
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) f.get(60, TimeUnit.SECONDS);
        } finally {
            ex.shutdownNow();
        }
    }
}
