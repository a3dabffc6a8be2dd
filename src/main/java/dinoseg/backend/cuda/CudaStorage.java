package dinoseg.backend.cuda;

import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicBoolean;

import dinoseg.tensor.DType;
import dinoseg.tensor.Device;
import dinoseg.tensor.Storage;
import jcuda.driver.CUdeviceptr;

/**
 * Device memory behind a tensor: a block of the backend's caching allocator. {@link #close()}
 * returns the block to the cache at once; a Cleaner returns it when the storage becomes unreachable.
 */
public final class CudaStorage implements Storage {
    private static final Cleaner CLEANER = Cleaner.create();

    /** The cleaning action: holds no reference to the storage itself. */
    private static final class Release implements Runnable {
        private final CudaAllocator allocator;
        private final CudaAllocator.Block block;
        private final AtomicBoolean released;
        /** Set by close() before it runs this action: the release is explicit, not the Cleaner's. */
        volatile boolean explicit;

        Release(CudaAllocator allocator, CudaAllocator.Block block, AtomicBoolean released) {
            this.allocator = allocator;
            this.block = block;
            this.released = released;
        }

        @Override public void run() {
            if (released.compareAndSet(false, true)) allocator.release(block, !explicit);
        }
    }

    private final CudaAllocator.Block block;
    private final long length;
    private final DType dtype;
    private final Device device;
    private final AtomicBoolean released = new AtomicBoolean();
    private final Cleaner.Cleanable cleanable;
    private final Release release;

    CudaStorage(CudaAllocator allocator, Device device, long length, DType dtype) {
        this.block = allocator.allocate(length * dtype.bytes());
        this.length = length;
        this.dtype = dtype;
        this.device = device;
        this.release = new Release(allocator, block, released);
        this.cleanable = CLEANER.register(this, release);
    }

    /** The device address; fails if the storage was closed. */
    CUdeviceptr ptr() {
        if (released.get()) throw new IllegalStateException("use of a closed CUDA tensor storage (" + length + " x " + dtype + ")");
        return block.ptr;
    }

    @Override public Device device() { return device; }

    @Override public long length() { return length; }

    @Override public DType dtype() { return dtype; }

    @Override public boolean isClosed() { return released.get(); }

    @Override public void close() {
        release.explicit = true;
        cleanable.clean();
    }
}
