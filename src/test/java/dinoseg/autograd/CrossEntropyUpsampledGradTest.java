package dinoseg.autograd;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Ops.crossEntropyUpsampled: the values and gradients of resizeBilinear then crossEntropy, less memory. */
class CrossEntropyUpsampledGradTest {
    private static final int IGNORE = 255;
    private final Backend be = Backends.cpu();

    private void check(long seed, int b, int k, int h, int w, int oh, int ow, boolean weighted) {
        SplittableRandom rng = new SplittableRandom(seed * 17);
        int[] y = CrossEntropyGradTest.labels(rng, b * oh * ow, k);
        DTensor wd = weighted ? DTensor.uniform(rng, 0.2, 2.0, k) : null;
        Tensor yt = be.fromInts(y, Shape.of(b, oh, ow));
        Tensor wt = wd == null ? null : be.fromFloats(wd.toFloats(), Shape.of(k));
        GradCheck g = GradCheck.of("crossEntropyUpsampled", seed);
        g.input("grid", DTensor.uniform(g.rng(), -3, 3, b, k, h, w), true)
                .run((ops, v) -> ops.crossEntropyUpsampled(v.get(0), oh, ow, yt, wt, IGNORE, null),
                        r -> Ref.crossEntropy(Ref.resizeBilinear(r.get(0), oh, ow), y, wd, IGNORE));
    }

    @Test void upsampledFourteenTimes() { check(1, 2, 4, 3, 2, 42, 28, false); }

    @Test void classWeightsAndRaggedScale() { check(2, 1, 5, 3, 4, 7, 9, true); }

    @Test void sameSizeNeedsNoResize() { check(3, 2, 3, 4, 5, 4, 5, true); }

    /**
     * The saved state between forward and backward is the grid only, where resizeBilinear then
     * crossEntropy keeps the full-size gradient; the logits seen are the upsampled ones, and the
     * loss and grid gradient equal the two-op path's to float rounding.
     */
    @Test
    void keepsOnlyTheGridAndShowsTheUpsampledLogits() {
        SplittableRandom rng = new SplittableRandom(5);
        int b = 2, k = 21, h = 4, w = 4, oh = 56, ow = 56;
        float[] grid = new float[b * k * h * w];
        for (int i = 0; i < grid.length; i++) grid[i] = (float) (rng.nextDouble() * 4 - 2);
        int[] y = CrossEntropyGradTest.labels(rng, b * oh * ow, k);
        Tensor yt = be.fromInts(y, Shape.of(b, oh, ow));
        long fullBytes = 4L * b * k * oh * ow;

        float[] lossTwo, gradTwo;
        long heldTwo;
        try (Ops ops = new Ops(be)) {
            Var x = new Var(be.fromFloats(grid, Shape.of(b, k, h, w)), true);
            Var up = ops.resizeBilinear(x, oh, ow);
            Var loss = ops.crossEntropy(up, yt, null, IGNORE);
            ops.release(up);
            heldTwo = ops.tape.ownedBytes();
            lossTwo = be.toFloats(loss.value());
            ops.backward(loss);
            gradTwo = be.toFloats(x.grad());
        }
        float[][] seen = new float[1][];
        try (Ops ops = new Ops(be)) {
            Var x = new Var(be.fromFloats(grid, Shape.of(b, k, h, w)), true);
            Var loss = ops.crossEntropyUpsampled(x, oh, ow, yt, null, IGNORE, u -> seen[0] = be.toFloats(u));
            long held = ops.tape.ownedBytes();
            assertTrue(held < fullBytes / 10, "held " + held + " bytes, full-size logits are " + fullBytes);
            assertTrue(heldTwo >= fullBytes, "the two-op path keeps the full-size gradient: " + heldTwo);
            assertEquals(lossTwo[0], be.toFloats(loss.value())[0], 1e-6f);
            ops.backward(loss);
            float[] grad = be.toFloats(x.grad());
            for (int i = 0; i < grad.length; i++) assertEquals(gradTwo[i], grad[i], 1e-6f, "grad " + i);
        }
        try (Tensor xt = be.fromFloats(grid, Shape.of(b, k, h, w)); Tensor up = be.empty(Shape.of(b, k, oh, ow))) {
            be.resizeBilinear(xt, up);
            assertArrayEquals(be.toFloats(up), seen[0]);
        }
        // the device confusion counts from the seen logits equal the host's argmax counts
        try (Tensor up = be.fromFloats(seen[0], Shape.of(b, k, oh, ow)); Tensor counts = be.zeros(Shape.of(k, k), DType.I32);
             Tensor pred = be.empty(Shape.of(b, oh, ow), DType.I32)) {
            be.confusionMatrix(up, yt, IGNORE, counts);
            be.argmax(up, pred);
            dinoseg.train.ConfusionMatrix cm = new dinoseg.train.ConfusionMatrix(k);
            cm.add(be.toInts(pred), y, IGNORE);
            int[] c = be.toInts(counts);
            for (int t = 0; t < k; t++)
                for (int p = 0; p < k; p++) assertEquals(cm.get(t, p), c[t * k + p], "cell " + t + "," + p);
        }
    }
}
