package dinoseg.backend.cuda;

import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;

import jcuda.CudaException;
import jcuda.driver.CUdevice;

/**
 * The emulated CUDA driver of the tests (kernels/test/driver/driver.cpp, a libcuda.so.1 that Surefire puts
 * on LD_LIBRARY_PATH): whether the CUDA backend runs on it, and its counters. The counters are read
 * through cuDeviceGetAttribute with private attribute numbers (DSEMU_ATTR_* in driver.cpp); a real
 * driver rejects those numbers, so on a GPU {@link #active()} is false.
 */
final class EmulatedDriver {
    private EmulatedDriver() { }

    static final int BASE = 0x44530000;
    static final int EMULATED = BASE, LAUNCHES = BASE + 1, MEM_ALLOCS = BASE + 2, MEM_FREES = BASE + 3,
            LIVE_KIB = BASE + 4, PEAK_KIB = BASE + 5, COPIES_HTOD = BASE + 6, COPIES_DTOH = BASE + 7,
            HOST_WAITS = BASE + 8, FAILED_LAUNCHES = BASE + 9, LIVE_ALLOCATIONS = BASE + 10;

    private static Boolean active;

    /** True when CUDA is available and the driver is the emulator. */
    static synchronized boolean active() {
        if (active == null) {
            if (!CudaTestSupport.available()) active = false;
            else {
                try {
                    active = query(EMULATED) == 1;
                } catch (CudaException e) {   // a real driver: CUDA_ERROR_INVALID_VALUE
                    active = false;
                }
            }
        }
        return active;
    }

    /** One counter of the emulated driver (launches, cuMemAlloc calls, ...). */
    static int count(int attribute) {
        if (!active()) throw new IllegalStateException("not running on the emulated CUDA driver");
        return query(attribute);
    }

    private static int query(int attribute) {
        CUdevice dev = new CUdevice();
        cuDeviceGet(dev, 0);
        int[] v = new int[1];
        cuDeviceGetAttribute(v, attribute, dev);
        return v[0];
    }
}
