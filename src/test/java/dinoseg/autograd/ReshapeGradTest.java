package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

class ReshapeGradTest {
    @Test
    void viewWithInferredDim() {
        GradCheck.of("reshape", 1).input("x", 2, 3, 4)
                .run((ops, v) -> ops.reshape(v.get(0), 6, -1), r -> Ref.reshape(r.get(0), 6, 4));
    }

    @Test
    void reshapeFeedingAnotherOp() {
        GradCheck.of("reshape+linear", 2).input("x", 2, 6).input("w", 2, 3)
                .run((ops, v) -> ops.linear(ops.reshape(v.get(0), 4, 3), v.get(1), null),
                        r -> Ref.linear(Ref.reshape(r.get(0), 4, 3), r.get(1), null));
    }
}
