package dinoseg.data;

import boofcv.struct.image.GrayF32;
import boofcv.struct.image.Planar;

import java.lang.ref.SoftReference;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The loader's decode-once cache: what a sample's files gave the first time it was loaded, kept on the
 * heap within a byte budget, so later epochs skip the JPEG/PNG decoding (and, without augmentation,
 * the resize and normalisation too). Every hit gives exactly the arrays a fresh decode gives.
 *
 * <p>Per sample it keeps the smaller of two forms:
 * <ul>
 * <li><b>prepared</b> (only when the loader does not augment, whose output then depends on the files
 *     alone): the normalised CHW floats and the labels at the target size, copied straight into the
 *     batch;</li>
 * <li><b>decoded</b>: the upright picture as 8-bit planar RGB and the class map at the file's size
 *     (bytes when every id fits 0..255), from which each epoch draws its own augmentation as before.</li>
 * </ul>
 * The budget counts array bytes plus a small per-entry overhead; a sample that would overflow it is
 * not cached (nothing is evicted, so the first samples loaded stay). Entries are held through
 * {@link SoftReference}s: under memory pressure the JVM drops them (they are then decoded again)
 * rather than failing with an OutOfMemoryError. Thread-safe: loader workers fill it concurrently.
 *
 * <p>The training default budget is {@link #defaultBudgetBytes()}: a quarter of the maximum heap, or
 * the system property {@value #BUDGET_PROPERTY} in MiB ({@code 0} turns the cache off).
 */
public final class SampleCache {
    /** System property: the cache budget in MiB for training (0 disables the cache). */
    public static final String BUDGET_PROPERTY = "dinoseg.imageCacheMiB";
    /** Share of the maximum heap the training default gives the caches (train and valid together). */
    public static final double DEFAULT_HEAP_SHARE = 0.25;
    /** Bytes counted per entry beyond its arrays (object headers, references). */
    static final long ENTRY_OVERHEAD = 128;

    /** A sample at the target size: normalised CHW floats and labels (bytes or ints). */
    record Prepared(float[] chw, byte[] labelBytes, int[] labelInts) {
        long bytes() { return 4L * chw.length + (labelBytes != null ? labelBytes.length : 4L * labelInts.length) + ENTRY_OVERHEAD; }
    }

    /** A decoded sample at its file size: planar 8-bit RGB (R plane, G plane, B plane) and labels. */
    record Decoded(byte[] rgbPlanes, int width, int height, byte[] labelBytes, int[] labelInts) {
        long bytes() { return rgbPlanes.length + (labelBytes != null ? labelBytes.length : 4L * labelInts.length) + ENTRY_OVERHEAD; }

        /**
         * The picture as 3-band planar floats 0..255 (what {@link ImageIOUtil#toPlanar(int[], int, int)} gives),
         * written into {@code reuse} when it has this size and 3 bands.
         */
        Planar<GrayF32> image(Planar<GrayF32> reuse) {
            Planar<GrayF32> p = reuse != null && reuse.width == width && reuse.height == height && reuse.getNumBands() == 3
                    ? reuse : new Planar<>(GrayF32.class, width, height, 3);
            int n = width * height;
            for (int c = 0; c < 3; c++) {
                GrayF32 b = p.getBand(c);
                for (int y = 0; y < height; y++) {
                    int o = b.startIndex + y * b.stride, s = c * n + y * width;
                    for (int x = 0; x < width; x++) b.data[o + x] = rgbPlanes[s + x] & 255;
                }
            }
            return p;
        }

        /** The class map (the stored array itself when kept as ints: read it, never write it). */
        int[] labels() { return SampleCache.labels(labelBytes, labelInts); }
    }

    private final long budget;
    private final AtomicReferenceArray<SoftReference<Object>> entries;
    private final long[] sizes;               // bytes charged per entry (0: none), guarded by the entry's slot
    private final AtomicLong used = new AtomicLong();
    private final AtomicInteger hits = new AtomicInteger(), misses = new AtomicInteger(), refused = new AtomicInteger();

    /**
     * A cache for {@code samples} samples (dataset indices 0..samples-1).
     *
     * @param budgetBytes the most bytes the entries may take (0: cache nothing)
     * @throws IllegalArgumentException when a count or the budget is negative
     */
    public SampleCache(int samples, long budgetBytes) {
        if (samples < 0 || budgetBytes < 0) throw new IllegalArgumentException("SampleCache: " + samples + " samples, budget " + budgetBytes + " bytes");
        this.budget = budgetBytes;
        this.entries = new AtomicReferenceArray<>(samples);
        this.sizes = new long[samples];
    }

    /**
     * The training default budget in bytes: {@value #BUDGET_PROPERTY} (MiB) when set, else
     * {@link #DEFAULT_HEAP_SHARE} of the maximum heap.
     *
     * @throws IllegalArgumentException when the property is not a non-negative number
     */
    public static long defaultBudgetBytes() {
        String p = System.getProperty(BUDGET_PROPERTY);
        if (p == null || p.isBlank()) return (long) (DEFAULT_HEAP_SHARE * Runtime.getRuntime().maxMemory());
        double mib;
        try {
            mib = Double.parseDouble(p.trim());
        } catch (NumberFormatException e) {
            mib = -1;
        }
        if (!(mib >= 0) || Double.isInfinite(mib))
            throw new IllegalArgumentException("-D" + BUDGET_PROPERTY + "=" + p + ": expected a size in MiB, 0 or more (0 turns the image cache off)");
        return (long) (mib * 1024 * 1024);
    }

    /** The budget in bytes. */
    public long budget() { return budget; }

    /** Bytes the live entries take (entries the JVM dropped are subtracted when next looked up). */
    public long bytes() { return used.get(); }

    /** Lookups that found an entry. */
    public int hits() { return hits.get(); }

    /** Lookups that found none. */
    public int misses() { return misses.get(); }

    /** Samples not cached because the budget was spent. */
    public int refused() { return refused.get(); }

    /** Entries held now. */
    public int size() {
        int n = 0;
        for (int i = 0; i < entries.length(); i++) {
            SoftReference<Object> r = entries.get(i);
            if (r != null && r.get() != null) n++;
        }
        return n;
    }

    /** The entry of sample {@code index} (a {@link Prepared} or a {@link Decoded}), or null; counts a hit or a miss. */
    Object get(int index) {
        if (budget == 0) return null;
        SoftReference<Object> r = entries.get(index);
        Object v = r == null ? null : r.get();
        if (v == null) {
            if (r != null && entries.compareAndSet(index, r, null)) release(index);   // dropped by the JVM
            misses.incrementAndGet();
            return null;
        }
        hits.incrementAndGet();
        return v;
    }

    /** Stores an entry when the budget allows; returns whether it was stored. */
    boolean put(int index, Object entry, long bytes) {
        if (budget == 0) return false;
        if (entries.get(index) != null) return false;
        long u;
        do {
            u = used.get();
            if (u + bytes > budget) {
                refused.incrementAndGet();
                return false;
            }
        } while (!used.compareAndSet(u, u + bytes));
        if (!entries.compareAndSet(index, null, new SoftReference<>(entry))) {
            used.addAndGet(-bytes);
            return false;
        }
        synchronized (sizes) {
            sizes[index] = bytes;
        }
        return true;
    }

    private void release(int index) {
        long b;
        synchronized (sizes) {
            b = sizes[index];
            sizes[index] = 0;
        }
        used.addAndGet(-b);
    }

    /** A prepared entry, with labels as bytes when they all fit 0..255. */
    static Prepared prepared(float[] chw, int[] labels) {
        byte[] b = bytesOrNull(labels);
        return new Prepared(chw, b, b == null ? labels : null);
    }

    /** A decoded entry of a picture (3 bands of integral values 0..255, as decoding gives) and its class map (kept as given when not bytes). */
    static Decoded decoded(Planar<GrayF32> image, int[] labels) {
        int w = image.width, h = image.height, n = w * h;
        byte[] planes = new byte[3 * n];
        for (int c = 0; c < 3; c++) {
            GrayF32 b = image.getBand(c);
            for (int y = 0; y < h; y++) {
                int o = b.startIndex + y * b.stride, s = c * n + y * w;
                for (int x = 0; x < w; x++) planes[s + x] = (byte) (int) b.data[o + x];
            }
        }
        byte[] b = bytesOrNull(labels);
        return new Decoded(planes, w, h, b, b == null ? labels : null);
    }

    /** Bytes a prepared entry of a target of w x h takes (labels as bytes). */
    static long preparedBytes(int w, int h) {
        return 4L * 3 * w * h + (long) w * h + ENTRY_OVERHEAD;
    }

    /** Bytes a decoded entry of a w x h picture takes (labels as bytes). */
    static long decodedBytes(int w, int h) {
        return 4L * w * h + ENTRY_OVERHEAD;
    }

    private static byte[] bytesOrNull(int[] labels) {
        for (int v : labels) if ((v & ~255) != 0) return null;
        byte[] b = new byte[labels.length];
        for (int i = 0; i < labels.length; i++) b[i] = (byte) labels[i];
        return b;
    }

    static int[] labels(byte[] b, int[] ints) {
        if (ints != null) return ints;
        int[] out = new int[b.length];
        for (int i = 0; i < b.length; i++) out[i] = b[i] & 255;
        return out;
    }

    /** One line: entries, MiB used of the budget, hits, misses, refusals. */
    public String describe() {
        return String.format(Locale.ROOT, "%d entries, %.1f of %.1f MiB, %d hits, %d misses, %d not cached (budget)",
                size(), bytes() / 1048576.0, budget / 1048576.0, hits(), misses(), refused());
    }
}
