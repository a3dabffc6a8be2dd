package dinoseg.backend.cuda;

import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;


import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUfunction;

/**
 * The emulated CUDA driver itself, as the backend sees it: its counters agree with the backend's own
 * accounting, launch limits are enforced as a GPU enforces them, a kernel that writes out of bounds is
 * reported with the kernel's name and leaves the context broken (as on a GPU), and running out of
 * device memory goes through the caching allocator's recovery. Runs only on the emulated driver.
 */
class EmulatedDriverTest {

    @BeforeEach
    void emulated() {
        CudaTestSupport.assumeGpu();
        org.junit.jupiter.api.Assumptions.assumeTrue(EmulatedDriver.active(), "a real GPU: the emulator's checks do not apply");
    }

    @Test
    void countersFollowTheBackend() {
        CudaBackend gpu = CudaTestSupport.gpu();
        gpu.synchronize();
        int launches = EmulatedDriver.count(EmulatedDriver.LAUNCHES);
        int allocs = EmulatedDriver.count(EmulatedDriver.MEM_ALLOCS);
        long backendAllocs = gpu.deviceAllocations();
        int reads = EmulatedDriver.count(EmulatedDriver.COPIES_DTOH);
        try (Tensor t = gpu.empty(Shape.of(3, 1 << 20 | 7))) {   // a size no earlier test used: a new block
            gpu.fill(t, 2f);
            gpu.fill(t, 3f);
            assertEquals(3f, gpu.toFloats(t)[5]);
        }
        assertEquals(launches + 2, EmulatedDriver.count(EmulatedDriver.LAUNCHES), "one launch per fill");
        assertEquals(gpu.deviceAllocations() - backendAllocs, EmulatedDriver.count(EmulatedDriver.MEM_ALLOCS) - allocs,
                "cuMemAlloc calls seen by the driver and counted by the allocator");
        assertTrue(gpu.deviceAllocations() > backendAllocs, "a new bucket size needs cuMemAlloc");
        assertEquals(reads + 1, EmulatedDriver.count(EmulatedDriver.COPIES_DTOH));
        assertEquals(0, EmulatedDriver.count(EmulatedDriver.FAILED_LAUNCHES));
        assertTrue(EmulatedDriver.count(EmulatedDriver.LIVE_KIB) * 1024L >= gpu.liveBytes(), "driver-side memory covers the live tensors");
    }

    @Test
    void launchLimitsAreThoseOfAGpu() {
        CudaBackend gpu = CudaTestSupport.gpu();
        CUfunction fill = gpu.kernelFunction("fill_f");
        try (Tensor t = gpu.zeros(Shape.of(4096))) {
            Pointer args = Pointer.to(Pointer.to(CudaBackend.ptr(t)), Pointer.to(new float[]{1f}), Pointer.to(new long[]{4096}));
            CudaException e = assertThrows(CudaException.class, () -> cuLaunchKernel(fill, 1, 1, 1, 2048, 1, 1, 0, null, args, null));
            assertTrue(e.getMessage().contains("INVALID_VALUE"), e.getMessage());
            e = assertThrows(CudaException.class, () -> cuLaunchKernel(fill, 1, 70000, 1, 32, 1, 1, 0, null, args, null));
            assertTrue(e.getMessage().contains("INVALID_VALUE"), e.getMessage());
            // 64 KiB of dynamic shared memory needs the opt-in attribute first
            e = assertThrows(CudaException.class, () -> cuLaunchKernel(fill, 1, 1, 1, 32, 1, 1, 64 << 10, null, args, null));
            assertTrue(e.getMessage().contains("INVALID_VALUE"), e.getMessage());
            // configuration errors are not sticky: the context still works
            gpu.fill(t, 5f);
            assertEquals(5f, gpu.toFloats(t)[4095]);
        }
    }

    @Test
    void anOutOfBoundsKernelIsReportedByNameAndTheContextStaysBroken() throws Exception {
        String out = EmulatedDriver.probe("oob-gemm");
        assertTrue(out.contains("CUDA_ERROR_ILLEGAL_ADDRESS"), out);
        assertTrue(out.contains("sgemm_batched"), "the error names the kernel:\n" + out);
        assertTrue(out.contains("sticky: "), out);
    }

    @Test
    void runningOutOfDeviceMemoryRecoversThroughTheCache() throws Exception {
        String out = EmulatedDriver.probe("oom", "DSEMU_MEM_MIB", "64");
        assertTrue(out.contains("error: CUDA out of memory: cannot allocate 16.0 MiB"), out);
        assertTrue(out.contains("a 48 MiB tensor reads 1.0"), out);
    }
}
