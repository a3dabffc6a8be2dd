package dinoseg.backend.cpu;

import java.lang.ref.SoftReference;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A cache of the CPU backend's float and int arrays, the heap counterpart of the CUDA backend's
 * caching allocator: a closed tensor's array goes to a free list for its exact length and the next
 * tensor of that length reuses it (zero-filled, so a tensor's contents never depend on the pool).
 * A training step allocates the same shapes step after step, so in steady state it allocates
 * nothing on the heap, and the garbage collector sees no large dead arrays: peak heap stays near
 * the bytes actually live instead of live plus uncollected garbage.
 *
 * <p>Arrays below {@link #MIN_LENGTH} elements are left to the garbage collector. The cache holds
 * at most {@code capBytes}; beyond that the lengths used longest ago are dropped first. Cached arrays
 * are held through {@link SoftReference}s, so the JVM reclaims them before it would run out of heap
 * (the cache never makes a run fail that would fit without it). Tensors that are never closed are
 * simply collected by the JVM (they never return here). Thread-safe.
 */
final class CpuArrayPool {
    /** Smallest array length worth caching (16 KiB of floats). */
    static final int MIN_LENGTH = 4096;

    private final long capBytes;
    /** Free arrays by length, in least-recently-used order of lengths. */
    private final LinkedHashMap<Integer, ArrayDeque<SoftReference<float[]>>> floats = new LinkedHashMap<>(16, 0.75f, true);
    private final Map<Integer, ArrayDeque<SoftReference<int[]>>> ints = new HashMap<>();
    private long cachedBytes;
    private long hits, misses;

    CpuArrayPool(long capBytes) { this.capBytes = Math.max(0, capBytes); }

    /** The default cap: a quarter of the maximum heap, or {@code -Ddinoseg.cpu.cacheMiB=N}. */
    static long defaultCapBytes() {
        String p = System.getProperty("dinoseg.cpu.cacheMiB");
        if (p != null) {
            try {
                return Math.max(0, Long.parseLong(p.trim())) << 20;
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("-Ddinoseg.cpu.cacheMiB: '" + p + "' is not a whole number of MiB");
            }
        }
        return Runtime.getRuntime().maxMemory() / 4;
    }

    /**
     * Test hook, {@code -Ddinoseg.cpu.poisonEmpty=true} (set for the test suite by the pom): arrays of
     * {@link #floatsUninitialized} / {@link #intsUninitialized} are filled with NaN (ints: {@link #POISON_INT}),
     * so an op that reads an element of an {@code empty} tensor it never wrote fails its tests, as on
     * the CUDA emulator, whose allocations are poisoned too.
     */
    static final boolean POISON = Boolean.getBoolean("dinoseg.cpu.poisonEmpty");
    static final int POISON_INT = 0x7fbadbad;

    /**
     * A float array of length n with unspecified contents (Backend.empty): a cached one as it was left,
     * or a new one; no zero-filling pass (under {@link #POISON}: NaN-filled).
     */
    float[] floatsUninitialized(int n) {
        float[] a = cachedFloats(n);
        if (a == null) a = new float[n];
        if (POISON) java.util.Arrays.fill(a, Float.NaN);
        return a;
    }

    /** An int array of length n with unspecified contents (see {@link #floatsUninitialized}). */
    int[] intsUninitialized(int n) {
        int[] a = cachedInts(n);
        if (a == null) a = new int[n];
        if (POISON) java.util.Arrays.fill(a, POISON_INT);
        return a;
    }

    /** A zero-filled float array of length n (cached or new). */
    float[] floats(int n) {
        float[] a = cachedFloats(n);
        if (a == null) return new float[n];
        java.util.Arrays.fill(a, 0f);
        return a;
    }

    /** A zero-filled int array of length n (cached or new). */
    int[] ints(int n) {
        int[] a = cachedInts(n);
        if (a == null) return new int[n];
        java.util.Arrays.fill(a, 0);
        return a;
    }

    /** A cached float array of length n as it was left, or null (also below {@link #MIN_LENGTH}); counts the hit or miss. */
    private synchronized float[] cachedFloats(int n) {
        if (n < MIN_LENGTH) return null;
        float[] a = take(floats.get(n), n);
        if (a != null) hits++; else misses++;
        return a;
    }

    /** As {@link #cachedFloats} for int arrays. */
    private synchronized int[] cachedInts(int n) {
        if (n < MIN_LENGTH) return null;
        int[] a = take(ints.get(n), n);
        if (a != null) hits++; else misses++;
        return a;
    }

    /** The first array of q the garbage collector has not reclaimed, or null; every entry polled leaves the count. */
    private <T> T take(ArrayDeque<SoftReference<T>> q, int n) {
        if (q == null) return null;
        for (SoftReference<T> r; (r = q.poll()) != null; ) {
            cachedBytes -= 4L * n;
            T a = r.get();
            if (a != null) return a;
        }
        return null;
    }

    /** Takes back the array of a closed tensor (the caller guarantees nothing else references it). */
    synchronized void release(float[] a) {
        if (a.length < MIN_LENGTH || 4L * a.length > capBytes) return;
        makeRoom(4L * a.length);
        floats.computeIfAbsent(a.length, k -> new ArrayDeque<>()).push(new SoftReference<>(a));
        cachedBytes += 4L * a.length;
    }

    synchronized void release(int[] a) {
        if (a.length < MIN_LENGTH || 4L * a.length > capBytes) return;
        makeRoom(4L * a.length);
        ints.computeIfAbsent(a.length, k -> new ArrayDeque<>()).push(new SoftReference<>(a));
        cachedBytes += 4L * a.length;
    }

    /** Drops cached arrays (int arrays first, then float lengths least recently used) until {@code more} bytes fit. */
    private void makeRoom(long more) {
        for (Iterator<Map.Entry<Integer, ArrayDeque<SoftReference<int[]>>>> it = ints.entrySet().iterator(); cachedBytes + more > capBytes && it.hasNext(); ) {
            var e = it.next();
            while (!e.getValue().isEmpty() && cachedBytes + more > capBytes) { e.getValue().pop(); cachedBytes -= 4L * e.getKey(); }
            if (e.getValue().isEmpty()) it.remove();
        }
        for (Iterator<Map.Entry<Integer, ArrayDeque<SoftReference<float[]>>>> it = floats.entrySet().iterator(); cachedBytes + more > capBytes && it.hasNext(); ) {
            var e = it.next();
            while (!e.getValue().isEmpty() && cachedBytes + more > capBytes) { e.getValue().pop(); cachedBytes -= 4L * e.getKey(); }
            if (e.getValue().isEmpty()) it.remove();
        }
    }

    /** Frees every cached array (the garbage collector reclaims them). */
    synchronized void clear() {
        floats.clear();
        ints.clear();
        cachedBytes = 0;
    }

    /** Bytes of the cached arrays (an upper bound: some may have been reclaimed by the garbage collector since). */
    synchronized long cachedBytes() { return cachedBytes; }

    /** Allocations of cacheable size served from the cache / newly allocated. */
    synchronized long hits() { return hits; }

    synchronized long misses() { return misses; }
}
