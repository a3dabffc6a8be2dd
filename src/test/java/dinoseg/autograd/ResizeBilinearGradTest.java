package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

class ResizeBilinearGradTest {
    private static void check(long seed, int h, int w, int oh, int ow) {
        GradCheck.of("resizeBilinear " + h + "x" + w + "->" + oh + "x" + ow, seed).input("x", 2, 2, h, w)
                .run((ops, v) -> ops.resizeBilinear(v.get(0), oh, ow), r -> Ref.resizeBilinear(r.get(0), oh, ow));
    }

    @Test void upsampleNonInteger() { check(1, 3, 4, 7, 9); }

    @Test void downsampleNonInteger() { check(2, 8, 6, 3, 4); }

    @Test void upsampleByFourLikeSegmentationLogits() { check(3, 2, 3, 8, 12); }

    @Test void toAndFromOnePixel() {
        check(4, 1, 1, 3, 2);
        check(5, 4, 5, 1, 1);
    }
}
