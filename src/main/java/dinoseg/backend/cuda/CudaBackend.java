package dinoseg.backend.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends.UnavailableException;
import dinoseg.backend.Checks;
import dinoseg.tensor.DType;
import dinoseg.tensor.Device;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * The CUDA backend: JCuda's driver API on the device's primary context, one stream, the kernels of
 * {@code kernels/*.cu} loaded from the jar's fatbin, a caching allocator, pinned staging buffers for
 * uploads, and cuBLAS for GEMM when libcublas.so.12 loads (our tiled kernel otherwise).
 *
 * <p>All work is queued on one stream in call order, so ops return before the GPU has finished;
 * {@link #toFloats}, {@link #toInts}, {@link #sumSquares} and {@link #synchronize} wait. A backend
 * instance is meant to be driven by one thread at a time (like the stream it owns); any thread may
 * call it, the context is made current on first use.
 */
public final class CudaBackend implements Backend {
    private static final AtomicBoolean GEMM_LOGGED = new AtomicBoolean();
    private static final int THREADS = 256;
    private static final int PARTIALS = 256;   // blocks of the two-stage reductions

    /** The first reason CUDA could not be initialised in this JVM (JCuda's natives load only once). */
    private static volatile String initFailure;

    private final int ordinal;
    private final Device device;
    private final CUdevice cuDevice = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final CUstream stream = new CUstream();
    private final CudaKernels kernels = new CudaKernels();
    private final CudaAllocator allocator = new CudaAllocator();
    private final PinnedStaging staging;
    private final CublasGemm cublas;
    private final String name;
    private final int smCount;
    private final ThreadLocal<Boolean> bound = ThreadLocal.withInitial(() -> Boolean.FALSE);
    /** Scratch for reductions: partial sums, loss statistics, one result (stream-ordered, reused). */
    private final Tensor scratch;
    private volatile boolean closed;

    // ------------------------------------------------------------------ opening

    /** Opens device 0; throws {@link UnavailableException} with one line saying what is missing. */
    public static CudaBackend open() { return open(0); }

    public static CudaBackend open(int ordinal) {
        initDriver();
        int[] count = new int[1];
        cuDeviceGetCount(count);
        if (count[0] == 0) throw new UnavailableException("no CUDA device found (the NVIDIA driver reports 0 GPUs)");
        if (ordinal < 0 || ordinal >= count[0])
            throw new UnavailableException("CUDA device " + ordinal + " does not exist (" + count[0] + " found)");
        byte[] fatbin = CudaKernels.fatbinBytes();
        if (fatbin == null)
            throw new UnavailableException("the CUDA kernels are not in the jar (" + CudaKernels.FATBIN.substring(1)
                    + " missing: it was built without nvcc)");
        try {
            return new CudaBackend(ordinal, fatbin);
        } catch (CudaException e) {
            throw new UnavailableException("CUDA initialisation failed: " + oneLine(e.getMessage()));
        }
    }

    /** cuInit once per JVM, translating every way it fails into one line. */
    private static synchronized void initDriver() {
        if (initFailure != null) throw new UnavailableException(initFailure);
        try {
            JCudaDriver.setExceptionsEnabled(true);
            cuInit(0);
        } catch (CudaException e) {
            String m = String.valueOf(e.getMessage());
            if (m.contains("NO_DEVICE")) initFailure = "no CUDA device found (cuInit: CUDA_ERROR_NO_DEVICE)";
            else if (m.contains("INSUFFICIENT_DRIVER")) initFailure = "the NVIDIA driver is too old for CUDA 12 (cuInit: CUDA_ERROR_INSUFFICIENT_DRIVER)";
            else initFailure = "cuInit failed: " + oneLine(m);
            throw new UnavailableException(initFailure);
        } catch (LinkageError e) {
            initFailure = describeLinkError(e);
            throw new UnavailableException(initFailure);
        }
    }

    /** The JCuda driver library needs libcuda.so.1 (the NVIDIA driver); tell that apart from missing JCuda natives. */
    static String describeLinkError(Throwable e) {
        StringBuilder all = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) all.append(t).append(' ');
        String m = all.toString();
        if (m.contains("libcuda.so") || m.contains("libcuda"))
            return "no NVIDIA driver (libcuda.so.1 cannot be loaded)";
        if (e instanceof NoClassDefFoundError && m.contains("jcuda/"))
            return "JCuda is not on the class path (" + oneLine(e.getMessage()) + ")";
        return "the JCuda native library (libJCudaDriver-12.6.0-linux-x86_64.so) cannot be loaded: "
                + oneLine(e.getMessage() == null ? e.toString() : e.getMessage());
    }

    /** First line of a message, at most 200 characters. */
    static String oneLine(String m) {
        if (m == null) return "unknown error";
        String s = m.strip();
        int nl = s.indexOf('\n');
        if (nl >= 0) s = s.substring(0, nl).strip();
        return s.length() > 200 ? s.substring(0, 200) + "..." : s;
    }

    private CudaBackend(int ordinal, byte[] fatbin) {
        this.ordinal = ordinal;
        this.device = Device.cuda(ordinal);
        cuDeviceGet(cuDevice, ordinal);
        cuDevicePrimaryCtxRetain(context, cuDevice);
        cuCtxSetCurrent(context);
        bound.set(Boolean.TRUE);
        int major = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        int minor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        smCount = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        byte[] nameBytes = new byte[256];
        cuDeviceGetName(nameBytes, nameBytes.length, cuDevice);
        String gpu = new String(nameBytes, java.nio.charset.StandardCharsets.US_ASCII).trim().replace("\0", "");
        long[] mem = new long[1];
        cuDeviceTotalMem(mem, cuDevice);
        int[] driver = new int[1];
        cuDriverGetVersion(driver);
        String driverVersion = driver[0] / 1000 + "." + driver[0] % 1000 / 10;
        if (major < 8) {
            cuDevicePrimaryCtxRelease(cuDevice);
            throw new UnavailableException("GPU " + gpu + " has compute capability " + major + "." + minor
                    + "; the kernels need 8.0 or newer");
        }
        List<String> missing;
        try {
            missing = kernels.load(fatbin);
        } catch (CudaException e) {
            cuDevicePrimaryCtxRelease(cuDevice);
            throw new UnavailableException("the CUDA kernels in the jar cannot be loaded on " + gpu + " (sm_" + major + minor
                    + ", driver CUDA " + driverVersion + "; they are built by nvcc " + CudaKernels.nvccVersion()
                    + " and need a driver at least that new): " + oneLine(e.getMessage()));
        }
        if (!missing.isEmpty()) {
            kernels.unload();
            cuDevicePrimaryCtxRelease(cuDevice);
            throw new UnavailableException("the jar's CUDA kernels lack " + missing + " (rebuild with nvcc)");
        }
        cuStreamCreate(stream, 0);
        staging = new PinnedStaging(stream);
        cublas = CublasGemm.tryCreate(stream);
        String gemmPath = cublas != null ? "cuBLAS" : "dinoseg sgemm kernel (cuBLAS unavailable: " + CublasGemm.failure() + ")";
        if (GEMM_LOGGED.compareAndSet(false, true)) System.err.println("dinoseg: CUDA GEMM path: " + gemmPath);
        name = String.format(java.util.Locale.ROOT, "cuda:%d (%s, sm_%d%d, %.0f GiB, driver CUDA %s, gemm: %s)", ordinal, gpu, major, minor,
                mem[0] / 1073741824.0, driverVersion, cublas != null ? "cuBLAS" : "dinoseg kernel");
        scratch = empty(Shape.of(4 * PARTIALS + 16));
    }

    private int attribute(int attr) {
        int[] v = new int[1];
        cuDeviceGetAttribute(v, attr, cuDevice);
        return v[0];
    }

    /** Makes the context current on the calling thread (once per thread). */
    private void bind() {
        if (closed) throw new IllegalStateException("the CUDA backend is closed");
        if (!bound.get()) {
            cuCtxSetCurrent(context);
            bound.set(Boolean.TRUE);
        }
    }

    /** The loaded kernel {@code name} (for tests that launch a kernel directly). */
    CUfunction kernelFunction(String name) { bind(); return kernels.get(name); }

    /** Which GEMM implementation runs: "cuBLAS" or "kernel". */
    public String gemmPath() { return cublas != null ? "cuBLAS" : "kernel"; }

    /** Bytes held by live tensors and by the allocator's cache, and how often cuMemAlloc was called. */
    public long liveBytes() { return allocator.liveBytes(); }

    public long cachedBytes() { return allocator.cachedBytes(); }

    @Override public long peakDeviceBytes() { return allocator.peakBytes(); }

    public long deviceAllocations() { return allocator.deviceAllocations(); }

    /** Returns cached device memory to the driver. */
    public void emptyCache() { bind(); allocator.emptyCache(); }

    @Override public String name() { return name; }

    @Override public Device device() { return device; }

    // ------------------------------------------------------------------ launching

    static CUdeviceptr ptr(Tensor t) {
        if (!(t.storage() instanceof CudaStorage s))
            throw new IllegalArgumentException("tensor " + t + " is not on a CUDA device (use Backend.adopt)");
        return s.ptr();
    }

    /** Device address of element {@code elem} of t. */
    static CUdeviceptr ptr(Tensor t, long elem) {
        return elem == 0 ? ptr(t) : ptr(t).withByteOffset(elem * t.dtype().bytes());
    }

    private static CUdeviceptr ptrOrNull(Tensor t) { return t == null ? null : ptr(t); }

    private void launch(String kernel, int gridX, int gridY, int gridZ, int block, int sharedBytes, KernelArgs args) {
        if (gridX == 0 || gridY == 0 || gridZ == 0) return;
        try {
            kernels.ensureSharedMemory(kernel, sharedBytes);
            cuLaunchKernel(kernels.get(kernel), gridX, gridY, gridZ, block, 1, 1, sharedBytes, stream, args.build(), null);
        } catch (CudaException e) {
            throw new CudaException("CUDA kernel " + kernel + " (grid " + gridX + "x" + gridY + "x" + gridZ + ", block " + block
                    + ", " + sharedBytes + " bytes of dynamic shared memory): " + describe(e), e);
        }
    }

    /** A grid-stride launch over n elements. */
    private void launchN(String kernel, long n, KernelArgs args) {
        if (n <= 0) return;
        long blocks = Math.min((n + THREADS - 1) / THREADS, (long) smCount * 32);
        launch(kernel, (int) Math.max(1, blocks), 1, 1, THREADS, 0, args);
    }

    /** One warp per row. */
    private void launchWarps(String kernel, long rows, KernelArgs args) {
        if (rows <= 0) return;
        long blocks = (rows * 32 + THREADS - 1) / THREADS;
        if (blocks > Integer.MAX_VALUE) throw new IllegalArgumentException(kernel + ": too many rows " + rows);
        launch(kernel, (int) blocks, 1, 1, THREADS, 0, args);
    }

    private static void f32(String op, String name, Tensor t) { Checks.dtype(op, name, t, DType.F32); }

    private static boolean sameStorage(Tensor a, Tensor b) { return a.storage() == b.storage(); }

    /** Device scratch (doubles) at double index i. */
    private CUdeviceptr scratchD(int i) { return ptr(scratch).withByteOffset(8L * i); }

    // ------------------------------------------------------------------ memory

    @Override public Tensor empty(Shape shape, DType dtype) {
        bind();
        return new Tensor(new CudaStorage(allocator, device, shape.numel(), dtype), shape);
    }

    @Override public Tensor zeros(Shape shape, DType dtype) {
        Tensor t = empty(shape, dtype);
        if (t.numel() > 0) cuMemsetD32Async(ptr(t), 0, t.numel(), stream);
        return t;
    }

    @Override public Tensor fromFloats(float[] data, Shape shape) {
        if (data.length != shape.numel())
            throw new IllegalArgumentException("fromFloats: " + data.length + " values for shape " + shape);
        Tensor t = empty(shape, DType.F32);
        if (data.length > 0) staging.upload(data, 0, ptr(t), 0, data.length);
        return t;
    }

    @Override public Tensor fromInts(int[] data, Shape shape) {
        if (data.length != shape.numel())
            throw new IllegalArgumentException("fromInts: " + data.length + " values for shape " + shape);
        Tensor t = empty(shape, DType.I32);
        if (data.length > 0) staging.upload(data, 0, ptr(t), 0, data.length);
        return t;
    }

    @Override public float[] toFloats(Tensor t) {
        f32("toFloats", "t", t);
        bind();
        float[] r = new float[t.shape().size()];
        if (r.length > 0) download(Pointer.to(r), ptr(t), 4L * r.length);
        return r;
    }

    @Override public int[] toInts(Tensor t) {
        Checks.dtype("toInts", "t", t, DType.I32);
        bind();
        int[] r = new int[t.shape().size()];
        if (r.length > 0) download(Pointer.to(r), ptr(t), 4L * r.length);
        return r;
    }

    private static void checkWrite(String op, int srcLen, int srcOff, Tensor dst, long dstOff, int len) {
        if (len < 0 || srcOff < 0 || dstOff < 0 || (long) srcOff + len > srcLen || dstOff + len > dst.numel())
            throw new IllegalArgumentException(op + ": cannot write " + len + " values from offset " + srcOff + " of "
                    + srcLen + " to offset " + dstOff + " of " + dst.shape());
    }

    @Override public void writeFloats(float[] src, int srcOff, Tensor dst, long dstOff, int len) {
        f32("writeFloats", "dst", dst);
        checkWrite("writeFloats", src.length, srcOff, dst, dstOff, len);
        bind();
        if (len > 0) staging.upload(src, srcOff, ptr(dst), dstOff, len);
    }

    @Override public void writeInts(int[] src, int srcOff, Tensor dst, long dstOff, int len) {
        Checks.dtype("writeInts", "dst", dst, DType.I32);
        checkWrite("writeInts", src.length, srcOff, dst, dstOff, len);
        bind();
        if (len > 0) staging.upload(src, srcOff, ptr(dst), dstOff, len);
    }

    @Override public void copy(Tensor src, Tensor dst) {
        Checks.sameNumel("copy", src, dst);
        Checks.check(src.dtype() == dst.dtype(), "copy", "dtypes differ: " + src.dtype() + " vs " + dst.dtype());
        bind();
        if (src.numel() > 0 && !sameStorage(src, dst)) cuMemcpyDtoDAsync(ptr(dst), ptr(src), 4L * src.numel(), stream);
    }

    @Override public void fill(Tensor t, float value) {
        f32("fill", "t", t);
        bind();
        launchN("fill_f", t.numel(), new KernelArgs().ptr(ptr(t)).f(value).l(t.numel()));
    }

    @Override public void synchronize() {
        bind();
        sync();
    }

    /** Waits for the stream; a fault of earlier queued work surfaces here, described by {@link #describe}. */
    private void sync() {
        try {
            cuStreamSynchronize(stream);
        } catch (CudaException e) {
            throw new CudaException("CUDA error while waiting for queued GPU work: " + describe(e), e);
        }
    }

    /** Waits for the stream, then copies {@code bytes} from the device to a host array. */
    private void download(Pointer host, CUdeviceptr src, long bytes) {
        sync();
        try {
            cuMemcpyDtoH(host, src, bytes);
        } catch (CudaException e) {
            throw new CudaException("CUDA error copying " + bytes + " bytes to the host: " + describe(e), e);
        }
    }

    /**
     * The error name JCuda reports plus the driver's own description (cuGetErrorString): on the emulated
     * driver of the tests that names the faulting kernel, block, thread and address.
     */
    static String describe(CudaException e) {
        String name = String.valueOf(e.getMessage());
        for (int code = 1; code < 1000; code++) {
            if (!jcuda.driver.CUresult.stringFor(code).equals(name)) continue;
            String[] text = new String[1];
            try {
                JCudaDriver.cuGetErrorString(code, text);
            } catch (RuntimeException | LinkageError ignored) {
                return name;
            }
            return text[0] == null ? name : name + ": " + oneLine(text[0]);
        }
        return name;
    }

    // ------------------------------------------------------------------ gemm

    private static void checkOperand(String op, String name, Tensor t, long off, int ld, long stride, int batch,
                                     int rows, int cols) {
        f32(op, name, t);
        if (rows == 0 || cols == 0 || batch == 0) return;
        if (ld < cols)
            throw new IllegalArgumentException(op + ": leading dimension of " + name + " is " + ld + " < " + cols + " for " + t.shape());
        if (off < 0 || stride < 0)
            throw new IllegalArgumentException(op + ": negative offset or stride for " + name + " " + t.shape());
        long last = off + (long) (batch - 1) * stride + (long) (rows - 1) * ld + cols;
        if (last > t.numel())
            throw new IllegalArgumentException(op + ": " + name + " " + t.shape() + " too small: needs " + last
                    + " elements (" + rows + "x" + cols + ", ld " + ld + ", offset " + off + ", stride " + stride + ", batch " + batch + ")");
    }

    @Override public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                               Tensor a, long offA, int lda, long strideA,
                               Tensor b, long offB, int ldb, long strideB,
                               float beta, Tensor c, long offC, int ldc, long strideC, int batch) {
        String op = "gemm";
        if (m < 0 || n < 0 || k < 0 || batch < 0)
            throw new IllegalArgumentException(op + ": negative size m=" + m + " n=" + n + " k=" + k + " batch=" + batch);
        checkOperand(op, "A", a, offA, lda, strideA, batch, transA ? k : m, transA ? m : k);
        checkOperand(op, "B", b, offB, ldb, strideB, batch, transB ? n : k, transB ? k : n);
        checkOperand(op, "C", c, offC, ldc, strideC, batch, m, n);
        Checks.check(!sameStorage(c, a) && !sameStorage(c, b), op, "C must not share storage with A or B " + c.shape());
        if (m == 0 || n == 0 || batch == 0) return;
        bind();
        CUdeviceptr pa = ptr(a, offA), pb = ptr(b, offB), pc = ptr(c, offC);
        if (cublas != null && k > 0) {   // cuBLAS rejects the leading dimensions of empty operands
            cublas.sgemm(transA, transB, m, n, k, alpha, pa, lda, strideA, pb, ldb, strideB, beta, pc, ldc, strideC, batch);
            return;
        }
        kernelGemm(transA, transB, m, n, k, alpha, pa, lda, strideA, pb, ldb, strideB, beta, pc, ldc, strideC, batch);
    }

    /** Our tiled kernel (also used by the tests to check it against cuBLAS and the CPU). */
    void kernelGemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                    CUdeviceptr pa, int lda, long strideA, CUdeviceptr pb, int ldb, long strideB,
                    float beta, CUdeviceptr pc, int ldc, long strideC, int batch) {
        int gx = (n + 127) / 128, gy = (m + 127) / 128;   // 128x128 tiles (gemm.cu)
        for (int z0 = 0; z0 < batch; z0 += 65535) {
            int nz = Math.min(65535, batch - z0);
            launch("sgemm_batched", gx, gy, nz, 256, 0, new KernelArgs()
                    .i(transA ? 1 : 0).i(transB ? 1 : 0).i(m).i(n).i(k).f(alpha)
                    .ptr(pa).i(lda).l(strideA).ptr(pb).i(ldb).l(strideB)
                    .f(beta).ptr(pc).i(ldc).l(strideC).l(z0));
        }
    }

    /** Runs the kernel GEMM path regardless of cuBLAS (same checks as {@link #gemm}). */
    public void gemmKernel(boolean transA, boolean transB, int m, int n, int k, float alpha,
                           Tensor a, long offA, int lda, long strideA, Tensor b, long offB, int ldb, long strideB,
                           float beta, Tensor c, long offC, int ldc, long strideC, int batch) {
        checkOperand("gemm", "A", a, offA, lda, strideA, batch, transA ? k : m, transA ? m : k);
        checkOperand("gemm", "B", b, offB, ldb, strideB, batch, transB ? n : k, transB ? k : n);
        checkOperand("gemm", "C", c, offC, ldc, strideC, batch, m, n);
        if (m == 0 || n == 0 || batch == 0) return;
        bind();
        kernelGemm(transA, transB, m, n, k, alpha, ptr(a, offA), lda, strideA, ptr(b, offB), ldb, strideB,
                beta, ptr(c, offC), ldc, strideC, batch);
    }

    // ------------------------------------------------------------------ elementwise and reductions

    private void binaryBroadcast(String op, String same, String bcast, Tensor a, Tensor b, Tensor out, Float alpha) {
        f32(op, "a", a);
        f32(op, "b", b);
        f32(op, "out", out);
        Checks.broadcasts(op, a, b);
        Checks.sameShape(op, a, out);
        bind();
        long n = a.numel();
        KernelArgs args = new KernelArgs().ptr(ptr(a)).ptr(ptr(b));
        if (alpha != null) args.f(alpha);
        args.ptr(ptr(out)).l(n);
        if (b.shape().equals(a.shape())) {
            launchN(same, n, args);
        } else {
            launchN(bcast, n, args.dims(Dims.broadcast(op, a.shape(), b.shape())));
        }
    }

    @Override public void add(Tensor a, Tensor b, float alpha, Tensor out) {
        binaryBroadcast("add", "add_same", "add_bcast", a, b, out, alpha);
    }

    @Override public void mul(Tensor a, Tensor b, Tensor out) {
        binaryBroadcast("mul", "mul_same", "mul_bcast", a, b, out, null);
    }

    @Override public void scale(Tensor x, float alpha, Tensor out) {
        f32("scale", "x", x);
        f32("scale", "out", out);
        Checks.sameNumel("scale", x, out);
        bind();
        launchN("scale_f", x.numel(), new KernelArgs().ptr(ptr(x)).f(alpha).ptr(ptr(out)).l(x.numel()));
    }

    @Override public void axpy(float alpha, Tensor x, Tensor y) {
        f32("axpy", "x", x);
        f32("axpy", "y", y);
        Checks.sameNumel("axpy", x, y);
        bind();
        launchN("axpy_f", x.numel(), new KernelArgs().f(alpha).ptr(ptr(x)).ptr(ptr(y)).l(x.numel()));
    }

    @Override public void sumTo(Tensor x, Tensor out) {
        f32("sumTo", "x", x);
        f32("sumTo", "out", out);
        Checks.broadcasts("sumTo", x, out);
        Checks.check(!sameStorage(x, out), "sumTo", "out must not be x " + x.shape());
        bind();
        if (out.numel() == x.numel()) { copy(x, out); return; }
        long[][] desc = Dims.sumTo("sumTo", x.shape(), out.shape());
        long[] kept = desc[0], red = desc[1];
        long nOut = out.numel(), r = nOut == 0 ? 0 : x.numel() / nOut;
        if (nOut == 0) return;
        KernelArgs args = new KernelArgs().ptr(ptr(x)).ptr(ptr(out)).l(nOut).l(r).dims(kept).dims(red);
        if (r >= 256) launch("sum_to_block", (int) Math.min(nOut, 65535L * 16), 1, 1, THREADS, 0, args);
        else launchN("sum_to_thread", nOut, args);
    }

    /** Two-stage double-precision sum (or sum of squares) into scratch double PARTIALS*2 (+ outF when given). */
    private void reduceAll(Tensor x, boolean squares, CUdeviceptr outF) {
        long n = x.numel();
        int blocks = (int) Math.max(1, Math.min(PARTIALS, (n + THREADS - 1) / THREADS));
        launch("sum_partial_d", blocks, 1, 1, THREADS, 0,
                new KernelArgs().ptr(ptr(x)).l(n).i(squares ? 1 : 0).ptr(scratchD(0)));
        launch("reduce_partials_d", 1, 1, 1, THREADS, 0,
                new KernelArgs().ptr(scratchD(0)).i(blocks).ptr(scratchD(2 * PARTIALS)).ptr(outF));
    }

    @Override public void sumAll(Tensor x, Tensor out) {
        f32("sumAll", "x", x);
        f32("sumAll", "out", out);
        Checks.check(out.numel() == 1, "sumAll", "out must have one element, got " + out.shape());
        bind();
        reduceAll(x, false, ptr(out));
    }

    @Override public double sumSquares(Tensor x) {
        f32("sumSquares", "x", x);
        bind();
        reduceAll(x, true, null);
        double[] r = new double[1];
        download(Pointer.to(r), scratchD(2 * PARTIALS), 8);
        return r[0];
    }

    private void unary(String op, String kernel, Tensor x, Tensor out) {
        f32(op, "x", x);
        f32(op, "out", out);
        Checks.sameShape(op, x, out);
        bind();
        launchN(kernel, x.numel(), new KernelArgs().ptr(ptr(x)).ptr(ptr(out)).l(x.numel()));
    }

    private void unaryBackward(String op, String kernel, Tensor x, Tensor gy, Tensor gx) {
        f32(op, "x", x);
        f32(op, "gy", gy);
        f32(op, "gx", gx);
        Checks.sameShape(op, x, gy);
        Checks.sameShape(op, x, gx);
        bind();
        launchN(kernel, x.numel(), new KernelArgs().ptr(ptr(x)).ptr(ptr(gy)).ptr(ptr(gx)).l(x.numel()));
    }

    @Override public void gelu(Tensor x, Tensor out) { unary("gelu", "gelu_fwd", x, out); }

    @Override public void geluBackward(Tensor x, Tensor gy, Tensor gx) { unaryBackward("geluBackward", "gelu_bwd", x, gy, gx); }

    @Override public void relu(Tensor x, Tensor out) { unary("relu", "relu_fwd", x, out); }

    @Override public void reluBackward(Tensor x, Tensor gy, Tensor gx) { unaryBackward("reluBackward", "relu_bwd", x, gy, gx); }

    private static Shape halfLast(String op, Tensor x12) {
        Checks.check(x12.rank() >= 1 && x12.dim(-1) % 2 == 0, op, "last dim of x12 must be even, got " + x12.shape());
        return x12.shape().with(-1, x12.dim(-1) / 2);
    }

    @Override public void swiglu(Tensor x12, Tensor out) {
        f32("swiglu", "x12", x12);
        f32("swiglu", "out", out);
        Checks.shape("swiglu", "out", out, halfLast("swiglu", x12));
        Checks.check(!sameStorage(x12, out), "swiglu", "out must not be x12 " + x12.shape());
        bind();
        int h = x12.dim(-1) / 2;
        long rows = h == 0 ? 0 : out.numel() / h;
        launchN("swiglu_fwd", out.numel(), new KernelArgs().ptr(ptr(x12)).ptr(ptr(out)).l(rows).i(h));
    }

    @Override public void swigluBackward(Tensor x12, Tensor gy, Tensor gx12) {
        f32("swigluBackward", "x12", x12);
        f32("swigluBackward", "gy", gy);
        f32("swigluBackward", "gx12", gx12);
        Checks.shape("swigluBackward", "gy", gy, halfLast("swigluBackward", x12));
        Checks.sameShape("swigluBackward", x12, gx12);
        Checks.check(!sameStorage(gx12, gy), "swigluBackward", "gx12 must not be gy " + gy.shape());
        bind();
        int h = x12.dim(-1) / 2;
        long rows = h == 0 ? 0 : gy.numel() / h;
        launchN("swiglu_bwd", gy.numel(), new KernelArgs().ptr(ptr(x12)).ptr(ptr(gy)).ptr(ptr(gx12)).l(rows).i(h));
    }

    @Override public void softmax(Tensor x, int axis, Tensor out) {
        f32("softmax", "x", x);
        f32("softmax", "out", out);
        Checks.sameShape("softmax", x, out);
        int ax = x.shape().axis(axis);
        bind();
        long outer = x.shape().prod(0, ax), inner = x.shape().prod(ax + 1, x.rank());
        int k = x.dim(ax);
        if (x.numel() == 0) return;
        if (inner == 1) launchWarps("softmax_lastdim", outer, new KernelArgs().ptr(ptr(x)).ptr(ptr(out)).l(outer).i(k));
        else launchN("softmax_axis", outer * inner, new KernelArgs().ptr(ptr(x)).ptr(ptr(out)).l(outer).i(k).l(inner));
    }

    @Override public void argmax(Tensor x, Tensor out) {
        f32("argmax", "x", x);
        Checks.dtype("argmax", "out", out, DType.I32);
        Checks.check(x.rank() >= 2, "argmax", "x must have rank >= 2, got " + x.shape());
        int[] d = x.shape().dims();
        int[] od = new int[d.length - 1];
        od[0] = d[0];
        System.arraycopy(d, 2, od, 1, d.length - 2);
        Checks.shape("argmax", "out", out, Shape.of(od));
        Checks.check(x.dim(1) > 0, "argmax", "axis 1 is empty in " + x.shape());
        bind();
        long inner = x.shape().prod(2, x.rank());
        launchN("argmax_axis", out.numel(), new KernelArgs().ptr(ptr(x)).ptr(ptr(out)).l(x.dim(0)).i(x.dim(1)).l(inner));
    }

    @Override public void flipLastDim(Tensor x, Tensor out) {
        Checks.sameShape("flipLastDim", x, out);
        Checks.check(x.dtype() == out.dtype(), "flipLastDim", "dtypes differ: " + x.dtype() + " vs " + out.dtype());
        Checks.check(!sameStorage(x, out), "flipLastDim", "out must not be x " + x.shape());
        Checks.check(x.rank() >= 1, "flipLastDim", "x must have rank >= 1, got " + x.shape());
        bind();
        launchN("flip_last_dim", x.numel(), new KernelArgs().ptr(ptr(x)).ptr(ptr(out)).l(x.numel()).i(x.dim(-1)));
    }

    // ------------------------------------------------------------------ normalisation

    private static void vecOrNull(String op, String name, Tensor t, int c) {
        if (t == null) return;
        f32(op, name, t);
        Checks.check(t.numel() == c, op, name + " must have " + c + " elements, got " + t.shape());
    }

    @Override public void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        String op = "layerNorm";
        f32(op, "x", x);
        f32(op, "y", y);
        Checks.check(x.rank() >= 1, op, "x must have rank >= 1, got " + x.shape());
        Checks.sameShape(op, x, y);
        int c = x.dim(-1);
        long rows = c == 0 ? 0 : x.numel() / c;
        vecOrNull(op, "gamma", gamma, c);
        vecOrNull(op, "beta", beta, c);
        vecOrNull(op, "mean", mean, (int) rows);
        vecOrNull(op, "rstd", rstd, (int) rows);
        bind();
        launchWarps("layernorm_fwd", rows, new KernelArgs().ptr(ptr(x)).ptr(ptrOrNull(gamma)).ptr(ptrOrNull(beta))
                .ptr(ptr(y)).ptr(ptrOrNull(mean)).ptr(ptrOrNull(rstd)).i((int) rows).i(c).f(eps));
    }

    @Override public void layerNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd,
                                            Tensor gx, Tensor ggamma, Tensor gbeta) {
        String op = "layerNormBackward";
        f32(op, "x", x);
        f32(op, "gy", gy);
        f32(op, "gx", gx);
        Checks.check(x.rank() >= 1, op, "x must have rank >= 1, got " + x.shape());
        Checks.sameShape(op, x, gy);
        Checks.sameShape(op, x, gx);
        int c = x.dim(-1);
        int rows = c == 0 ? 0 : (int) (x.numel() / c);
        vecOrNull(op, "gamma", gamma, c);
        Checks.check(mean != null && rstd != null, op, "mean and rstd are required");
        vecOrNull(op, "mean", mean, rows);
        vecOrNull(op, "rstd", rstd, rows);
        vecOrNull(op, "ggamma", ggamma, c);
        vecOrNull(op, "gbeta", gbeta, c);
        bind();
        if (ggamma != null || gbeta != null) {
            // parameter gradients first: gx may be gy (in place)
            int rowsPerChunk = 128;
            int chunks = Math.max(1, (rows + rowsPerChunk - 1) / rowsPerChunk);
            try (Tensor partial = empty(Shape.of(2 * chunks * c))) {
                launch("layernorm_bwd_params_partial", (c + 31) / 32, chunks, 1, 32 * 8, 0,
                        new KernelArgs().ptr(ptr(gy)).ptr(ptr(x)).ptr(ptr(mean)).ptr(ptr(rstd)).ptr(ptr(partial))
                                .i(rows).i(c).i(rowsPerChunk), 32, 8);
                int g = (c + THREADS - 1) / THREADS;
                if (ggamma != null) launch("column_sum_finalize", g, 1, 1, THREADS, 0,
                        new KernelArgs().ptr(ptr(partial)).ptr(ptr(ggamma)).i(chunks).i(c));
                if (gbeta != null) launch("column_sum_finalize", g, 1, 1, THREADS, 0,
                        new KernelArgs().ptr(ptr(partial, (long) chunks * c)).ptr(ptr(gbeta)).i(chunks).i(c));
            }
        }
        launchWarps("layernorm_bwd_dx", rows, new KernelArgs().ptr(ptr(gy)).ptr(ptr(x)).ptr(ptrOrNull(gamma))
                .ptr(ptr(mean)).ptr(ptr(rstd)).ptr(ptr(gx)).i(rows).i(c));
    }

    /** A launch with a 2-D block (bx x by threads). */
    private void launch(String kernel, int gridX, int gridY, int gridZ, int threads, int sharedBytes, KernelArgs args, int bx, int by) {
        if (gridX == 0 || gridY == 0 || gridZ == 0) return;
        cuLaunchKernel(kernels.get(kernel), gridX, gridY, gridZ, bx, by, 1, sharedBytes, stream, args.build(), null);
    }

    private static void checkBatchNorm(String op, Tensor x, Tensor... perChannel) {
        f32(op, "x", x);
        Checks.rank(op, "x", x, 4);
        int c = x.dim(1);
        for (Tensor t : perChannel) vecOrNull(op, "per-channel tensor", t, c);
    }

    @Override public void batchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                    boolean training, float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveRstd) {
        String op = "batchNorm";
        checkBatchNorm(op, x, gamma, beta, runningMean, runningVar, saveMean, saveRstd);
        f32(op, "y", y);
        Checks.sameShape(op, x, y);
        Checks.check(saveMean != null && saveRstd != null, op, "saveMean and saveRstd are required");
        Checks.check(training || (runningMean != null && runningVar != null), op, "eval mode needs the running statistics");
        int b = x.dim(0), c = x.dim(1);
        long hw = (long) x.dim(2) * x.dim(3);
        bind();
        if (training) {
            Checks.check(b * hw > 0, op, "no values per channel in " + x.shape());
            try (Tensor stats = empty(Shape.of(2 * c))) {
                launch("bn_stats", c, 1, 1, THREADS, 0, new KernelArgs().ptr(ptr(x)).i(b).i(c).l(hw)
                        .ptr(ptr(stats)).ptr(ptr(stats, c)));
                launch("bn_finalize", (c + THREADS - 1) / THREADS, 1, 1, THREADS, 0, new KernelArgs()
                        .ptr(ptr(stats)).ptr(ptr(stats, c)).ptr(ptrOrNull(runningMean)).ptr(ptrOrNull(runningVar))
                        .ptr(ptr(saveMean)).ptr(ptr(saveRstd)).i(c).i(1).f(momentum).f(eps).l(b * hw));
            }
        } else {
            launch("bn_finalize", (c + THREADS - 1) / THREADS, 1, 1, THREADS, 0, new KernelArgs()
                    .ptr(null).ptr(null).ptr(ptr(runningMean)).ptr(ptr(runningVar))
                    .ptr(ptr(saveMean)).ptr(ptr(saveRstd)).i(c).i(0).f(momentum).f(eps).l(b * hw));
        }
        launchN("bn_apply", x.numel(), new KernelArgs().ptr(ptr(x)).ptr(ptrOrNull(gamma)).ptr(ptrOrNull(beta))
                .ptr(ptr(saveMean)).ptr(ptr(saveRstd)).ptr(ptr(y)).i(c).l(hw).l(x.numel()));
    }

    @Override public void batchNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor saveMean, Tensor saveRstd,
                                            boolean training, Tensor gx, Tensor ggamma, Tensor gbeta) {
        String op = "batchNormBackward";
        checkBatchNorm(op, x, gamma, saveMean, saveRstd, ggamma, gbeta);
        f32(op, "gy", gy);
        f32(op, "gx", gx);
        Checks.sameShape(op, x, gy);
        Checks.sameShape(op, x, gx);
        Checks.check(saveMean != null && saveRstd != null, op, "saveMean and saveRstd are required");
        int b = x.dim(0), c = x.dim(1);
        long hw = (long) x.dim(2) * x.dim(3);
        bind();
        try (Tensor sums = empty(Shape.of(2 * c))) {
            launch("bn_bwd_reduce", c, 1, 1, THREADS, 0, new KernelArgs().ptr(ptr(gy)).ptr(ptr(x)).ptr(ptr(saveMean))
                    .ptr(ptr(saveRstd)).i(b).i(c).l(hw).ptr(ptr(sums)).ptr(ptrOrNull(ggamma)).ptr(ptrOrNull(gbeta)));
            launchN("bn_bwd_dx", x.numel(), new KernelArgs().ptr(ptr(gy)).ptr(ptr(x)).ptr(ptrOrNull(gamma))
                    .ptr(ptr(saveMean)).ptr(ptr(saveRstd)).ptr(ptr(sums)).ptr(ptr(gx)).i(training ? 1 : 0)
                    .i(b).i(c).l(hw));
        }
    }

    // ------------------------------------------------------------------ attention

    private static final int ATT_ROWS = 16, ATT_TILE = 32, ATT_THREADS = 128, ATT_MAX_D = 128;

    /** Checks the attention shapes; returns {B, N, H, D}. */
    private static int[] attentionDims(String op, Tensor qkv, int heads, Tensor out, Tensor lse) {
        f32(op, "qkv", qkv);
        f32(op, "out", out);
        f32(op, "lse", lse);
        Checks.rank(op, "qkv", qkv, 3);
        Checks.check(heads > 0 && qkv.dim(2) % (3 * heads) == 0, op,
                "last dim of qkv " + qkv.shape() + " is not 3 * heads(" + heads + ") * headDim");
        int b = qkv.dim(0), n = qkv.dim(1), d = qkv.dim(2) / (3 * heads);
        Checks.check(d >= 1 && d <= ATT_MAX_D, op, "head dim " + d + " unsupported by the CUDA kernels (1.." + ATT_MAX_D + ") for qkv " + qkv.shape());
        Checks.shape(op, "out", out, Shape.of(b, n, heads * d));
        Checks.shape(op, "lse", lse, Shape.of(b, heads, n));
        return new int[]{b, n, heads, d};
    }

    @Override public void attention(Tensor qkv, int heads, float scale, Tensor out, Tensor lse) {
        int[] s = attentionDims("attention", qkv, heads, out, lse);
        int b = s[0], n = s[1], h = s[2], d = s[3];
        Checks.check(!sameStorage(out, qkv), "attention", "out must not be qkv " + qkv.shape());
        if (b == 0 || n == 0) return;
        bind();
        int shared = 4 * (ATT_ROWS * d + ATT_TILE * (d + 1) + ATT_TILE * d);
        launch("attention_fwd", (n + ATT_ROWS - 1) / ATT_ROWS, b * h, 1, ATT_THREADS, shared,
                new KernelArgs().ptr(ptr(qkv)).ptr(ptr(out)).ptr(ptr(lse)).i(n).i(h).i(d).f(scale));
    }

    @Override public void attentionBackward(Tensor qkv, Tensor out, Tensor lse, Tensor gout, int heads, float scale, Tensor gqkv) {
        String op = "attentionBackward";
        int[] s = attentionDims(op, qkv, heads, out, lse);
        f32(op, "gout", gout);
        f32(op, "gqkv", gqkv);
        Checks.sameShape(op, out, gout);
        Checks.sameShape(op, qkv, gqkv);
        Checks.check(!sameStorage(gqkv, qkv) && !sameStorage(gqkv, gout), op, "gqkv must not alias qkv or gout " + gqkv.shape());
        int b = s[0], n = s[1], h = s[2], d = s[3];
        if (b == 0 || n == 0) return;
        bind();
        try (Tensor dv = empty(Shape.of(b, h, n))) {
            launchWarps("attention_bwd_dot", (long) b * h * n,
                    new KernelArgs().ptr(ptr(out)).ptr(ptr(gout)).ptr(ptr(dv)).i(b).i(n).i(h).i(d));
            int grid = (n + ATT_ROWS - 1) / ATT_ROWS;
            int sharedDq = 4 * (2 * ATT_ROWS * d + 2 * ATT_TILE * (d + 1));
            launch("attention_bwd_dq", grid, b * h, 1, ATT_THREADS, sharedDq, new KernelArgs().ptr(ptr(qkv)).ptr(ptr(gout))
                    .ptr(ptr(lse)).ptr(ptr(dv)).ptr(ptr(gqkv)).i(n).i(h).i(d).f(scale));
            int sharedKv = 4 * (2 * ATT_ROWS * d + 2 * ATT_TILE * (d + 1) + 2 * ATT_TILE);
            launch("attention_bwd_dkdv", grid, b * h, 1, ATT_THREADS, sharedKv, new KernelArgs().ptr(ptr(qkv)).ptr(ptr(gout))
                    .ptr(ptr(lse)).ptr(ptr(dv)).ptr(ptr(gqkv)).i(n).i(h).i(d).f(scale));
        }
    }

    // ------------------------------------------------------------------ convolution helpers

    private static int[] convGeometry(String op, Tensor x, int kh, int kw, int stride, int pad, Tensor cols) {
        f32(op, "image", x);
        f32(op, "cols", cols);
        Checks.rank(op, "image", x, 4);
        Checks.check(kh > 0 && kw > 0 && stride > 0 && pad >= 0, op,
                "bad kernel " + kh + "x" + kw + " stride " + stride + " pad " + pad);
        int b = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
        int oh = (h + 2 * pad - kh) / stride + 1, ow = (w + 2 * pad - kw) / stride + 1;
        Checks.check(h + 2 * pad >= kh && w + 2 * pad >= kw, op, "kernel " + kh + "x" + kw + " larger than padded image " + x.shape());
        Checks.shape(op, "cols", cols, Shape.of(b, oh * ow, c * kh * kw));
        return new int[]{b, c, h, w, oh, ow};
    }

    @Override public void im2col(Tensor x, int kh, int kw, int stride, int pad, Tensor cols) {
        int[] g = convGeometry("im2col", x, kh, kw, stride, pad, cols);
        bind();
        launchN("im2col_f", cols.numel(), new KernelArgs().ptr(ptr(x)).ptr(ptr(cols)).i(g[0]).i(g[1]).i(g[2]).i(g[3])
                .i(kh).i(kw).i(stride).i(pad).i(g[4]).i(g[5]));
    }

    @Override public void col2im(Tensor cols, int kh, int kw, int stride, int pad, Tensor gx) {
        int[] g = convGeometry("col2im", gx, kh, kw, stride, pad, cols);
        bind();
        launchN("col2im_f", gx.numel(), new KernelArgs().ptr(ptr(cols)).ptr(ptr(gx)).i(g[0]).i(g[1]).i(g[2]).i(g[3])
                .i(kh).i(kw).i(stride).i(pad).i(g[4]).i(g[5]));
    }

    // ------------------------------------------------------------------ layout

    @Override public void copyBlocks(Tensor src, long srcOff, long srcStride, Tensor dst, long dstOff, long dstStride,
                                     int rows, long rowLen, boolean accumulate) {
        String op = "copyBlocks";
        Checks.check(src.dtype() == dst.dtype(), op, "dtypes differ: " + src.dtype() + " vs " + dst.dtype());
        Checks.check(!accumulate || src.dtype() == DType.F32, op, "accumulate needs float tensors");
        Checks.check(rows >= 0 && rowLen >= 0 && srcOff >= 0 && dstOff >= 0 && srcStride >= 0 && dstStride >= 0, op,
                "negative size, offset or stride");
        if (rows == 0 || rowLen == 0) return;
        long srcEnd = srcOff + (rows - 1) * srcStride + rowLen, dstEnd = dstOff + (rows - 1) * dstStride + rowLen;
        Checks.check(srcEnd <= src.numel(), op, rows + " blocks of " + rowLen + " (stride " + srcStride + ", offset " + srcOff
                + ") overrun src " + src.shape());
        Checks.check(dstEnd <= dst.numel(), op, rows + " blocks of " + rowLen + " (stride " + dstStride + ", offset " + dstOff
                + ") overrun dst " + dst.shape());
        bind();
        launchN(accumulate ? "copy_blocks_add" : "copy_blocks_u32", rows * rowLen, new KernelArgs()
                .ptr(ptr(src, srcOff)).l(srcStride).ptr(ptr(dst, dstOff)).l(dstStride).l(rows).l(rowLen));
    }

    @Override public void permute(Tensor x, int[] perm, Tensor out) {
        String op = "permute";
        int r = x.rank();
        Checks.check(perm.length == r, op, "perm " + java.util.Arrays.toString(perm) + " does not match rank of " + x.shape());
        boolean[] seen = new boolean[r];
        int[] od = new int[r];
        for (int i = 0; i < r; i++) {
            int p = perm[i];
            Checks.check(p >= 0 && p < r && !seen[p], op, "invalid perm " + java.util.Arrays.toString(perm));
            seen[p] = true;
            od[i] = x.dim(p);
        }
        Checks.shape(op, "out", out, Shape.of(od));
        Checks.check(x.dtype() == out.dtype(), op, "dtypes differ: " + x.dtype() + " vs " + out.dtype());
        Checks.check(!sameStorage(x, out), op, "out must not be x " + x.shape());
        bind();
        launchN("permute_u32", x.numel(), new KernelArgs().ptr(ptr(x)).ptr(ptr(out)).l(x.numel())
                .dims(Dims.permute(op, x.shape(), perm)));
    }

    // ------------------------------------------------------------------ resampling

    private static void checkResize(String op, Tensor big, String bigName, Tensor other, String otherName) {
        f32(op, bigName, big);
        f32(op, otherName, other);
        Checks.rank(op, bigName, big, 4);
        Checks.rank(op, otherName, other, 4);
        Checks.check(big.dim(0) == other.dim(0) && big.dim(1) == other.dim(1), op,
                "batch and channels differ: " + big.shape() + " vs " + other.shape());
    }

    @Override public void resizeBilinear(Tensor x, Tensor out) {
        checkResize("resizeBilinear", x, "x", out, "out");
        Checks.check(x.dim(2) > 0 && x.dim(3) > 0 || out.numel() == 0, "resizeBilinear", "empty input " + x.shape());
        bind();
        long planes = (long) x.dim(0) * x.dim(1);
        launchN("resize_bilinear_fwd", out.numel(), new KernelArgs().ptr(ptr(x)).ptr(ptr(out)).l(planes)
                .i(x.dim(2)).i(x.dim(3)).i(out.dim(2)).i(out.dim(3)));
    }

    @Override public void resizeBilinearBackward(Tensor gout, Tensor gx) {
        checkResize("resizeBilinearBackward", gx, "gx", gout, "gout");
        bind();
        if (gx.numel() > 0) cuMemsetD32Async(ptr(gx), 0, gx.numel(), stream);
        long planes = (long) gx.dim(0) * gx.dim(1);
        launchN("resize_bilinear_bwd", gout.numel(), new KernelArgs().ptr(ptr(gout)).ptr(ptr(gx)).l(planes)
                .i(gx.dim(2)).i(gx.dim(3)).i(gout.dim(2)).i(gout.dim(3)));
    }

    // ------------------------------------------------------------------ loss

    @Override public void softmaxCrossEntropy(Tensor logits, Tensor labels, Tensor classWeights, int ignoreIndex,
                                              Tensor loss, Tensor glogits) {
        String op = "softmaxCrossEntropy";
        f32(op, "logits", logits);
        Checks.dtype(op, "labels", labels, DType.I32);
        Checks.check(logits.rank() >= 2, op, "logits must have rank >= 2, got " + logits.shape());
        int[] d = logits.shape().dims();
        int[] ld = new int[d.length - 1];
        ld[0] = d[0];
        System.arraycopy(d, 2, ld, 1, d.length - 2);
        Checks.shape(op, "labels", labels, Shape.of(ld));
        int k = logits.dim(1);
        vecOrNull(op, "classWeights", classWeights, k);
        f32(op, "loss", loss);
        Checks.check(loss.numel() == 1, op, "loss must have one element, got " + loss.shape());
        if (glogits != null) {
            f32(op, "glogits", glogits);
            Checks.sameShape(op, logits, glogits);
        }
        bind();
        long b = logits.dim(0), inner = logits.shape().prod(2, logits.rank()), n = b * inner;
        int blocks = (int) Math.max(1, Math.min(PARTIALS, (n + THREADS - 1) / THREADS));
        launch("ce_partial", blocks, 1, 1, THREADS, 0, new KernelArgs().ptr(ptr(logits)).ptr(ptr(labels))
                .ptr(ptrOrNull(classWeights)).l(b).i(k).l(inner).i(ignoreIndex).ptr(scratchD(0)));
        launch("ce_finalize", 1, 1, 1, THREADS, 0, new KernelArgs().ptr(scratchD(0)).i(blocks).ptr(ptr(loss))
                .ptr(scratchD(2 * PARTIALS + 2)));
        if (glogits != null)
            launchN("ce_grad", n, new KernelArgs().ptr(ptr(logits)).ptr(ptr(labels)).ptr(ptrOrNull(classWeights))
                    .l(b).i(k).l(inner).i(ignoreIndex).ptr(scratchD(2 * PARTIALS + 2)).ptr(ptr(glogits)));
    }

    // ------------------------------------------------------------------ optimisation

    @Override public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
                                float eps, float weightDecay, int step) {
        String op = "adamw";
        f32(op, "param", param);
        f32(op, "grad", grad);
        f32(op, "m", m);
        f32(op, "v", v);
        Checks.sameShape(op, param, grad);
        Checks.sameShape(op, param, m);
        Checks.sameShape(op, param, v);
        Checks.check(step >= 1, op, "step counts from 1, got " + step);
        bind();
        double bc1 = 1 - Math.pow(beta1, step), bc2 = 1 - Math.pow(beta2, step);
        launchN("adamw_step", param.numel(), new KernelArgs().ptr(ptr(param)).ptr(ptr(grad)).ptr(ptr(m)).ptr(ptr(v))
                .l(param.numel()).f(lr).f(beta1).f(beta2).f(eps).f(weightDecay)
                .f((float) (lr / bc1)).f((float) Math.sqrt(bc2)));
    }

    // ------------------------------------------------------------------ closing

    @Override public synchronized void close() {
        if (closed) return;
        bind();
        sync();
        closed = true;
        scratch.close();
        if (cublas != null) cublas.close();
        staging.close();
        allocator.close();
        kernels.unload();
        cuStreamDestroy(stream);
        cuDevicePrimaryCtxRelease(cuDevice);
    }

    @Override public String toString() { return name; }
}
