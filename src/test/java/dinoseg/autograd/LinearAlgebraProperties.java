package dinoseg.autograd;

import dinoseg.ref.Ref;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/** linear and matmul over random shapes, 1-sized and odd dims included: forward and gradients vs the reference. */
class LinearAlgebraProperties {
    @Property(tries = 30)
    void linear(@ForAll @IntRange(min = 1, max = 3) int b, @ForAll @IntRange(min = 1, max = 5) int n,
                @ForAll @IntRange(min = 1, max = 7) int k, @ForAll @IntRange(min = 1, max = 6) int out,
                @ForAll boolean bias, @ForAll boolean rank3, @ForAll long seed) {
        GradCheck g = GradCheck.of("linear", seed);
        if (rank3) g.input("x", b, n, k); else g.input("x", n, k);
        g.input("w", out, k);
        if (bias) g.input("b", out);
        g.run((ops, v) -> ops.linear(v.get(0), v.get(1), bias ? v.get(2) : null),
                r -> Ref.linear(r.get(0), r.get(1), bias ? r.get(2) : null));
    }

    @Property(tries = 30)
    void matmul(@ForAll @IntRange(min = 1, max = 3) int batch, @ForAll @IntRange(min = 1, max = 5) int m,
                @ForAll @IntRange(min = 1, max = 6) int k, @ForAll @IntRange(min = 1, max = 5) int n,
                @ForAll boolean ta, @ForAll boolean tb, @ForAll boolean shared, @ForAll long seed) {
        int[] as = ta ? new int[]{batch, k, m} : new int[]{batch, m, k};
        int[] b2 = tb ? new int[]{n, k} : new int[]{k, n};
        int[] bs = shared ? b2 : new int[]{batch, b2[0], b2[1]};
        GradCheck.of("matmul", seed).input("a", as).input("b", bs)
                .run((ops, v) -> ops.matmul(v.get(0), ta, v.get(1), tb), r -> Ref.matmul(r.get(0), ta, r.get(1), tb));
    }
}
