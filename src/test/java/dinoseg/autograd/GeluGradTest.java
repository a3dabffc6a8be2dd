package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

class GeluGradTest {
    @Test
    void exactErfGelu() {
        GradCheck g = GradCheck.of("gelu", 1);
        g.input("x", DTensor.uniform(g.rng(), -4, 4, 4, 9), true)
                .run((ops, v) -> ops.gelu(v.get(0)), r -> Ref.gelu(r.get(0)));
    }
}
