package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

class ReluGradTest {
    @Test
    void reluAwayFromTheKink() {
        GradCheck g = GradCheck.of("relu", 1);
        DTensor x = DTensor.random(g.rng(), 3, 7);
        for (int i = 0; i < x.data.length; i++) if (Math.abs(x.data[i]) < 0.05) x.data[i] = 0.5; // finite differences need |x| > h
        g.input("x", x, true).run((ops, v) -> ops.relu(v.get(0)), r -> Ref.relu(r.get(0)));
    }
}
