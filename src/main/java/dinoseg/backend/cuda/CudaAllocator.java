package dinoseg.backend.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuThreadExchangeStreamCaptureMode;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

import jcuda.CudaException;
import jcuda.driver.CUdeviceptr;

/**
 * A caching device-memory allocator: requests are rounded up to size buckets, and freed blocks go
 * to per-bucket free lists for reuse, so a training step in steady state makes no cuMemAlloc call.
 * All work runs on one stream, so a block freed here (explicitly or by the Cleaner) can be handed
 * out again at once: every later use is queued after every earlier one.
 * When the device is full the cache is released, the garbage collector is asked to return
 * unreachable tensors, and the allocation is retried once before failing with the sizes.
 * Thread-safe (the Cleaner thread returns blocks concurrently).
 *
 * <p>While a CUDA graph is captured ({@link #beginCapture}) blocks come from a {@link GraphPool}
 * kept for that graph, like PyTorch's graph-private memory pool: a replay writes the same addresses
 * the capture recorded, so the pool's blocks are handed out only to the capture that recorded them
 * and return to the shared cache when the graph is closed.
 */
final class CudaAllocator {

    /** A device block of {@code bytes} (the bucket size). */
    static final class Block {
        final CUdeviceptr ptr;
        final long bytes;
        /** The graph pool that owns it, or null (the shared cache). */
        final GraphPool pool;

        Block(CUdeviceptr ptr, long bytes) { this(ptr, bytes, null); }

        Block(CUdeviceptr ptr, long bytes, GraphPool pool) { this.ptr = ptr; this.bytes = bytes; this.pool = pool; }
    }

    /** The memory of one captured graph: every block its capture took, free ones kept for its replays. */
    static final class GraphPool {
        private final Map<Long, ArrayDeque<CUdeviceptr>> free = new HashMap<>();
        private long bytes, freeBytes;
        private boolean closed;

        /** Bytes of device memory the graph holds (its intermediates and its outputs). */
        long bytes() { return bytes; }
    }

    private GraphPool capturing;
    private long graphBytes;

    private final Map<Long, ArrayDeque<CUdeviceptr>> free = new HashMap<>();
    private long cachedBytes;
    private long liveBytes;
    private long peakBytes;
    private long deviceAllocs;
    private long cleanerReleases, cleanerBytes;
    private static final System.Logger LOG = System.getLogger("dinoseg.cuda.memory");
    private boolean closed;

    /** The bucket a request of {@code bytes} is served from: 512-byte steps up to 1 MiB, then 8 steps per power of two. */
    static long bucket(long bytes) {
        long b = Math.max(bytes, 512);
        if (b <= (1L << 20)) return (b + 511) & ~511L;
        long p = Long.highestOneBit(b - 1);   // b in (p, 2p]
        long step = p / 8;
        return (b + step - 1) / step * step;
    }

    Block allocate(long bytes) {
        long size = bucket(bytes);
        GraphPool pool;
        synchronized (this) { pool = capturing; }
        if (pool != null) return allocateForCapture(pool, size);
        Block b = reuse(size);
        if (b != null) return b;
        CUdeviceptr p = tryMalloc(size);
        if (p == null) {
            emptyCache();
            p = tryMalloc(size);
        }
        if (p == null) {
            // Unreachable tensors may still hold blocks: collect them, give the Cleaner up to a second
            // to return their blocks (until the cache stops growing), then retry once.
            long before = cachedBytes();
            System.gc();
            long last = -1;
            for (int i = 0; i < 50; i++) {
                try { Thread.sleep(20); } catch (InterruptedException e) { Thread.currentThread().interrupt(); break; }
                long now = cachedBytes();
                if (now > before && now == last) break;
                last = now;
            }
            b = reuse(size);
            if (b != null) return b;
            emptyCache();
            p = tryMalloc(size);
        }
        if (p == null) {
            long[] freeMem = new long[1], total = new long[1];
            try { cuMemGetInfo(freeMem, total); } catch (CudaException ignored) { /* report what we know */ }
            throw new IllegalStateException(String.format(java.util.Locale.ROOT,
                    "CUDA out of memory: cannot allocate %s (bucket %s); live tensors hold %s, device has %s free of %s",
                    mib(bytes), mib(size), mib(liveBytes()), mib(freeMem[0]), mib(total[0])));
        }
        synchronized (this) {
            deviceAllocs++;
            liveBytes += size;
            peakBytes = Math.max(peakBytes, liveBytes);
        }
        return new Block(p, size);
    }

