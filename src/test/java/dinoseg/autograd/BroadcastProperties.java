package dinoseg.autograd;

import dinoseg.ref.Ref;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

import java.util.List;

/** add and mul where one operand broadcasts to the other: random ranks, sizes and 1-dims, either order. */
class BroadcastProperties {
    /**
     * The smaller shape: the big one without its first {@code drop} dims, with the dims picked by
     * {@code ones} (a bit mask) set to 1.
     */
    static int[] smaller(int[] big, int drop, int ones) {
        drop = Math.min(drop, big.length);
        int[] s = new int[big.length - drop];
        for (int i = 0; i < s.length; i++) s[i] = ((ones >> i) & 1) == 1 ? 1 : big[drop + i];
        return s;
    }

    private static int[] arr(List<Integer> l) { return l.stream().mapToInt(Integer::intValue).toArray(); }

    @Property(tries = 30)
    void add(@ForAll @Size(min = 1, max = 4) List<@IntRange(min = 1, max = 4) Integer> dims,
             @ForAll @IntRange(min = 0, max = 4) int drop, @ForAll @IntRange(min = 0, max = 15) int ones,
             @ForAll boolean smallFirst, @ForAll long seed) {
        int[] big = arr(dims), small = smaller(big, drop, ones);
        GradCheck g = GradCheck.of("add", seed);
        if (smallFirst) g.input("small", small).input("big", big); else g.input("big", big).input("small", small);
        g.run((ops, v) -> ops.add(v.get(0), v.get(1)), r -> Ref.add(r.get(0), r.get(1)));
    }

    @Property(tries = 30)
    void mul(@ForAll @Size(min = 1, max = 4) List<@IntRange(min = 1, max = 4) Integer> dims,
             @ForAll @IntRange(min = 0, max = 4) int drop, @ForAll @IntRange(min = 0, max = 15) int ones,
             @ForAll boolean smallFirst, @ForAll long seed) {
        int[] big = arr(dims), small = smaller(big, drop, ones);
        GradCheck g = GradCheck.of("mul", seed);
        if (smallFirst) g.input("small", small).input("big", big); else g.input("big", big).input("small", small);
        g.run((ops, v) -> ops.mul(v.get(0), v.get(1)), r -> Ref.mul(r.get(0), r.get(1)));
    }
}
