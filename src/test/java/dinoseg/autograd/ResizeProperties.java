package dinoseg.autograd;

import dinoseg.ref.Ref;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/** Bilinear resize (align_corners=False) between random sizes, up and down, 1 included. */
class ResizeProperties {
    @Property(tries = 30)
    void matchesReference(@ForAll @IntRange(min = 1, max = 2) int b, @ForAll @IntRange(min = 1, max = 2) int c,
                          @ForAll @IntRange(min = 1, max = 8) int h, @ForAll @IntRange(min = 1, max = 8) int w,
                          @ForAll @IntRange(min = 1, max = 12) int oh, @ForAll @IntRange(min = 1, max = 12) int ow,
                          @ForAll long seed) {
        GradCheck.of("resizeBilinear " + h + "x" + w + "->" + oh + "x" + ow, seed).input("x", b, c, h, w)
                .run((ops, v) -> ops.resizeBilinear(v.get(0), oh, ow), r -> Ref.resizeBilinear(r.get(0), oh, ow));
    }
}
