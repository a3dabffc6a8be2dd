package dinoseg.autograd;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shape mismatches fail where the op starts, naming the op and both shapes. */
class OpsShapeErrorTest {
    private final Backend be = Backends.cpu();
    private final Ops ops = new Ops(be);

    private Var v(int... shape) { return new Var(be.zeros(Shape.of(shape)), true); }

    private static void expect(Executable e, String op, String... shapes) {
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, e);
        String m = ex.getMessage();
        assertTrue(m.startsWith(op + ":"), "message should start with the op name '" + op + "': " + m);
        for (String s : shapes) assertTrue(m.contains(s), "message should name shape " + s + ": " + m);
        assertTrue(!m.contains("\n"), "one line: " + m);
    }

    @Test void linearWrongK() { expect(() -> ops.linear(v(2, 3), v(4, 5), null), "linear", "[2, 3]", "[4, 5]"); }

    @Test void linearWrongBias() { expect(() -> ops.linear(v(2, 5), v(4, 5), v(3)), "linear", "[3]", "[4, 5]"); }

    @Test void matmulInnerDims() { expect(() -> ops.matmul(v(2, 3, 4), false, v(2, 5, 6), false), "matmul", "[2, 3, 4]", "[2, 5, 6]"); }

    @Test void matmulBatchDims() { expect(() -> ops.matmul(v(2, 3, 4), false, v(3, 4, 6), false), "matmul", "[2, 3, 4]", "[3, 4, 6]"); }

    @Test void addNotBroadcastable() { expect(() -> ops.add(v(2, 3), v(4)), "add", "[2, 3]", "[4]"); }

    @Test void mulNotBroadcastable() { expect(() -> ops.mul(v(2, 3, 4), v(3, 1, 2)), "mul", "[2, 3, 4]", "[3, 1, 2]"); }

    @Test void concatMismatched() { expect(() -> ops.concat(List.of(v(2, 3), v(3, 4)), 0), "concat", "[2, 3]", "[3, 4]"); }

    @Test void layerNormGamma() { expect(() -> ops.layerNorm(v(2, 8), v(7), v(8), 1e-6f), "layerNorm", "[7]", "[8]"); }

    @Test void sliceOutOfRange() { expect(() -> ops.slice(v(2, 3), 1, 2, 2), "slice", "[2, 3]"); }

    @Test void attentionPacking() { expect(() -> ops.attention(v(1, 4, 10), 2), "attention", "[1, 4, 10]"); }

    @Test
    void crossEntropyLabelsMismatch() {
        Tensor labels = be.fromInts(new int[24], Shape.of(2, 3, 4));
        expect(() -> ops.crossEntropy(v(2, 4, 3, 3), labels, null, 255), "crossEntropy", "[2, 4, 3, 3]", "[2, 3, 4]");
    }

    @Test
    void crossEntropyFloatLabels() {
        Tensor labels = be.zeros(Shape.of(2, 3, 3));
        expect(() -> ops.crossEntropy(v(2, 4, 3, 3), labels, null, 255), "crossEntropy", "[2, 3, 3]");
    }

    @Test void patchEmbedNotMultiple() { expect(() -> ops.patchEmbed(v(1, 3, 5, 4), v(2, 3, 2, 2), null, 2), "patchEmbed", "[1, 3, 5, 4]"); }

    @Test void conv2dChannels() { expect(() -> ops.conv2d(v(1, 3, 4, 4), v(2, 4, 3, 3), null, 1, 1), "conv2d", "[1, 3, 4, 4]", "[2, 4, 3, 3]"); }
}
