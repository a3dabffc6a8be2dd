package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

class LinearGradTest {
    @Test
    void batchedInputWithBias() {
        GradCheck.of("linear", 1).input("x", 2, 3, 4).input("w", 5, 4).input("b", 5)
                .run((ops, v) -> ops.linear(v.get(0), v.get(1), v.get(2)), r -> Ref.linear(r.get(0), r.get(1), r.get(2)));
    }

    @Test
    void matrixInputWithoutBias() {
        GradCheck.of("linear", 2).input("x", 3, 7).input("w", 2, 7)
                .run((ops, v) -> ops.linear(v.get(0), v.get(1), null), r -> Ref.linear(r.get(0), r.get(1), null));
    }

    @Test
    void frozenWeightStillPassesGradientToInput() {
        GradCheck.of("linear", 3).input("x", 4, 3).constant("w", 6, 3).constant("b", 6)
                .run((ops, v) -> ops.linear(v.get(0), v.get(1), v.get(2)), r -> Ref.linear(r.get(0), r.get(1), r.get(2)));
    }

    @Test
    void sharedWeightAccumulatesBothUses() {
        // y = W (W x + b) + b: the weight and bias gradients sum two contributions
        GradCheck.of("linear tied", 4).input("x", 3, 4).input("w", 4, 4).input("b", 4)
                .run((ops, v) -> ops.linear(ops.linear(v.get(0), v.get(1), v.get(2)), v.get(1), v.get(2)),
                        r -> Ref.linear(Ref.linear(r.get(0), r.get(1), r.get(2)), r.get(1), r.get(2)));
    }
}