    /**
     * A block for the capture of {@code pool}'s graph: one the capture freed, else one from the shared
     * cache, else a new one (cuMemAlloc in the relaxed capture mode, as PyTorch's allocator does: the
     * call is not recorded). No cache is emptied and no garbage collected while capturing.
     */
    private Block allocateForCapture(GraphPool pool, long size) {
        synchronized (this) {
            ArrayDeque<CUdeviceptr> q = pool.free.get(size);
            if (q != null && !q.isEmpty()) {
                pool.freeBytes -= size;
                return liveBlock(q.pop(), size, pool);
            }
            q = free.get(size);
            if (q != null && !q.isEmpty()) {
                cachedBytes -= size;
                pool.bytes += size;
                graphBytes += size;
                return liveBlock(q.pop(), size, pool);
            }
        }
        int[] mode = {2};   // CU_STREAM_CAPTURE_MODE_RELAXED
        cuThreadExchangeStreamCaptureMode(mode);
        CUdeviceptr p;
        try {
            p = tryMalloc(size);
        } finally {
            cuThreadExchangeStreamCaptureMode(mode);
        }
        if (p == null)
            throw new IllegalStateException("CUDA out of memory while capturing a graph: cannot allocate " + mib(size)
                    + "; live tensors hold " + mib(liveBytes()) + ", graphs " + mib(graphBytes()));
        synchronized (this) {
            deviceAllocs++;
            pool.bytes += size;
            graphBytes += size;
            return liveBlock(p, size, pool);
        }
    }

    private Block liveBlock(CUdeviceptr p, long size, GraphPool pool) {
        liveBytes += size;
        peakBytes = Math.max(peakBytes, liveBytes);
        return new Block(p, size, pool);
    }

    /** From now until {@link #endCapture} allocations come from a new graph pool. */
    synchronized GraphPool beginCapture() {
        if (capturing != null) throw new IllegalStateException("a graph is already being captured");
        capturing = new GraphPool();
        return capturing;
    }

    /** Allocations come from the shared cache again; the pool keeps its blocks for the graph's replays. */
    synchronized void endCapture() { capturing = null; }

    /** The graph of {@code pool} is gone: its free blocks return to the shared cache, and so will its live ones. */
    synchronized void closePool(GraphPool pool) {
        if (pool.closed) return;
        pool.closed = true;
        for (Map.Entry<Long, ArrayDeque<CUdeviceptr>> e : pool.free.entrySet())
            for (CUdeviceptr p : e.getValue()) toCache(p, e.getKey());
        graphBytes -= pool.freeBytes;
        pool.free.clear();
        pool.freeBytes = 0;
    }

    private void toCache(CUdeviceptr p, long size) {
        cachedBytes += size;
        free.computeIfAbsent(size, k -> new ArrayDeque<>()).push(p);
    }

    private synchronized Block reuse(long size) {
        ArrayDeque<CUdeviceptr> q = free.get(size);
        if (q == null || q.isEmpty()) return null;
        cachedBytes -= size;
        liveBytes += size;
        peakBytes = Math.max(peakBytes, liveBytes);
        return new Block(q.pop(), size);
    }

    private static CUdeviceptr tryMalloc(long size) {
        CUdeviceptr p = new CUdeviceptr();
        try {
            cuMemAlloc(p, size);
            return p;
        } catch (CudaException e) {
            if (String.valueOf(e.getMessage()).contains("OUT_OF_MEMORY")) return null;
            throw e;
        }
    }

    /**
     * Returns a block to the cache: from {@code Tensor.close()}, or from the Cleaner
     * ({@code byCleaner}) for a tensor that became unreachable without being closed. The Cleaner is
     * a safety net: each block it had to return is counted ({@link #cleanerReleases}) and logged at
     * DEBUG level, since it means some code path does not free what it made.
     */
    synchronized void release(Block b, boolean byCleaner) {
        if (byCleaner) {
            cleanerReleases++;
            cleanerBytes += b.bytes;
            LOG.log(System.Logger.Level.DEBUG, () -> "the garbage collector returned an unclosed CUDA tensor of " + mib(b.bytes)
                    + " (" + cleanerReleases + " so far, " + mib(cleanerBytes) + ")");
        }
        if (closed) return;
        liveBytes -= b.bytes;
        if (b.pool != null && !b.pool.closed) {   // kept for the graph's replays
            b.pool.freeBytes += b.bytes;
            b.pool.free.computeIfAbsent(b.bytes, k -> new ArrayDeque<>()).push(b.ptr);
            return;
        }
        if (b.pool != null) graphBytes -= b.bytes;
        toCache(b.ptr, b.bytes);
    }

    /** Frees every cached block on the device (waits for queued work first). */
    synchronized void emptyCache() {
        if (closed || cachedBytes == 0 || capturing != null) return;
        cuCtxSynchronize();
        for (ArrayDeque<CUdeviceptr> q : free.values()) for (CUdeviceptr p : q) cuMemFree(p);
        free.clear();
        cachedBytes = 0;
    }

    synchronized long liveBytes() { return liveBytes; }

    synchronized long cachedBytes() { return cachedBytes; }

    /** Bytes held by open graphs' pools (free for their replays or live as their outputs). */
    synchronized long graphBytes() { return graphBytes; }

    synchronized long peakBytes() { return peakBytes; }

    /** A new peak from now: the live bytes. */
    synchronized void resetPeak() { peakBytes = liveBytes; }

    /** Blocks the Cleaner returned (tensors dropped without close) since the allocator opened. */
    synchronized long cleanerReleases() { return cleanerReleases; }

    /** How many times the device allocator was called (flat in steady state). */
    synchronized long deviceAllocations() { return deviceAllocs; }

    /** Frees the cache and stops accepting blocks (live tensors die with the context). */
    synchronized void close() {
        emptyCache();
        closed = true;
    }

    static String mib(long bytes) { return String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / 1048576.0); }
}
