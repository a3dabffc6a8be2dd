package dinoseg.backend.cpu;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * The one thread pool of the CPU backend and a chunked parallel loop, in the manner of an OpenMP
 * runtime's fork-join team: {@code THREADS − 1} daemon workers (one per core beside the caller) and
 * the calling thread, which takes pieces of each loop itself.
 *
 * <p>A loop is published as one job; every thread of the team claims its pieces from a shared
 * counter until none is left, so a piece ends up on whichever thread is free (the split, and so
 * every result, is the same whichever thread runs a piece). Between loops a worker waits by
 * spinning for {@link #SPIN_NS} ({@code Thread.onSpinWait}), then parks; the caller waits for the
 * last piece the same way. That is OpenMP's default wait policy (spin, then sleep; ONNX Runtime's
 * pool spins too), and it matters here: a model step runs some hundred loops of 0.05–2 ms, and
 * waking a parked thread costs 20–160 µs on these virtual machines (a java.util.concurrent
 * ForkJoinPool, which parks idle workers at once and leaves the caller waiting, paid three such
 * wake-ups per loop). The property {@code dinoseg.cpu.spin-us} sets the spin (0: park at once, for a
 * machine shared with other busy programs).
 *
 * <p>Work below a threshold runs on the calling thread so small tensors pay no hand-off cost. A
 * loop started inside a piece, or from a second thread while the team is busy with another
 * caller's loop, runs serially on its own thread (the team already uses every core).
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

    /** How long an idle thread of the team spins before it parks, in nanoseconds. */
    static final long SPIN_NS = Math.max(0, Long.getLong("dinoseg.cpu.spin-us", 200)) * 1000;

    /** One loop: its split, the next unclaimed piece, the pieces finished and the first failure. */
    private static final class Job {
        /** Number of this loop (from 1), by which a worker tells a new loop from the one it last ran. */
        final long seq;
        final Chunk body;
        final int n, chunks;
        final Thread caller;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger finished = new AtomicInteger();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        volatile boolean callerParked;

        Job(long seq, Chunk body, int n, int chunks, Thread caller) {
            this.seq = seq;
            this.body = body;
            this.n = n;
            this.chunks = chunks;
            this.caller = caller;
        }

        /** Runs unclaimed pieces until none is left; the thread that ends the last one wakes the caller. */
        void work() {
            for (int c; (c = next.getAndIncrement()) < chunks; ) {
                try {
                    if (failure.get() == null) body.run(c, (int) ((long) n * c / chunks), (int) ((long) n * (c + 1) / chunks));
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                } finally {
                    if (finished.incrementAndGet() == chunks && callerParked) LockSupport.unpark(caller);
                }
            }
        }

        boolean done() { return finished.get() == chunks; }
    }

    private static final class Worker extends Thread {
        volatile boolean parked;

        Worker(int id) {
            super("dinoseg-cpu-" + id);
            setDaemon(true);
        }

        @Override public void run() {
            // only the number of the last loop is kept, not the loop: its body holds the caller's arrays
            for (long last = 0; ; ) {
                Job job = await(last);
                last = job.seq;
                job.work();
            }
        }

        /** Waits for a loop numbered other than {@code last}: spins for SPIN_NS, then parks. */
        private Job await(long last) {
            long start = System.nanoTime();
            for (int spins = 0; ; spins++) {
                Job job = current;
                if (job != null && job.seq != last) return job;
                if ((spins & 63) != 63 || System.nanoTime() - start < SPIN_NS) {
                    Thread.onSpinWait();
                    continue;
                }
                parked = true;
                job = current;            // re-read after announcing: a publisher that missed the flag was seen here
                if (job == null || job.seq == last) LockSupport.park(this);
                parked = false;
                start = System.nanoTime();
                spins = 0;
            }
        }
    }

    /** The loop the team is working on; null between loops, so that no array outlives its loop here. */
    private static volatile Job current;
    /** Number of the last loop published (guarded by {@link #BUSY}). */
    private static long published;
    /** Held by the thread whose loop the team runs. */
    private static final AtomicBoolean BUSY = new AtomicBoolean();
    /** The thread holding {@link #BUSY}. */
    private static volatile Thread owner;
    private static final Worker[] WORKERS = new Worker[THREADS - 1];

    static {
        for (int i = 0; i < WORKERS.length; i++) {
            WORKERS[i] = new Worker(i);
            WORKERS[i].start();
        }
    }

    /** True on a thread that is running a piece of a parallel loop (nested loops then run serially). */
    static boolean inPool() {
        Thread t = Thread.currentThread();
        return t instanceof Worker || t == owner;
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
     * them on the team; piece c covers [n*c/chunks, n*(c+1)/chunks). Per-piece partial results can
     * be stored at index c. An exception thrown by a piece is rethrown here once every piece has
     * ended (pieces not yet started are skipped). Returns the number of pieces.
     */
    static int forChunks(int n, int chunks, Chunk body) {
        chunks = Math.max(1, Math.min(chunks, n));
        final int c = chunks;
        if (c == 1 || THREADS == 1 || inPool() || !BUSY.compareAndSet(false, true)) {
            for (int t = 0; t < c; t++) body.run(t, (int) ((long) n * t / c), (int) ((long) n * (t + 1) / c));
            return c;
        }
        Thread self = Thread.currentThread();
        Job job = new Job(++published, body, n, c, self);
        owner = self;
        try {
            current = job;
            for (Worker w : WORKERS) if (w.parked) LockSupport.unpark(w);
            job.work();
            awaitDone(job);
        } finally {
            current = null;
            owner = null;
            BUSY.set(false);
        }
        Throwable t = job.failure.get();
        if (t instanceof RuntimeException e) throw e;
        if (t instanceof Error e) throw e;
        if (t != null) throw new IllegalStateException(t);
        return c;
    }

    /** The caller's wait for pieces still running on workers: spin for SPIN_NS, then park. */
    private static void awaitDone(Job job) {
        long start = System.nanoTime();
        for (int spins = 0; !job.done(); spins++) {
            if ((spins & 63) != 63 || System.nanoTime() - start < SPIN_NS) {
                Thread.onSpinWait();
                continue;
            }
            job.callerParked = true;
            if (!job.done()) LockSupport.park(job);
            job.callerParked = false;
        }
    }
}
