package dinoseg.train;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.nn.Block;
import dinoseg.nn.LayerNorm;
import dinoseg.nn.Linear;
import dinoseg.nn.Mlp;
import dinoseg.nn.Parameter;
import dinoseg.nn.PatchEmbed;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * End to end: a tiny transformer (PatchEmbed, one pre-norm Block, LayerNorm, Linear head) trained
 * with AdamW on a toy segmentation: every 2x2 patch of an 8x8 image is painted with one of four
 * colours plus pixel noise, and each token must be classified by its colour. The loss must fall by
 * at least 10x.
 */
class TinyTransformerLearningTest {
    private static final int K = 4, P = 2, GRID = 4, IMG = P * GRID, DIM = 16, B = 8;
    private static final float[][] COLOURS = {{1, -1, -1}, {-1, 1, -1}, {-1, -1, 1}, {1, 1, 1}};
    private final Backend be = Backends.cpu();

    private static final class Net {
        final PatchEmbed embed;
        final Block block;
        final LayerNorm norm;
        final Linear head;

        Net(Backend be, SplittableRandom rng) {
            embed = new PatchEmbed(be, 3, DIM, P, rng);
            block = new Block(be, DIM, 2, new Mlp(be, DIM, 4 * DIM, rng), java.util.OptionalDouble.of(1.0), rng);
            norm = new LayerNorm(be, DIM, 1e-6f);
            head = new Linear(be, DIM, K, true, rng);
        }

        /** Per-token logits laid out [B, K, N] for the cross-entropy. */
        Var forward(Ops ops, Var images) {
            Var t = embed.forward(ops, images);
            t = block.forward(ops, t);
            t = head.forward(ops, norm.forward(ops, t));
            return ops.permute(t, 0, 2, 1);
        }

        List<Parameter> all() {
            List<Parameter> ps = new ArrayList<>();
            for (var m : List.of(embed, block, norm, head)) ps.addAll(m.namedParameters().values());
            return ps;
        }
    }

    @Test
    void lossFallsTenfold() {
        SplittableRandom rng = new SplittableRandom(1234);
        float[] img = new float[B * 3 * IMG * IMG];
        int[] labels = new int[B * GRID * GRID];
        for (int b = 0; b < B; b++)
            for (int gy = 0; gy < GRID; gy++)
                for (int gx = 0; gx < GRID; gx++) {
                    int cls = rng.nextInt(K);
                    labels[(b * GRID + gy) * GRID + gx] = cls;
                    for (int c = 0; c < 3; c++)
                        for (int y = 0; y < P; y++)
                            for (int x = 0; x < P; x++)
                                img[((b * 3 + c) * IMG + gy * P + y) * IMG + gx * P + x] = COLOURS[cls][c] + (float) (0.4 * (rng.nextDouble() - 0.5));
                }
        Var images = Var.constant(be.fromFloats(img, Shape.of(B, 3, IMG, IMG)));
        Tensor y = be.fromInts(labels, Shape.of(B, GRID * GRID));

        Net net = new Net(be, rng);
        List<Parameter> decay = new ArrayList<>(), noDecay = new ArrayList<>();
        for (Parameter p : net.all()) (p.rank() >= 2 ? decay : noDecay).add(p);
        AdamW opt = new AdamW(be, List.of(new AdamW.ParamGroup("decay", decay, 1e-2, 0.01),
                new AdamW.ParamGroup("no_decay", noDecay, 1e-2, 0.0)));

        Ops ops = new Ops(be);
        float first = Float.NaN, last = Float.NaN;
        int steps = 120;
        for (int s = 0; s < steps; s++) {
            opt.scaleBaseLrs(Math.min(1.0, (s + 1) / 10.0)); // short warmup, as the trainer's schedule does
            opt.zeroGrad();
            Var loss = ops.crossEntropy(net.forward(ops, images), y, null, 255);
            ops.backward(loss);
            opt.step();
            float l = be.toFloats(loss.value())[0];
            if (s == 0) first = l;
            last = l;
            assertTrue(Float.isFinite(l), "loss at step " + s + " is " + l);
        }
        // every trainable parameter took part
        for (Map.Entry<String, Parameter> e : net.block.namedParameters().entrySet())
            assertTrue(e.getValue().grad() != null, "no gradient reached block." + e.getKey());
        System.err.printf("tiny transformer: loss %.4f -> %.5f in %d steps%n", first, last, steps);
        assertTrue(last < first / 10, "loss fell only from " + first + " to " + last);
    }
}
