package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/**
 * Fused attention for token counts that are not multiples of any block size (1..70), random heads
 * and head widths: the forward against the reference, the gradient along random directions.
 */
class AttentionProperties {
    @Property(tries = 30)
    void matchesReference(@ForAll @IntRange(min = 1, max = 2) int b, @ForAll @IntRange(min = 1, max = 70) int n,
                          @ForAll @IntRange(min = 1, max = 3) int heads, @ForAll @IntRange(min = 1, max = 8) int d,
                          @ForAll long seed) {
        GradCheck g = GradCheck.of("attention B=" + b + " N=" + n + " H=" + heads + " D=" + d, seed).directions(3);
        g.input("qkv", DTensor.uniform(g.rng(), -2, 2, b, n, 3 * heads * d), true)
                .run((ops, v) -> ops.attention(v.get(0), heads), r -> Ref.attention(r.get(0), heads, 1 / Math.sqrt(d)));
    }
}
