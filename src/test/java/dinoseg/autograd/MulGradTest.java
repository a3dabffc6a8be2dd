package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

class MulGradTest {
    private static void check(long seed, int[] a, int[] b) {
        GradCheck.of("mul", seed).input("a", a).input("b", b)
                .run((ops, v) -> ops.mul(v.get(0), v.get(1)), r -> Ref.mul(r.get(0), r.get(1)));
    }

    @Test void sameShape() { check(1, new int[]{3, 4}, new int[]{3, 4}); }

    @Test void layerScaleGamma() { check(2, new int[]{2, 3, 5}, new int[]{5}); }

    @Test void perChannel() { check(3, new int[]{2, 3, 2, 2}, new int[]{3, 1, 1}); }

    @Test void smallerFirstOperand() { check(4, new int[]{3, 1}, new int[]{2, 3, 4}); }
}
