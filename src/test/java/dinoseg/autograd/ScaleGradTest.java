package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

class ScaleGradTest {
    @Test
    void scalesByConstant() {
        GradCheck.of("scale", 1).input("x", 3, 4)
                .run((ops, v) -> ops.scale(v.get(0), -0.37f), r -> Ref.scale(r.get(0), (double) -0.37f));
    }
}
