package dinoseg.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/**
 * The test suite runs with {@code -Ddinoseg.cpu.poisonEmpty=true} (pom.xml): every CPU {@code empty}
 * tensor starts NaN-filled (ints: {@link CpuArrayPool#POISON_INT}), new or reused, so the op tests
 * fail for an op that reads an element of its output it never wrote. This checks that the hook is on.
 */
class CpuEmptyPoisonTest {
    @Test
    void emptyTensorsArePoisonedInTheTestSuite() {
        assertTrue(CpuArrayPool.POISON, "surefire must set -Ddinoseg.cpu.poisonEmpty=true (pom.xml)");
        try (CpuBackend be = new CpuBackend()) {
            for (int round = 0; round < 2; round++) {   // new arrays, then arrays reused from the cache
                Tensor f = be.empty(Shape.of(CpuArrayPool.MIN_LENGTH + 3)), i = be.empty(Shape.of(CpuArrayPool.MIN_LENGTH), DType.I32);
                for (float v : be.toFloats(f)) assertTrue(Float.isNaN(v));
                for (int v : be.toInts(i)) assertTrue(v == CpuArrayPool.POISON_INT);
                be.fill(f, 1f);
                f.close();
                i.close();
            }
            Tensor z = be.zeros(Shape.of(CpuArrayPool.MIN_LENGTH + 3));   // zeros stays zeros on a reused array
            for (float v : be.toFloats(z)) assertTrue(v == 0f);
        }
    }
}
