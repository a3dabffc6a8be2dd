package dinoseg.nn;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.tensor.Shape;
import org.junit.jupiter.api.Test;

import java.util.OptionalDouble;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** LayerScale in a block is explicit: present with its initial value, or absent (the official init_values=None). */
class BlockTest {
    static final Backend BE = Backends.cpu();

    private static Block block(OptionalDouble ls) {
        SplittableRandom rng = new SplittableRandom(3);
        return new Block(BE, 8, 2, new Mlp(BE, 8, 16, rng), ls, rng);
    }

    private static float[] forward(Block b, float[] x) {
        return BE.toFloats(b.forward(new Ops(BE), Var.constant(BE.fromFloats(x, Shape.of(1, 5, 8)))).value());
    }

    @Test
    void layerScaleIsPresentWithItsValueOrAbsent() {
        Block none = block(OptionalDouble.empty()), one = block(OptionalDouble.of(1.0)), half = block(OptionalDouble.of(0.5));
        assertNull(none.ls1);
        assertFalse(none.namedParameters().containsKey("ls1.gamma"));
        assertTrue(one.namedParameters().containsKey("ls2.gamma"));
        assertArrayEquals(new float[]{0.5f, 0.5f}, java.util.Arrays.copyOf(BE.toFloats(half.ls1.gamma.value()), 2));
        float[] x = new float[40];
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        // same weights (same seed): LayerScale 1 is the identity, 0.5 is not
        assertArrayEquals(forward(none, x), forward(one, x), 0f);
        assertFalse(java.util.Arrays.equals(forward(none, x), forward(half, x)));
    }
}
