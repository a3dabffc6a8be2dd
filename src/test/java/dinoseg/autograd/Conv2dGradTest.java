package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

class Conv2dGradTest {
    @Test
    void oneByOne() {
        GradCheck.of("conv2d 1x1", 1).input("x", 2, 3, 3, 4).input("w", 5, 3, 1, 1).input("b", 5)
                .run((ops, v) -> ops.conv2d(v.get(0), v.get(1), v.get(2), 1, 0), r -> Ref.conv2d(r.get(0), r.get(1), r.get(2), 1, 0));
    }

    @Test
    void threeByThreePadOne() {
        GradCheck.of("conv2d 3x3", 2).input("x", 2, 2, 4, 5).input("w", 3, 2, 3, 3).input("b", 3)
                .run((ops, v) -> ops.conv2d(v.get(0), v.get(1), v.get(2), 1, 1), r -> Ref.conv2d(r.get(0), r.get(1), r.get(2), 1, 1));
    }

    @Test
    void threeByThreeStrideTwoNoBias() {
        GradCheck.of("conv2d 3x3 s2", 3).input("x", 1, 2, 5, 6).input("w", 2, 2, 3, 3)
                .run((ops, v) -> ops.conv2d(v.get(0), v.get(1), null, 2, 1), r -> Ref.conv2d(r.get(0), r.get(1), null, 2, 1));
    }
}
