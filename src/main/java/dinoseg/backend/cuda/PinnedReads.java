package dinoseg.backend.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;

import java.nio.ByteOrder;
import java.nio.FloatBuffer;

import dinoseg.backend.Backend;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUstream;

/**
 * {@link Backend#readLater} on the GPU: a ring of page-locked slots of {@link Backend#READ_LATER_MAX}
 * floats. A read queues cuMemcpyDtoHAsync into the next slot and records an event after it; its
 * {@code get()} waits for that event only. A slot is refilled {@link Backend#READ_LATER_SLOTS}
 * reads later; a read not taken by then fails rather than return another read's values.
 */
final class PinnedReads {
    private final CUstream stream;
    private final Pointer host = new Pointer();
    private final FloatBuffer view;
    private final CUevent[] done = new CUevent[Backend.READ_LATER_SLOTS];
    private final long[] generation = new long[Backend.READ_LATER_SLOTS];
    private long reads;

    PinnedReads(CUstream stream) {
        this.stream = stream;
        cuMemAllocHost(host, 4L * Backend.READ_LATER_MAX * Backend.READ_LATER_SLOTS);
        view = host.getByteBuffer(0, 4L * Backend.READ_LATER_MAX * Backend.READ_LATER_SLOTS).order(ByteOrder.nativeOrder()).asFloatBuffer();
        for (int i = 0; i < done.length; i++) {
            done[i] = new CUevent();
            cuEventCreate(done[i], CUevent_flags.CU_EVENT_DISABLE_TIMING);
        }
    }

    /** Queues the copy of {@code n} floats at {@code src} into the next slot. */
    synchronized Backend.PendingRead start(CUdeviceptr src, int n) {
        int slot = (int) (reads % done.length);
        long gen = ++reads;
        generation[slot] = gen;
        cuMemcpyDtoHAsync(host.withByteOffset(4L * Backend.READ_LATER_MAX * slot), src, 4L * n, stream);
        cuEventRecord(done[slot], stream);
        return () -> take(slot, gen, n);
    }

    private synchronized float[] take(int slot, long gen, int n) {
        if (generation[slot] != gen)
            throw new IllegalStateException("readLater: the read was not taken before " + Backend.READ_LATER_SLOTS + " later reads reused its buffer");
        cuEventSynchronize(done[slot]);
        float[] v = new float[n];
        view.get(Backend.READ_LATER_MAX * slot, v);
        return v;
    }

    synchronized void close() {
        for (CUevent e : done) {
            cuEventSynchronize(e);
            cuEventDestroy(e);
        }
        cuMemFreeHost(host);
    }
}
