package dinoseg.backend.cpu;

/** Every {@link CpuGemmTest} case on the scalar fallback kernel (what runs without jdk.incubator.vector). */
class CpuGemmScalarTest extends CpuGemmTest {
    @Override CpuBackend backend() { return new CpuBackend(false); }

    @Override boolean expectVector() { return false; }
}
