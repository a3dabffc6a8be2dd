package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

class SumGradTest {
    @Test
    void sumOfAll() {
        GradCheck.of("sum", 1).input("x", 3, 4, 2).run((ops, v) -> ops.sum(v.get(0)), r -> Ref.sum(r.get(0)));
    }
}
