package dinoseg.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The tensor-core path without a GPU: kernels/tc.cuh's instructions (mma.sync bf16 m16n8k16 and tf32
 * m16n8k8, ldmatrix, cp.async) run on the emulator with the PTX ISA's fragment-to-lane layouts, so a
 * kernel that hands a lane the wrong fragment computes a wrong product. The clean kernels pass in
 * {@link KernelEmulationTest} (family tensor_core); here planted mistakes in kernels/gemm_tc.cu must
 * fail it: a wrong ldmatrix row address for the A fragments (a fragment mapping mistake), the
 * barrier between K tiles removed, and a cp.async wait that lets a tile be converted before its copies
 * have landed. tools/mutate_kernels.sh plants many more, one at a time.
 */
class TensorCoreEmulationTest {

    private static Run plantAndRun(Path dir, String what, String with) throws IOException, InterruptedException {
        KernelEmulationTest.copyKernels(dir);
        KernelEmulationTest.plant(dir, "gemm_tc.cu", what, 0, with);
        var r = KernelEmulationTest.runScript(Map.of("DSEMU_KERNELS_DIR", dir.toAbsolutePath().toString(),
                "DSEMU_LAUNCH_TIMEOUT", "60"), 6, "tensor_core");
        return new Run(r.status(), r.output());
    }

    private record Run(int status, String output) {}

    private static void assertGemmFails(Run r) {
        assertEquals(1, r.status(), "the planted mistake was not caught:\n" + r.output());
        assertTrue(r.output().lines().anyMatch(l -> l.startsWith("FAIL gemm_bf16_tc")), r.output());
        // the instruction-level checks do not involve gemm_tc.cu and still pass
        assertTrue(r.output().contains("ok   tensor core mma.m16n8k16 bf16 fragments (PTX ISA layout)"), r.output());
    }

    @Test
    void wrongLdmatrixRowAddressForTheAFragmentIsCaught(@TempDir Path dir) throws IOException, InterruptedException {
        // lanes 8..15 then give rows 0..7 again: the A fragment's rows g+8 hold rows g
        assertGemmFails(plantAndRun(dir, "&As[(m + (lane & 15)) * TC_LDK", "&As[(m + (lane & 7)) * TC_LDK"));
    }

    @Test
    void missingStageBarrierIsCaught(@TempDir Path dir) throws IOException, InterruptedException {
        // the barrier after each thread converted its chunks: warps then read tiles others still write
        assertGemmFails(plantAndRun(dir, "        __syncthreads();   // tile kt converted", "        // tile kt converted"));
    }

    @Test
    void convertingBeforeTheCopiesLandedIsCaught(@TempDir Path dir) throws IOException, InterruptedException {
        // wait_group STAGES - 1 leaves tile kt's group in flight: the conversion reads the stale stage
        assertGemmFails(plantAndRun(dir, "tc_cp_async_wait<BF_STAGES - 2>();", "tc_cp_async_wait<BF_STAGES - 1>();"));
    }
}
