package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

class LayerNormGradTest {
    @Test
    void dinoEps() {
        GradCheck.of("layerNorm", 1).input("x", 2, 3, 8).input("gamma", 8).input("beta", 8)
                .run((ops, v) -> ops.layerNorm(v.get(0), v.get(1), v.get(2), 1e-6f),
                        r -> Ref.layerNorm(r.get(0), r.get(1), r.get(2), (double) 1e-6f));
    }

    @Test
    void frozenAffineAndOddWidth() {
        GradCheck.of("layerNorm", 2).input("x", 5, 7).constant("gamma", 7).constant("beta", 7)
                .run((ops, v) -> ops.layerNorm(v.get(0), v.get(1), v.get(2), 1e-5f),
                        r -> Ref.layerNorm(r.get(0), r.get(1), r.get(2), (double) 1e-5f));
    }
}
