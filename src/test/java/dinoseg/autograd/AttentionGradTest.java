package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

class AttentionGradTest {
    private static void check(long seed, int b, int n, int heads, int d) {
        GradCheck g = GradCheck.of("attention B=" + b + " N=" + n + " H=" + heads + " D=" + d, seed);
        g.input("qkv", DTensor.uniform(g.rng(), -1.5, 1.5, b, n, 3 * heads * d), true)
                .run((ops, v) -> ops.attention(v.get(0), heads), r -> Ref.attention(r.get(0), heads, 1 / Math.sqrt(d)));
    }

    @Test void twoHeads() { check(1, 2, 5, 2, 3); }

    @Test void singleToken() { check(2, 1, 1, 2, 4); }

    @Test void oneHeadOddTokens() { check(3, 1, 7, 1, 5); }
}
