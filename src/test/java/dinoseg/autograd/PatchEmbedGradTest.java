package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

class PatchEmbedGradTest {
    @Test
    void twoByTwoPatches() {
        GradCheck.of("patchEmbed", 1).input("x", 2, 3, 4, 6).input("w", 5, 3, 2, 2).input("b", 5)
                .run((ops, v) -> ops.patchEmbed(v.get(0), v.get(1), v.get(2), 2), r -> Ref.patchEmbed(r.get(0), r.get(1), r.get(2), 2));
    }

    @Test
    void threeByThreeFrozenImage() {
        GradCheck.of("patchEmbed", 2).constant("x", 1, 3, 6, 3).input("w", 4, 3, 3, 3).input("b", 4)
                .run((ops, v) -> ops.patchEmbed(v.get(0), v.get(1), v.get(2), 3), r -> Ref.patchEmbed(r.get(0), r.get(1), r.get(2), 3));
    }
}
