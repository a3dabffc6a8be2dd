package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

class SwigluGradTest {
    @Test
    void gateOnLastDim() {
        GradCheck g = GradCheck.of("swiglu", 1);
        g.input("x12", DTensor.uniform(g.rng(), -3, 3, 2, 3, 10), true)
                .run((ops, v) -> ops.swiglu(v.get(0)), r -> Ref.swiglu(r.get(0)));
    }
}
