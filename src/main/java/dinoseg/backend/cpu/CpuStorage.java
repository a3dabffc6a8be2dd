package dinoseg.backend.cpu;

import dinoseg.tensor.DType;
import dinoseg.tensor.Device;
import dinoseg.tensor.Storage;
import dinoseg.tensor.Tensor;

/**
 * Heap storage of the CPU backend: a float[] (F32) or an int[] (I32). {@link #close()} gives the
 * array back to the backend's {@link CpuArrayPool} (when it came from one) for the next tensor of
 * its length; a storage that is never closed is reclaimed by the garbage collector.
 *
 * <p>It may also hold a packed copy of itself as a linear layer's weight ({@link #linearPack}),
 * which stays only while the floats are unchanged: every hand-out of the array for an op that may
 * write it ({@link #floats}) drops the copy. Only {@link #floats} and {@link #floatsToRead} hand out
 * the array, and the backend ops are the only code that gets it, so a stale copy cannot be read.
 */
public final class CpuStorage implements Storage {
    private float[] f;
    private int[] i;
    private final DType dtype;
    private final int length;
    private final CpuArrayPool pool;
    /** Hand-outs of the array for writing ({@link #floats}); a packed copy belongs to one value of it. */
    private volatile long version;
    /** Reads as a linear weight ({@link #linearPack}) since {@link #version} was {@code readVersion}. */
    private long readVersion = -1;
    private int reads;
    /** The packed copy for {@link #linearPack}, made at {@link #version} {@code packVersion}; null: none. */
    private volatile float[] pack;
    private int packN, packK;
    private long packVersion = -1;

    CpuStorage(float[] data) { this(data, null); }

    CpuStorage(int[] data) { this(data, null); }

    /** Storage over {@code data}, which nothing else references; returned to {@code pool} (if any) on close. */
    CpuStorage(float[] data, CpuArrayPool pool) { this.f = data; this.dtype = DType.F32; this.length = data.length; this.pool = pool; }

    CpuStorage(int[] data, CpuArrayPool pool) { this.i = data; this.dtype = DType.I32; this.length = data.length; this.pool = pool; }

    @Override public Device device() { return Device.CPU; }

    @Override public long length() { return length; }

    @Override public DType dtype() { return dtype; }

    @Override public boolean isClosed() { return f == null && i == null; }

    @Override public synchronized void close() {
        float[] fa = f;
        int[] ia = i;
        f = null;
        i = null;
        pack = null;
        if (pool != null) {
            if (fa != null) pool.release(fa);
            if (ia != null) pool.release(ia);
        }
    }

    /**
     * The float array behind a CPU F32 tensor (backend.cpu only), for an op that may write it: drops
     * the packed copy ({@link #linearPack}).
     */
    static float[] floats(Tensor t) {
        CpuStorage s = f32(t);
        s.version++;
        s.pack = null;
        return s.f;
    }

    /** As {@link #floats} for an op that only reads the tensor: any packed copy stays valid. */
    static float[] floatsToRead(Tensor t) { return f32(t).f; }

    private static CpuStorage f32(Tensor t) {
        if (!(t.storage() instanceof CpuStorage s))
            throw new IllegalArgumentException("cpu backend: tensor " + t.shape() + " lives on " + t.device() + ", not on the cpu backend");
        if (s.dtype != DType.F32) throw new IllegalArgumentException("cpu backend: expected an F32 tensor, got " + s.dtype + " " + t.shape());
        if (s.f == null) throw new IllegalStateException("cpu backend: tensor " + t.shape() + " was closed");
        return s;
    }

    /** Unchanged reads as a linear weight after which {@link #linearPack} packs one. */
    static final int PACK_AFTER_READS = 3;

    /**
     * The weight w [n, k] of a linear layer packed as the B operand of x·wᵀ
     * ({@link VectorGemm#packLinearWeight}), once w has been read so {@link #PACK_AFTER_READS} times
     * with no write in between (at most one copy per storage). A frozen weight is packed at its third
     * use and read packed from then on, as ONNX Runtime prepacks constant initializers; a weight that
     * an optimizer writes every step is never packed, not even when activation checkpointing reads it
     * twice per step (forward and recomputation). Null when there is no copy to use (yet),
     * or when {@code room} says the copy's bytes do not fit. The copy goes with the next
     * {@link #floats} or {@link #close}.
     */
    static float[] linearPack(Tensor w, int n, int k, java.util.function.LongPredicate room) {
        CpuStorage s = f32(w);
        synchronized (s) {
            if (s.pack != null && s.packVersion == s.version && s.packN == n && s.packK == k) return s.pack;
            if (s.readVersion != s.version) {
                s.readVersion = s.version;
                s.reads = 0;
            }
            if (++s.reads < PACK_AFTER_READS) return null;
            long bytes = 4L * ((n + VectorGemm.NR - 1) / VectorGemm.NR * VectorGemm.NR) * k;
            if (!room.test(bytes)) return null;
            s.pack = VectorGemm.packLinearWeight(s.f, n, k);
            s.packN = n;
            s.packK = k;
            s.packVersion = s.version;
            return s.pack;
        }
    }

    /** Whether t's storage holds a packed copy valid for its current floats (tests). */
    static boolean hasLinearPack(Tensor t) {
        CpuStorage s = f32(t);
        synchronized (s) {
            return s.pack != null && s.packVersion == s.version;
        }
    }

    /** The int array behind a CPU I32 tensor (backend.cpu only). */
    static int[] ints(Tensor t) {
        if (!(t.storage() instanceof CpuStorage s))
            throw new IllegalArgumentException("cpu backend: tensor " + t.shape() + " lives on " + t.device() + ", not on the cpu backend");
        if (s.dtype != DType.I32) throw new IllegalArgumentException("cpu backend: expected an I32 tensor, got " + s.dtype + " " + t.shape());
        if (s.i == null) throw new IllegalStateException("cpu backend: tensor " + t.shape() + " was closed");
        return s.i;
    }
}
