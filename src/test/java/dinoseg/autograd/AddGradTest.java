package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

class AddGradTest {
    private static void check(long seed, int[] a, int[] b) {
        GradCheck.of("add", seed).input("a", a).input("b", b)
                .run((ops, v) -> ops.add(v.get(0), v.get(1)), r -> Ref.add(r.get(0), r.get(1)));
    }

    @Test void sameShape() { check(1, new int[]{2, 3, 4}, new int[]{2, 3, 4}); }

    @Test void biasOverLastDim() { check(2, new int[]{2, 3, 4}, new int[]{4}); }

    @Test void middleOnes() { check(3, new int[]{2, 3, 4}, new int[]{2, 1, 4}); }

    @Test void channelBroadcastNchw() { check(4, new int[]{2, 3, 2, 2}, new int[]{3, 1, 1}); }

    @Test void smallerFirstOperand() { check(5, new int[]{1, 4}, new int[]{3, 2, 4}); }

    @Test void scalarOperand() { check(6, new int[]{3, 5}, new int[]{}); }
}
