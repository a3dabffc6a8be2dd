package dinoseg.backend.cpu;

import dinoseg.tensor.DType;
import dinoseg.tensor.Device;
import dinoseg.tensor.Storage;
import dinoseg.tensor.Tensor;

/**
 * Heap storage of the CPU backend: a float[] (F32) or an int[] (I32). {@link #close()} gives the
 * array back to the backend's {@link CpuArrayPool} (when it came from one) for the next tensor of
 * its length; a storage that is never closed is reclaimed by the garbage collector.
 */
public final class CpuStorage implements Storage {
    private float[] f;
    private int[] i;
    private final DType dtype;
    private final int length;
    private final CpuArrayPool pool;

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
        if (pool != null) {
            if (fa != null) pool.release(fa);
            if (ia != null) pool.release(ia);
        }
    }

    /** The float array behind a CPU F32 tensor (backend.cpu only). */
    static float[] floats(Tensor t) {
        if (!(t.storage() instanceof CpuStorage s))
            throw new IllegalArgumentException("cpu backend: tensor " + t.shape() + " lives on " + t.device() + ", not on the cpu backend");
        if (s.dtype != DType.F32) throw new IllegalArgumentException("cpu backend: expected an F32 tensor, got " + s.dtype + " " + t.shape());
        if (s.f == null) throw new IllegalStateException("cpu backend: tensor " + t.shape() + " was closed");
        return s.f;
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
