package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

import java.util.List;

class ConcatGradTest {
    @Test
    void threeInputsMiddleAxisOneConstant() {
        GradCheck.of("concat", 1).input("a", 2, 1, 3).constant("b", 2, 2, 3).input("c", 2, 3, 3)
                .run((ops, v) -> ops.concat(v, 1), r -> Ref.concat(r, 1));
    }

    @Test
    void firstAndLastAxis() {
        GradCheck.of("concat axis 0", 2).input("a", 1, 4).input("b", 3, 4)
                .run((ops, v) -> ops.concat(v, 0), r -> Ref.concat(r, 0));
        GradCheck.of("concat axis -1", 3).input("a", 2, 2, 1).input("b", 2, 2, 5)
                .run((ops, v) -> ops.concat(List.of(v.get(0), v.get(1)), -1), r -> Ref.concat(r, 2));
    }
}
