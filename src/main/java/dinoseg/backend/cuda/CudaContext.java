package dinoseg.backend.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import java.util.List;

import dinoseg.backend.Backends.UnavailableException;
import dinoseg.tensor.Device;
import jcuda.CudaException;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUfunction;
import jcuda.driver.CUgraph;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * The device side of the CUDA backend: driver initialisation, the device's primary context, the one
 * stream all work is queued on, the kernel module ({@link CudaKernels}) and the launch helpers the
 * op launchers use. Launch failures and faults that surface when waiting are rethrown as
 * {@link CudaException}s naming the kernel and the driver's description ({@link #describe}).
 */
final class CudaContext {
    /** Threads per block of the grid-stride and warp-per-row launches. */
    static final int THREADS = 256;

    /** The first reason CUDA could not be initialised in this JVM (JCuda's natives load only once). */
    private static volatile String initFailure;

    final Device device;
    final String gpu;
    final int major, minor, smCount;
    final long totalBytes;
    final String driverVersion;
    final CUstream stream = new CUstream();
    private final CUdevice cuDevice = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final CudaKernels kernels = new CudaKernels();
    private final ThreadLocal<Boolean> bound = ThreadLocal.withInitial(() -> Boolean.FALSE);
    private volatile boolean closed;
    /** The stream is being captured into a graph: nothing may wait for it, upload or download. */
    private volatile boolean capturing;

    // ------------------------------------------------------------------ opening

    /**
     * Initialises the driver, retains device {@code ordinal}'s primary context, loads the kernels and
     * creates the stream; throws {@link UnavailableException} with one line saying what is missing.
     */
    static CudaContext open(int ordinal) {
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
            return new CudaContext(ordinal, fatbin);
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

    private CudaContext(int ordinal, byte[] fatbin) {
        this.device = Device.cuda(ordinal);
        cuDeviceGet(cuDevice, ordinal);
        cuDevicePrimaryCtxRetain(context, cuDevice);
        cuCtxSetCurrent(context);
        bound.set(Boolean.TRUE);
        major = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        minor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        smCount = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        byte[] nameBytes = new byte[256];
        cuDeviceGetName(nameBytes, nameBytes.length, cuDevice);
        gpu = new String(nameBytes, java.nio.charset.StandardCharsets.US_ASCII).trim().replace("\0", "");
        long[] mem = new long[1];
        cuDeviceTotalMem(mem, cuDevice);
        totalBytes = mem[0];
        int[] driver = new int[1];
        cuDriverGetVersion(driver);
        driverVersion = driver[0] / 1000 + "." + driver[0] % 1000 / 10;
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
    }

    private int attribute(int attr) {
        int[] v = new int[1];
        cuDeviceGetAttribute(v, attr, cuDevice);
        return v[0];
    }

    /** Makes the context current on the calling thread (once per thread); fails once closed. */
    void bind() {
        if (closed) throw new IllegalStateException("the CUDA backend is closed");
        if (!bound.get()) {
            cuCtxSetCurrent(context);
            bound.set(Boolean.TRUE);
        }
    }

    /** The loaded kernel {@code name}. */
    CUfunction function(String name) { return kernels.get(name); }

    // ------------------------------------------------------------------ launching

    /** Launches {@code kernel} on the stream with a 1-D block; nothing when the grid is empty. */
    void launch(String kernel, int gridX, int gridY, int gridZ, int block, int sharedBytes, KernelArgs args) {
        launch(kernel, gridX, gridY, gridZ, block, 1, sharedBytes, args);
    }

    /** Launches {@code kernel} with a bx × by block; a failed launch names the kernel, grid and block. */
    void launch(String kernel, int gridX, int gridY, int gridZ, int bx, int by, int sharedBytes, KernelArgs args) {
        if (gridX == 0 || gridY == 0 || gridZ == 0) return;
        try {
            kernels.ensureSharedMemory(kernel, sharedBytes);
            cuLaunchKernel(kernels.get(kernel), gridX, gridY, gridZ, bx, by, 1, sharedBytes, stream, args.build(), null);
        } catch (CudaException e) {
            throw new CudaException("CUDA kernel " + kernel + " (grid " + gridX + "x" + gridY + "x" + gridZ + ", block " + bx
                    + (by == 1 ? "" : "x" + by) + ", " + sharedBytes + " bytes of dynamic shared memory): " + describe(e), e);
        }
    }

    /** A grid-stride launch over n elements. */
    void launchN(String kernel, long n, KernelArgs args) {
        if (n <= 0) return;
        long blocks = Math.min((n + THREADS - 1) / THREADS, (long) smCount * 32);
        launch(kernel, (int) Math.max(1, blocks), 1, 1, THREADS, 0, args);
    }

    /** One warp per row. */
    void launchWarps(String kernel, long rows, KernelArgs args) {
        if (rows <= 0) return;
        long blocks = (rows * 32 + THREADS - 1) / THREADS;
        if (blocks > Integer.MAX_VALUE) throw new IllegalArgumentException(kernel + ": too many rows " + rows);
        launch(kernel, (int) blocks, 1, 1, THREADS, 0, args);
    }

    /** Waits for the stream; a fault of earlier queued work surfaces here, described by {@link #describe}. */
    void sync() {
        requireNotCapturing("waiting for the GPU");
        try {
            cuStreamSynchronize(stream);
        } catch (CudaException e) {
            throw new CudaException("CUDA error while waiting for queued GPU work: " + describe(e), e);
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

    boolean isClosed() { return closed; }

    // ------------------------------------------------------------------ graph capture

    /** Throws when the stream is being captured: {@code what} would wait for or copy through it. */
    void requireNotCapturing(String what) {
        if (capturing)
            throw new IllegalStateException(what + " inside a CUDA graph capture: a captured step must not read values back,"
                    + " upload or wait (write its inputs before the capture and before each replay)");
    }

    /** Starts recording the stream's work (cuStreamBeginCapture, global mode: any unsafe call fails). */
    void beginCapture() {
        requireNotCapturing("starting a capture");
        cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_GLOBAL);
        capturing = true;
    }

    /** Ends the recording into {@code graph}; a capture a prohibited call invalidated fails here. */
    void endCapture(CUgraph graph) {
        capturing = false;
        try {
            cuStreamEndCapture(stream, graph);
        } catch (CudaException e) {
            throw new CudaException("CUDA graph capture failed: " + describe(e), e);
        }
    }

    /** Unloads the kernels, destroys the stream and releases the primary context (the caller waited and freed memory first). */
    void close() {
        closed = true;
        kernels.unload();
        cuStreamDestroy(stream);
        cuDevicePrimaryCtxRelease(cuDevice);
    }
}
