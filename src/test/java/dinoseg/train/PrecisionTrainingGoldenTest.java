package dinoseg.train;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.backend.Precision;
import dinoseg.checkpoint.StateDicts;
import dinoseg.io.HostTensor;
import dinoseg.io.StateDict;
import dinoseg.io.WeightNames;
import dinoseg.model.BackboneConfig;
import dinoseg.model.DinoVisionTransformer;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.Golden;
import dinoseg.model.SegmentationHead;
import dinoseg.nn.Parameter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole training runs against PyTorch (tools/gen_autocast_train_golden.py, golden/train_autocast.safetensors; the data
 * rebuilt from the stored rectangles):
 * the same tiny ViT/14 and linear head, the same weights, data and batch order, AdamW with weight decay on
 * tensors of rank ≥ 2, cross-entropy on upsampled logits, 8 epochs of 4 steps, every parameter trained.
 * <ul>
 *   <li>fp32 follows PyTorch float32 per epoch: validation mIoU within 0.003, losses within 0.2%;</li>
 *   <li>bf16 ({@link Precision#BF16}, dinoseg's autocast) follows {@code torch.autocast("cpu", dtype=torch.bfloat16)}
 *       (logits upsampled in fp32, see the generator) within 1 mIoU point (0.01) per epoch — issue 12's bound —
 *       and its losses within 0.3%; after the first epoch its losses lie on autocast's, three times nearer than
 *       PyTorch's fp32 run lies to them, so a run that ignored the precision fails.</li>
 * </ul>
 */
class PrecisionTrainingGoldenTest {
    private static final int N_TRAIN = 16, N_VALID = 8, SIZE = 56, K = 3, BATCH = 4, IGNORE = 255;
    private static final int[] LAYERS = {1, 2};
    private static final double[][] COLOURS = {{-1.0, -1.0, -1.0}, {1.5, -0.5, -1.0}, {-0.5, 0.5, 1.5}};
    private static final BackboneConfig TINY = BackboneConfig.builder("tiny").embedDim(32).depth(3).heads(2).build();

    private final Backend be = Backends.cpu();

    @AfterEach void restore() { be.setMatmulPrecision(Precision.FP32); }

    /** Per-epoch figures of one run. */
    record Curve(double[] trainLoss, double[] validLoss, double[] validMiou) { }

    @Test
    void fp32FollowsPyTorch() throws Exception {
        StateDict g = Golden.read("train_autocast.safetensors");
        Curve got = train(g, Precision.FP32);
        compare(g, "fp32", got, 0.003, 0.002);
    }

    @Test
    void bf16FollowsPyTorchAutocast() throws Exception {
        StateDict g = Golden.read("train_autocast.safetensors");
        Curve got = train(g, Precision.BF16);
        compare(g, "bf16", got, 0.01, 0.003);
        // bf16's own signature: after one epoch (before the runs' chaos grows) dinoseg's bf16 losses sit on
        // PyTorch's autocast values, much nearer than PyTorch's fp32 run is to them (1.6e-4 and 7e-5 here)
        for (String what : new String[]{"train_loss", "valid_loss"}) {
            double bf = g.get("bf16." + what).data()[0], fp = g.get("fp32." + what).data()[0];
            double mine = what.equals("train_loss") ? got.trainLoss[0] : got.validLoss[0];
            assertTrue(Math.abs(mine - bf) < Math.abs(fp - bf) / 3, String.format(Locale.ROOT,
                    "epoch 1 %s: dinoseg bf16 %.7f, PyTorch autocast %.7f, PyTorch fp32 %.7f", what, mine, bf, fp));
        }
    }

    private static void compare(StateDict g, String tag, Curve got, double miouTol, double lossRel) {
        double[] tl = doubles(g.get(tag + ".train_loss")), vl = doubles(g.get(tag + ".valid_loss")),
                vm = doubles(g.get(tag + ".valid_miou"));
        assertEquals(vm.length, got.validMiou.length, "epochs");
        StringBuilder log = new StringBuilder();
        for (int e = 0; e < vm.length; e++)
            log.append(String.format(Locale.ROOT, "%s epoch %d: train loss %.6f (torch %.6f)  valid loss %.6f (%.6f)  mIoU %.5f (%.5f)%n",
                    tag, e + 1, got.trainLoss[e], tl[e], got.validLoss[e], vl[e], got.validMiou[e], vm[e]));
        System.err.print(log);
        for (int e = 0; e < vm.length; e++) {
            assertEquals(vm[e], got.validMiou[e], miouTol, tag + " valid mIoU, epoch " + (e + 1) + "\n" + log);
            assertEquals(tl[e], got.trainLoss[e], lossRel * tl[e], tag + " train loss, epoch " + (e + 1) + "\n" + log);
            assertEquals(vl[e], got.validLoss[e], lossRel * vl[e], tag + " valid loss, epoch " + (e + 1) + "\n" + log);
        }
        // the run learned: the curves above are not a flat line that any run would match
        assertTrue(vm[vm.length - 1] > vm[0] + 0.2, "the golden run learns");
    }

    private Curve train(StateDict g, Precision precision) {
        be.setMatmulPrecision(precision);
        DinoVisionTransformer bb = new DinoVisionTransformer(be, TINY, 1);
        StateDicts.loadStrict(bb, WeightNames.withoutPrefix(g.tensors(), "backbone."), "train_autocast backbone");
        Dinov2Segmentation m = new Dinov2Segmentation(bb, SegmentationHead.Kind.LINEAR, K, LAYERS, 2);
        StateDicts.loadStrict(m.head, WeightNames.withoutPrefix(g.tensors(), "head."), "train_autocast head");
        m.setFineTune(true);
        List<Parameter> decay = new ArrayList<>(), noDecay = new ArrayList<>();
        for (Parameter p : m.namedParameters().values()) (p.rank() >= 2 ? decay : noDecay).add(p);
        AdamW opt = new AdamW(be, List.of(new AdamW.ParamGroup("decay", decay, 3e-3, 0.05),
                new AdamW.ParamGroup("no_decay", noDecay, 3e-3, 0.0)));

        int[] labels = labels(ints(g.get("data.rects")));
        float[] images = images(labels);
        int[] order = ints(g.get("order"));
        int epochs = order.length / N_TRAIN;
        Curve c = new Curve(new double[epochs], new double[epochs], new double[epochs]);
        for (int e = 0; e < epochs; e++) {
            m.train(true);
            double lossSum = 0;
            long pixels = 0;
            for (int s = 0; s < N_TRAIN; s += BATCH) {
                int[] idx = new int[BATCH];
                for (int i = 0; i < BATCH; i++) idx[i] = order[e * N_TRAIN + s + i];
                FeedBatch fb = batch(images, labels, idx);
                opt.zeroGrad();
                Ops ops = new Ops(be);
                // the trainer's fused upsample + cross-entropy against PyTorch's F.interpolate + F.cross_entropy
                Var loss = ops.crossEntropyUpsampled(m.head.forward(ops, fb.headInput(m, ops)), SIZE, SIZE, fb.labelTensor(be), null, IGNORE, null);
                ops.backward(loss);
                opt.step();
                long counted = fb.counted(K, IGNORE);
                lossSum += be.toFloats(loss.value())[0] * (double) counted;
                pixels += counted;
            }
            c.trainLoss[e] = lossSum / pixels;
            List<FeedBatch> valid = new ArrayList<>();
            for (int s = N_TRAIN; s < N_TRAIN + N_VALID; s += BATCH) valid.add(batch(images, labels, new int[]{s, s + 1, s + 2, s + 3}));
            Evaluator.Result r = Evaluator.evaluate(m, be, valid.iterator(), valid.size(), IGNORE, null, "valid");
            c.validLoss[e] = r.loss();
            c.validMiou[e] = r.miou();
        }
        return c;
    }

    /** The generator's labels(): per image a class-1 then a class-2 rectangle (top, left, h, w; clipped) on class 0, a 2-pixel ignored border. */
    private static int[] labels(int[] rects) {
        int n = rects.length / 8;
        int[] y = new int[n * SIZE * SIZE];
        for (int b = 0; b < n; b++) {
            for (int c = 0; c < 2; c++) {
                int o = (b * 2 + c) * 4, top = rects[o], left = rects[o + 1], h = rects[o + 2], w = rects[o + 3];
                for (int i = top; i < Math.min(SIZE, top + h); i++)
                    for (int j = left; j < Math.min(SIZE, left + w); j++) y[(b * SIZE + i) * SIZE + j] = c + 1;
            }
            for (int i = 0; i < SIZE; i++)
                for (int j = 0; j < SIZE; j++)
                    if (i < 2 || j < 2 || i >= SIZE - 2 || j >= SIZE - 2) y[(b * SIZE + i) * SIZE + j] = IGNORE;
        }
        return y;
    }

    /** The generator's closed form: colour[label][c] + 0.5 sin(1.3 j + 2.1 i + 0.7 c + 3.1 b), ignored pixels as background. */
    private static float[] images(int[] labels) {
        int n = labels.length / (SIZE * SIZE);
        float[] x = new float[n * 3 * SIZE * SIZE];
        for (int b = 0; b < n; b++)
            for (int c = 0; c < 3; c++)
                for (int i = 0; i < SIZE; i++)
                    for (int j = 0; j < SIZE; j++) {
                        int l = labels[(b * SIZE + i) * SIZE + j];
                        if (l == IGNORE) l = 0;
                        x[((b * 3 + c) * SIZE + i) * SIZE + j] = (float) (COLOURS[l][c] + 0.5 * Math.sin(1.3 * j + 2.1 * i + 0.7 * c + 3.1 * b));
                    }
        return x;
    }

    private static FeedBatch batch(float[] images, int[] labels, int[] idx) {
        int img = 3 * SIZE * SIZE, lab = SIZE * SIZE;
        float[] x = new float[idx.length * img];
        int[] y = new int[idx.length * lab];
        for (int i = 0; i < idx.length; i++) {
            System.arraycopy(images, idx[i] * img, x, i * img, img);
            System.arraycopy(labels, idx[i] * lab, y, i * lab, lab);
        }
        return new FeedBatch(x, y, idx.length, SIZE, SIZE, null, null);
    }

    private static int[] ints(HostTensor t) {
        float[] d = t.data();
        int[] r = new int[d.length];
        for (int i = 0; i < d.length; i++) r[i] = Math.round(d[i]);
        return r;
    }

    private static double[] doubles(HostTensor t) {
        float[] d = t.data();
        double[] r = new double[d.length];
        for (int i = 0; i < d.length; i++) r[i] = d[i];
        return r;
    }
}
