package dinoseg.backend.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.RecursiveAction;

/**
 * The one thread pool of the CPU backend (daemon threads, one per core) and a chunked parallel
 * loop. Work below a threshold runs on the calling thread so small tensors pay no hand-off cost.
 * A loop started from inside the pool runs serially (the outer loop already uses every core).
 */
final class Parallel {
    private Parallel() { }

    /** A body over the index range [from, to). */
    @FunctionalInterface
    interface Range { void run(int from, int to); }

    /** A body over piece {@code chunk} of a split, covering [from, to). */
    @FunctionalInterface
    interface Chunk { void run(int chunk, int from, int to); }

    static final int THREADS = Math.max(1, Runtime.getRuntime().availableProcessors());

    /** Below this many estimated flops/element-operations a loop runs serially. */
    static final long MIN_WORK = 32_768;

    private static final java.util.concurrent.atomic.AtomicInteger THREAD_IDS = new java.util.concurrent.atomic.AtomicInteger();

    static final ForkJoinPool POOL = new ForkJoinPool(THREADS, pool -> {
        ForkJoinWorkerThread t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
        t.setDaemon(true);
        t.setName("dinoseg-cpu-" + THREAD_IDS.getAndIncrement());
        return t;
    }, null, false);

    /** True on one of this pool's worker threads (nested loops then run serially). */
    static boolean inPool() {
        return Thread.currentThread() instanceof ForkJoinWorkerThread w && w.getPool() == POOL;
    }

    /**
     * Runs body over [0, n) in chunks; {@code costPerItem} is a rough number of operations per
     * index, used to decide how many chunks are worth it.
     */
    static void forRange(int n, long costPerItem, Range body) {
        if (n <= 0) return;
        long total = (long) n * Math.max(1, costPerItem);
        int chunks = (int) Math.min(n, Math.min((long) THREADS * 4, total / MIN_WORK));
        if (chunks <= 1 || THREADS == 1 || inPool()) {
            body.run(0, n);
            return;
        }
        forChunks(n, chunks, body);
    }

    /** Runs body over exactly {@code chunks} near-equal pieces of [0, n) in the pool. */
    static void forChunks(int n, int chunks, Range body) {
        forChunks(n, chunks, (Chunk) (c, from, to) -> body.run(from, to));
    }

    /**
     * Splits [0, n) into exactly {@code chunks} near-equal pieces (chunks clamped to [1, n]) and runs
     * them in the pool; piece c covers [n*c/chunks, n*(c+1)/chunks). Per-piece partial results can
     * be stored at index c. Returns the number of pieces.
     */
    static int forChunks(int n, int chunks, Chunk body) {
        chunks = Math.max(1, Math.min(chunks, n));
        if (chunks == 1 || inPool()) {
            final int c = chunks;
            for (int t = 0; t < c; t++) body.run(t, (int) ((long) n * t / c), (int) ((long) n * (t + 1) / c));
            return c;
        }
        final int c = chunks;
        POOL.invoke(new RecursiveAction() {
            @Override protected void compute() {
                ForkJoinTask<?>[] tasks = new ForkJoinTask<?>[c];
                for (int t = 0; t < c; t++) {
                    final int from = (int) ((long) n * t / c), to = (int) ((long) n * (t + 1) / c);
                    final int id = t;
                    tasks[t] = ForkJoinTask.adapt(() -> body.run(id, from, to));
                }
                invokeAll(tasks);
            }
        });
        return c;
    }
}
