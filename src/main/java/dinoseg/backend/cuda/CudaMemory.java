package dinoseg.backend.cuda;

import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;

import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * Device memory of the CUDA backend: tensors from the caching allocator ({@link CudaAllocator}),
 * uploads through pinned staging buffers ({@link PinnedStaging}), downloads that wait for the
 * stream, device-to-device copies and memsets on the stream, and the small reduction scratch the
 * launchers share. Arguments are checked by the backend (OpContract) before these run.
 */
final class CudaMemory {
    /** Blocks of the two-stage reductions; the scratch holds 4 * PARTIALS + 16 floats. */
    static final int PARTIALS = 256;

    private final CudaContext ctx;
    private final CudaAllocator allocator = new CudaAllocator();
    private final PinnedStaging staging;
    private final PinnedReads reads;
    /** Scratch for reductions: partial sums, loss statistics, one result (stream-ordered, reused). */
    private final Tensor scratch;

    CudaMemory(CudaContext ctx) {
        this.ctx = ctx;
        this.staging = new PinnedStaging(ctx.stream);
        this.reads = new PinnedReads(ctx.stream);
        this.scratch = empty(Shape.of(4 * PARTIALS + 16), DType.F32);
    }

    /** The device address of t; fails for a tensor of another backend. */
    static CUdeviceptr ptr(Tensor t) {
        if (!(t.storage() instanceof CudaStorage s))
            throw new IllegalArgumentException("tensor " + t + " is not on a CUDA device (use Backend.adopt)");
        return s.ptr();
    }

    /** Device address of element {@code elem} of t. */
    static CUdeviceptr ptr(Tensor t, long elem) {
        return elem == 0 ? ptr(t) : ptr(t).withByteOffset(elem * t.dtype().bytes());
    }

    /** ptr(t), or null (a kernel's null pointer) for a null tensor. */
    static CUdeviceptr ptrOrNull(Tensor t) { return t == null ? null : ptr(t); }

    /** Device scratch (doubles) at double index i. */
    CUdeviceptr scratchD(int i) { return ptr(scratch).withByteOffset(8L * i); }

    Tensor empty(Shape shape, DType dtype) {
        ctx.bind();
        return new Tensor(new CudaStorage(allocator, ctx.device, shape.numel(), dtype), shape);
    }

    Tensor zeros(Shape shape, DType dtype) {
        Tensor t = empty(shape, dtype);
        zero(t);
        return t;
    }

    /** Queues t = 0 (all bits zero). */
    void zero(Tensor t) {
        if (t.numel() > 0) cuMemsetD32Async(ptr(t), 0, t.numel(), ctx.stream);
    }

    Tensor fromFloats(float[] data, Shape shape) {
        ctx.requireNotCapturing("an upload");
        Tensor t = empty(shape, DType.F32);
        if (data.length > 0) staging.upload(data, 0, ptr(t), 0, data.length);
        return t;
    }

    Tensor fromInts(int[] data, Shape shape) {
        ctx.requireNotCapturing("an upload");
        Tensor t = empty(shape, DType.I32);
        if (data.length > 0) staging.upload(data, 0, ptr(t), 0, data.length);
        return t;
    }

    float[] toFloats(Tensor t) {
        ctx.bind();
        float[] r = new float[t.shape().size()];
        if (r.length > 0) download(Pointer.to(r), ptr(t), 4L * r.length);
        return r;
    }

    int[] toInts(Tensor t) {
        ctx.bind();
        int[] r = new int[t.shape().size()];
        if (r.length > 0) download(Pointer.to(r), ptr(t), 4L * r.length);
        return r;
    }

    /** Backend.readLater: an asynchronous copy into page-locked memory, waited for by get(). */
    dinoseg.backend.Backend.PendingRead readLater(Tensor t) {
        ctx.bind();
        ctx.requireNotCapturing("a read");
        return reads.start(ptr(t), (int) t.numel());
    }

    void writeFloats(float[] src, int srcOff, Tensor dst, long dstOff, int len) {
        ctx.bind();
        ctx.requireNotCapturing("an upload");
        if (len > 0) staging.upload(src, srcOff, ptr(dst), dstOff, len);
    }

    void writeInts(int[] src, int srcOff, Tensor dst, long dstOff, int len) {
        ctx.bind();
        ctx.requireNotCapturing("an upload");
        if (len > 0) staging.upload(src, srcOff, ptr(dst), dstOff, len);
    }

    /** Queues dst = src (4-byte elements; nothing when they share storage). */
    void copy(Tensor src, Tensor dst) {
        ctx.bind();
        if (src.numel() > 0 && src.storage() != dst.storage())
            cuMemcpyDtoDAsync(ptr(dst), ptr(src), 4L * src.numel(), ctx.stream);
    }

    /** Waits for the stream, then copies {@code bytes} from the device to a host array. */
    void download(Pointer host, CUdeviceptr src, long bytes) {
        ctx.sync();
        try {
            cuMemcpyDtoH(host, src, bytes);
        } catch (CudaException e) {
            throw new CudaException("CUDA error copying " + bytes + " bytes to the host: " + CudaContext.describe(e), e);
        }
    }

    long liveBytes() { return allocator.liveBytes(); }

    long cachedBytes() { return allocator.cachedBytes(); }

    long graphBytes() { return allocator.graphBytes(); }

    CudaAllocator.GraphPool beginCapture() { return allocator.beginCapture(); }

    void endCapture() { allocator.endCapture(); }

    void closePool(CudaAllocator.GraphPool pool) { allocator.closePool(pool); }

    long peakBytes() { return allocator.peakBytes(); }

    long deviceAllocations() { return allocator.deviceAllocations(); }

    void resetPeak() { allocator.resetPeak(); }

    long cleanerReleases() { return allocator.cleanerReleases(); }

    void emptyCache() { ctx.bind(); allocator.emptyCache(); }

    /** Frees the scratch, the staging buffers and every cached block (the caller waited for the stream). */
    void close() {
        scratch.close();
        staging.close();
        reads.close();
        allocator.close();
    }
}
