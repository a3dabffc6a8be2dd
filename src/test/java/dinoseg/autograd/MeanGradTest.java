package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

class MeanGradTest {
    @Test
    void meanOfAll() {
        GradCheck.of("mean", 1).input("x", 5, 3).run((ops, v) -> ops.mean(v.get(0)), r -> Ref.mean(r.get(0)));
    }
}
