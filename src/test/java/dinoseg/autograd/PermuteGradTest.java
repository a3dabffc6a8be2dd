package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

class PermuteGradTest {
    @Test
    void rotateThreeDims() {
        GradCheck.of("permute", 1).input("x", 2, 3, 4)
                .run((ops, v) -> ops.permute(v.get(0), 2, 0, 1), r -> Ref.permute(r.get(0), 2, 0, 1));
    }

    @Test
    void tokensToNchw() {
        GradCheck.of("permute", 2).input("x", 2, 3, 2, 5)
                .run((ops, v) -> ops.permute(v.get(0), 0, 3, 1, 2), r -> Ref.permute(r.get(0), 0, 3, 1, 2));
    }
}
