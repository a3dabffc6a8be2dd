package dinoseg.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import dinoseg.bench.StepMemoryTest;

/**
 * The caching allocator over whole fine-tune steps of a tiny ViT (the bench's step, see
 * bench.StepMemoryTest): every tensor has an owner that frees it, so after the optimizer's first step
 * the cache serves every allocation (no cuMemAlloc), each step peaks at the same bytes, nothing is
 * left alive after a step and nothing is left for the Cleaner. Emulated driver or a real GPU.
 */
class StepAllocationTest {
    @Test
    void steadyStateCudaStepsAllocateNothingAndPeakTheSame() throws Exception {
        CudaTestSupport.assumeGpu();
        // its own backend: no other test's tensors (or their Cleaner) move this allocator's figures
        try (CudaBackend gpu = CudaBackend.open()) {
            StepMemoryTest.Setup s = new StepMemoryTest.Setup(gpu);
            s.step(gpu);   // step 1: the optimizer's moments are made at its end
            gpu.synchronize();
            long live = gpu.liveBytes();
            long cleanerBefore = gpu.cleanerReleases();
            long[] peaks = new long[21], allocs = new long[21];
            for (int i = 2; i <= 20; i++) {
                gpu.resetPeakDeviceBytes();
                s.step(gpu);
                gpu.synchronize();
                peaks[i] = gpu.peakDeviceBytes();
                allocs[i] = gpu.deviceAllocations();
                assertEquals(live, gpu.liveBytes(), "step " + i + " left tensors alive");
            }
            // step 2 may still add a few blocks (the moments took cached blocks the activations had
            // used); from step 3 on the cache serves everything
            assertEquals(allocs[2], allocs[20], "steps 3..20 must make no cuMemAlloc call");
            assertEquals(peaks[2], peaks[20], "peak bytes of step 2 and step 20");
            assertTrue(peaks[2] > live, "a step allocates activations above the parameters and moments");
            System.gc();
            Thread.sleep(200);
            assertEquals(cleanerBefore, gpu.cleanerReleases(), "tensors of the steps were left to the garbage collector");
        }
    }

}
