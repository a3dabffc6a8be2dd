package dinoseg.backend.cuda;

import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/**
 * Runs one fault on the emulated CUDA driver in a JVM of its own (a fault leaves the context's sticky
 * error, which would break the shared backend of the other tests). Started by {@link EmulatedDriverTest};
 * prints what happened on stdout and exits 0 when the fault was reported as expected.
 *
 * <pre>java -cp TESTS dinoseg.backend.cuda.EmulatedDriverProbe oob-gemm|oom|no-driver</pre>
 */
public final class EmulatedDriverProbe {
    private EmulatedDriverProbe() { }

    public static void main(String[] args) {
        if (args[0].equals("no-driver")) {   // run without the emulator on LD_LIBRARY_PATH
            CudaAvailabilityTest.checkWithoutDriver();
            System.out.println("no-driver checks passed");
            System.exit(0);
        }
        CudaBackend gpu = CudaBackend.open();
        System.out.println("device: " + gpu.name());
        switch (args[0]) {
            case "oob-gemm" -> {
                // C holds 16x16 floats but the kernel is told it is 64x64: the writes past its end must fault.
                Tensor a = gpu.fromFloats(new float[64 * 64], Shape.of(64, 64));
                Tensor b = gpu.fromFloats(new float[64 * 64], Shape.of(64, 64));
                Tensor c = gpu.zeros(Shape.of(16, 16));
                gpu.kernelGemm(false, false, 64, 64, 64, 1f, CudaBackend.ptr(a), 64, 0, CudaBackend.ptr(b), 64, 0,
                        0f, CudaBackend.ptr(c), 64, 0, 1);
                try {
                    gpu.toFloats(c);
                    System.out.println("no error reported");
                    System.exit(1);
                } catch (jcuda.CudaException e) {
                    System.out.println("error: " + e.getMessage());
                    // the context stays broken, as on a GPU
                    try {
                        gpu.zeros(Shape.of(4)).close();
                        gpu.synchronize();
                        System.out.println("later work succeeded after a fault");
                        System.exit(1);
                    } catch (jcuda.CudaException later) {
                        System.out.println("sticky: " + later.getMessage());
                    }
                    System.exit(0);
                }
            }
            case "oom" -> {
                // DSEMU_MEM_MIB=64: the caching allocator must report the device's size, then recover by
                // returning its cache once tensors are released.
                java.util.List<Tensor> held = new java.util.ArrayList<>();
                try {
                    for (int i = 0; i < 8; i++) held.add(gpu.empty(Shape.of(4 << 20)));   // 16 MiB each
                    System.out.println("no error reported");
                    System.exit(1);
                } catch (IllegalStateException e) {
                    System.out.println("error: " + e.getMessage());
                }
                int n = held.size();
                for (Tensor t : held) t.close();
                held.clear();
                Tensor big = gpu.empty(Shape.of(12 << 20));   // 48 MiB: only fits once the cache is returned
                gpu.fill(big, 1f);
                System.out.println("held " + n + " tensors of 16 MiB; after releasing them a 48 MiB tensor reads "
                        + gpu.toFloats(big)[(12 << 20) - 1]);
                System.exit(0);
            }
            default -> {
                System.out.println("unknown probe " + args[0]);
                System.exit(2);
            }
        }
    }
}
