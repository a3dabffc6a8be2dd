package dinoseg.backend.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUstream;

/**
 * Asynchronous host-to-device uploads through a ring of page-locked (cuMemAllocHost) buffers.
 * The host array is copied into the next buffer, the copy to the device is queued on the stream,
 * and an event marks when the buffer may be refilled; the caller returns before the transfer ends,
 * so uploading the next batch overlaps with the kernels still running.
 */
final class PinnedStaging {
    static final int BUFFERS = 4;
    static final int BYTES = 8 << 20;

    private final CUstream stream;
    private final Pointer[] host = new Pointer[BUFFERS];
    private final ByteBuffer[] view = new ByteBuffer[BUFFERS];
    private final CUevent[] done = new CUevent[BUFFERS];
    private final boolean[] pending = new boolean[BUFFERS];
    private int next;

    PinnedStaging(CUstream stream) {
        this.stream = stream;
        for (int i = 0; i < BUFFERS; i++) {
            host[i] = new Pointer();
            cuMemAllocHost(host[i], BYTES);
            view[i] = host[i].getByteBuffer(0, BYTES).order(ByteOrder.nativeOrder());
            done[i] = new CUevent();
            cuEventCreate(done[i], CUevent_flags.CU_EVENT_DISABLE_TIMING);
        }
    }

    private int acquire() {
        int i = next;
        next = (next + 1) % BUFFERS;
        if (pending[i]) cuEventSynchronize(done[i]);
        pending[i] = false;
        return i;
    }

    private void send(int i, CUdeviceptr dst, long dstByte, int bytes) {
        cuMemcpyHtoDAsync(dst.withByteOffset(dstByte), host[i], bytes, stream);
        cuEventRecord(done[i], stream);
        pending[i] = true;
    }

    synchronized void upload(float[] src, int srcOff, CUdeviceptr dst, long dstElem, int len) {
        int per = BYTES / 4;
        for (int done = 0; done < len; ) {
            int n = Math.min(per, len - done);
            int i = acquire();
            view[i].clear();
            view[i].asFloatBuffer().put(src, srcOff + done, n);
            send(i, dst, (dstElem + done) * 4L, n * 4);
            done += n;
        }
    }

    synchronized void upload(int[] src, int srcOff, CUdeviceptr dst, long dstElem, int len) {
        int per = BYTES / 4;
        for (int done = 0; done < len; ) {
            int n = Math.min(per, len - done);
            int i = acquire();
            view[i].clear();
            view[i].asIntBuffer().put(src, srcOff + done, n);
            send(i, dst, (dstElem + done) * 4L, n * 4);
            done += n;
        }
    }

    synchronized void close() {
        for (int i = 0; i < BUFFERS; i++) {
            if (pending[i]) cuEventSynchronize(done[i]);
            cuEventDestroy(done[i]);
            cuMemFreeHost(host[i]);
        }
    }
}
