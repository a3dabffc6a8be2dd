package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

class SliceGradTest {
    @Test
    void middleOfMiddleAxis() {
        GradCheck.of("slice", 1).input("x", 2, 5, 3)
                .run((ops, v) -> ops.slice(v.get(0), 1, 1, 3), r -> Ref.slice(r.get(0), 1, 1, 3));
    }

    @Test
    void clsTokenAndLastAxis() {
        GradCheck.of("slice", 2).input("x", 2, 4, 3)
                .run((ops, v) -> ops.slice(v.get(0), 1, 0, 1), r -> Ref.slice(r.get(0), 1, 0, 1));
        GradCheck.of("slice", 3).input("x", 3, 6)
                .run((ops, v) -> ops.slice(v.get(0), -1, 4, 2), r -> Ref.slice(r.get(0), 1, 4, 2));
    }
}
