package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** permute, concat and slice over random shapes, axes and ranges. */
class LayoutProperties {
    private static int[] arr(List<Integer> l) { return l.stream().mapToInt(Integer::intValue).toArray(); }

    @Property(tries = 30)
    void permute(@ForAll @Size(min = 1, max = 4) List<@IntRange(min = 1, max = 4) Integer> dims, @ForAll long seed) {
        int[] shape = arr(dims);
        SplittableRandom rng = new SplittableRandom(seed);
        int[] perm = new int[shape.length];
        for (int i = 0; i < perm.length; i++) perm[i] = i;
        for (int i = perm.length - 1; i > 0; i--) { int j = rng.nextInt(i + 1); int t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
        GradCheck.of("permute", seed).input("x", shape)
                .run((ops, v) -> ops.permute(v.get(0), perm), r -> Ref.permute(r.get(0), perm));
    }

    @Property(tries = 30)
    void concat(@ForAll @Size(min = 1, max = 3) List<@IntRange(min = 1, max = 4) Integer> dims,
                @ForAll @IntRange(min = 0, max = 2) int axisPick, @ForAll @Size(min = 1, max = 3) List<@IntRange(min = 1, max = 3) Integer> sizes,
                @ForAll boolean negativeAxis, @ForAll long seed) {
        int[] shape = arr(dims);
        int axis = axisPick % shape.length;
        GradCheck g = GradCheck.of("concat", seed);
        for (int i = 0; i < sizes.size(); i++) {
            int[] s = shape.clone();
            s[axis] = sizes.get(i);
            if (i == 1) g.constant("in" + i, s); else g.input("in" + i, s);
        }
        int ax = negativeAxis ? axis - shape.length : axis;
        g.run((ops, v) -> ops.concat(new ArrayList<>(v), ax), r -> Ref.concat(r, axis));
    }

    @Property(tries = 30)
    void slice(@ForAll @Size(min = 1, max = 3) List<@IntRange(min = 1, max = 5) Integer> dims,
               @ForAll @IntRange(min = 0, max = 2) int axisPick, @ForAll @IntRange(min = 0, max = 100) int a,
               @ForAll @IntRange(min = 0, max = 100) int b, @ForAll long seed) {
        int[] shape = arr(dims);
        int axis = axisPick % shape.length, size = shape[axis];
        int start = a % size, len = 1 + b % (size - start);
        GradCheck.of("slice", seed).input("x", shape)
                .run((ops, v) -> ops.slice(v.get(0), axis, start, len), r -> Ref.slice(r.get(0), axis, start, len));
    }

    @Property(tries = 20)
    void reshapeRoundTrip(@ForAll @Size(min = 1, max = 4) List<@IntRange(min = 1, max = 4) Integer> dims, @ForAll long seed) {
        int[] shape = arr(dims);
        int n = DTensor.zeros(shape).numel();
        GradCheck.of("reshape", seed).input("x", shape)
                .run((ops, v) -> ops.reshape(v.get(0), n), r -> Ref.reshape(r.get(0), n));
    }
}
