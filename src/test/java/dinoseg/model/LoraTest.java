package dinoseg.model;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.checkpoint.LoraFiles;
import dinoseg.checkpoint.StateDicts;
import dinoseg.io.HostTensor;
import dinoseg.nn.Block;
import dinoseg.nn.Linear;
import dinoseg.nn.Mlp;
import dinoseg.nn.Parameter;
import dinoseg.tensor.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** LoRA adapters (PEFT semantics): parameter count, step-0 identity, merge, gradients, files. */
class LoraTest {
    static final Backend BE = Backends.cpu();
    static final BackboneConfig TINY = BackboneConfig.builder("t").embedDim(24).depth(2).heads(2).registers(4).mlpRatio(2.0).layerScaleInit(0.5f).build();
    static final List<String> ALL = List.of("qkv", "proj", "fc1", "fc2");

    private static Dinov2Segmentation model() {
        return Dinov2Segmentation.create(BE, TINY, SegmentationHead.Kind.LINEAR, 3, null, 4);
    }

    private static Var image(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[2 * 3 * 28 * 42];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        return Var.constant(BE.fromFloats(x, Shape.of(2, 3, 28, 42)));
    }

    private static float[] logits(Dinov2Segmentation m, Var img) {
        try (Ops ops = new Ops(BE)) {
            return BE.toFloats(m.forward(ops, img).value());
        }
    }

    private static void randomise(Parameter p, SplittableRandom r, double scale) {
        float[] v = new float[(int) p.value().numel()];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * scale);
        p.setValue(BE.fromFloats(v, p.shape()));
    }

    @Test
    void trainableCountIsRTimesInPlusOutPerTargetPerBlock() {
        int c = 24, hidden = 48, depth = 2;
        for (int r : new int[]{1, 4}) {
            for (List<String> targets : List.of(List.of("qkv"), ALL, List.of("proj", "fc2"))) {
                Dinov2Segmentation m = model();
                long head = m.head.parameterCount(true), total = m.parameterCount(false);
                m.enableLora(new Lora(r, 8, targets), 1);
                long per = 0;
                for (String t : targets) per += switch (t) {
                    case "qkv" -> (long) r * (c + 3 * c);
                    case "proj" -> (long) r * (c + c);
                    case "fc1" -> (long) r * (c + hidden);
                    case "fc2" -> (long) r * (hidden + c);
                    default -> throw new AssertionError(t);
                };
                assertEquals(depth * per, m.backbone.parameterCount(true), "r=" + r + " " + targets);
                assertEquals(depth * per + head, m.parameterCount(true));
                assertEquals(total + depth * per, m.parameterCount(false));
                assertEquals(depth * per, new Lora(r, 8, targets).parameterCount(model().backbone));
                // only lora_* parameters of the backbone train
                for (var e : m.backbone.namedParameters().entrySet())
                    assertEquals(e.getKey().contains(".lora_"), e.getValue().requiresGrad(), e.getKey());
            }
        }
    }

    @Test
    void namesArePeftLike() {
        Dinov2Segmentation m = model();
        m.enableLora(new Lora(2, 4, List.of("qkv")), 1);
        Map<String, Parameter> p = m.backbone.namedParameters();
        assertEquals(Shape.of(2, 24), p.get("blocks.1.attn.qkv.lora_A.weight").shape());
        assertEquals(Shape.of(72, 2), p.get("blocks.1.attn.qkv.lora_B.weight").shape());
        assertFalse(p.containsKey("blocks.1.attn.proj.lora_A.weight"));
        // kaiming_uniform(a=sqrt(5)): U(-1/sqrt(in), 1/sqrt(in)); B zero
        float[] a = BE.toFloats(p.get("blocks.0.attn.qkv.lora_A.weight").value());
        double bound = 1 / Math.sqrt(24), max = 0;
        for (float v : a) max = Math.max(max, Math.abs(v));
        assertTrue(max <= bound && max > 0.5 * bound, "lora_A range " + max);
        for (float v : BE.toFloats(p.get("blocks.0.attn.qkv.lora_B.weight").value())) assertEquals(0f, v);
    }

    @Test
    void stepZeroEqualsTheBaseModel() {
        Var img = image(7);
        float[] base = logits(model(), img);
        Dinov2Segmentation m = model();
        m.enableLora(new Lora(4, 16, ALL), 9);
        assertArrayEquals(base, logits(m, img), 0f);
    }

    @Test
    void mergedEqualsUnmerged(@TempDir Path dir) throws Exception {
        Var img = image(8);
        Dinov2Segmentation m = model();
        Map<String, Linear> layers = m.enableLora(new Lora(3, 6, ALL), 9);
        SplittableRandom r = new SplittableRandom(5);
        for (Linear l : layers.values()) randomise(l.loraB(), r, 0.2);
        float[] unmerged = logits(m, img);
        float[] base = logits(model(), img);
        assertTrue(maxDiff(base, unmerged) > 1e-2, "the adapters change the output");

        // the in-memory merge (what checkpoints hold) ...
        Map<String, HostTensor> merged = StateDicts.merged(m);
        assertTrue(merged.keySet().stream().noneMatch(k -> k.contains("lora_")));
        Dinov2Segmentation plain = model();
        StateDicts.loadStrict(plain, merged, "merged");
        assertTrue(maxDiff(unmerged, logits(plain, img)) <= 1e-5, "merged vs unmerged " + maxDiff(unmerged, logits(plain, img)));

        // ... and the file route (lora.safetensors + base checkpoint, as `lora merge`)
        Path f = dir.resolve("lora.safetensors");
        LoraFiles.save(f, m.backbone, new Lora(3, 6, ALL), "t");
        LoraFiles.Adapter ad = LoraFiles.read(f);
        assertEquals(3, ad.lora().rank());
        assertEquals(6.0, ad.lora().alpha());
        assertEquals(ALL, ad.lora().targets());
        assertEquals(2 * 2 * 4, ad.tensors().size());
        assertTrue(ad.tensors().containsKey("blocks.0.attn.qkv.lora_A.weight"));
        Map<String, HostTensor> baseSd = StateDicts.of(model());
        Dinov2Segmentation plain2 = model();
        StateDicts.loadStrict(plain2, LoraFiles.merge(baseSd, ad, f.toString()), "file merge");
        assertTrue(maxDiff(unmerged, logits(plain2, img)) <= 1e-5);
    }

    private static double maxDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }

    /** Gradients of one adapted Linear against the closed forms in double: gB = s·Rᵀ(xAᵀ), gA = s·BᵀRᵀx, gx = R(W + sBA). */
    @Test
    void linearGradientsMatchClosedForms() {
        int rows = 5, in = 6, out = 7, rank = 3;
        double alpha = 5, s = alpha / rank;
        SplittableRandom rng = new SplittableRandom(2);
        Linear l = new Linear(BE, in, out, true, rng);
        l.addLora(rank, alpha, rng);
        randomise(l.loraB(), rng, 0.5);
        randomise(l.bias, rng, 0.5);
        float[] x = rand(rng, rows * in), R = rand(rng, rows * out);
        float[] w = BE.toFloats(l.weight.value()), a = BE.toFloats(l.loraA().value()), b = BE.toFloats(l.loraB().value()), bias = BE.toFloats(l.bias.value());
        Var xv = new Var(BE.fromFloats(x, Shape.of(rows, in)), true);
        float[] y, gx, ga, gb, gw;
        try (Ops ops = new Ops(BE)) {
            Var yv = l.forward(ops, xv);
            y = BE.toFloats(yv.value());
            ops.backward(ops.sum(ops.mul(yv, Var.constant(BE.fromFloats(R, Shape.of(rows, out))))));
            gx = BE.toFloats(xv.grad());
            ga = BE.toFloats(l.loraA().grad());
            gb = BE.toFloats(l.loraB().grad());
            gw = BE.toFloats(l.weight.grad());
        }
        double[] xa = new double[rows * rank];   // x A^T
        for (int i = 0; i < rows; i++) for (int k = 0; k < rank; k++) for (int j = 0; j < in; j++) xa[i * rank + k] += (double) x[i * in + j] * a[k * in + j];
        for (int i = 0; i < rows; i++) for (int o = 0; o < out; o++) {
            double v = bias[o];
            for (int j = 0; j < in; j++) v += (double) x[i * in + j] * w[o * in + j];
            for (int k = 0; k < rank; k++) v += s * xa[i * rank + k] * b[o * rank + k];
            assertEquals(v, y[i * out + o], 1e-5, "y");
        }
        for (int o = 0; o < out; o++) for (int k = 0; k < rank; k++) {
            double v = 0;
            for (int i = 0; i < rows; i++) v += s * R[i * out + o] * xa[i * rank + k];
            assertEquals(v, gb[o * rank + k], 1e-5, "lora_B grad");
        }
        for (int k = 0; k < rank; k++) for (int j = 0; j < in; j++) {
            double v = 0;
            for (int i = 0; i < rows; i++) for (int o = 0; o < out; o++) v += s * b[o * rank + k] * R[i * out + o] * x[i * in + j];
            assertEquals(v, ga[k * in + j], 1e-5, "lora_A grad");
        }
        for (int i = 0; i < rows; i++) for (int j = 0; j < in; j++) {
            double v = 0;
            for (int o = 0; o < out; o++) {
                double weff = w[o * in + j];
                for (int k = 0; k < rank; k++) weff += s * b[o * rank + k] * a[k * in + j];
                v += R[i * out + o] * weff;
            }
            assertEquals(v, gx[i * in + j], 1e-5, "x grad");
        }
        for (int o = 0; o < out; o++) for (int j = 0; j < in; j++) {
            double v = 0;
            for (int i = 0; i < rows; i++) v += (double) R[i * out + o] * x[i * in + j];
            assertEquals(v, gw[o * in + j], 1e-5, "weight grad");
        }
    }

    /**
     * A block with adapters on every Linear runs unfused: with B = 0 its gradients (input and base
     * weights) equal the fused block's; lora_A gets none (B = 0) and lora_B's matches finite differences.
     */
    @Test
    void blockGradientsMatchFusedBlockAndFiniteDifferences() {
        Block fused = block(), adapted = block();
        SplittableRandom rng = new SplittableRandom(3);
        for (Linear l : List.of(adapted.attn.qkv, adapted.attn.proj, ((Mlp) adapted.mlp).fc1, ((Mlp) adapted.mlp).fc2)) l.addLora(2, 3, rng);
        assertTrue(adapted.hasLora());
        assertFalse(fused.hasLora());
        float[] x = rand(rng, 2 * 5 * 8), R = rand(rng, 2 * 5 * 8);
        float[] gxF = grads(fused, x, R), gxA = grads(adapted, x, R);
        assertTrue(maxDiff(gxF, gxA) <= 1e-5, "input grad " + maxDiff(gxF, gxA));
        for (var e : fused.namedParameters().entrySet()) {
            float[] g1 = BE.toFloats(e.getValue().grad()), g2 = BE.toFloats(adapted.namedParameters().get(e.getKey()).grad());
            assertTrue(maxDiff(g1, g2) <= 1e-5, e.getKey() + " grad " + maxDiff(g1, g2));
        }
        Linear fc1 = ((Mlp) adapted.mlp).fc1;
        for (float v : BE.toFloats(fc1.loraA().grad())) assertEquals(0f, v, "lora_A grad with B = 0");

        // nonzero B everywhere: lora_A and lora_B gradients against central differences of sum(y * R)
        for (Linear l : List.of(adapted.attn.qkv, adapted.attn.proj, fc1, ((Mlp) adapted.mlp).fc2)) randomise(l.loraB(), rng, 0.3);
        adapted.zeroGrad();
        grads(adapted, x, R);
        for (Parameter p : List.of(adapted.attn.qkv.loraA(), adapted.attn.qkv.loraB(), fc1.loraA(), ((Mlp) adapted.mlp).fc2.loraB())) {
            float[] g = BE.toFloats(p.grad()), v = BE.toFloats(p.value());
            for (int idx = 0; idx < v.length; idx += Math.max(1, v.length / 7)) {
                double h = 1e-2, old = v[idx];
                v[idx] = (float) (old + h);
                p.setValue(BE.fromFloats(v, p.shape()));
                double plus = loss(adapted, x, R);
                v[idx] = (float) (old - h);
                p.setValue(BE.fromFloats(v, p.shape()));
                double minus = loss(adapted, x, R);
                v[idx] = (float) old;
                p.setValue(BE.fromFloats(v, p.shape()));
                double num = (plus - minus) / (2 * h);
                assertEquals(num, g[idx], 2e-3 * Math.max(1, Math.abs(num)), "finite differences at " + idx);
            }
        }
    }

    private static Block block() {
        SplittableRandom rng = new SplittableRandom(11);
        return new Block(BE, 8, 2, new Mlp(BE, 8, 16, rng), OptionalDouble.of(0.7), rng);
    }

    private static float[] grads(Block b, float[] x, float[] R) {
        Var xv = new Var(BE.fromFloats(x, Shape.of(2, 5, 8)), true);
        try (Ops ops = new Ops(BE)) {
            Var y = b.forward(ops, xv);
            ops.backward(ops.sum(ops.mul(y, Var.constant(BE.fromFloats(R, Shape.of(2, 5, 8))))));
            return BE.toFloats(xv.grad());
        }
    }

    private static double loss(Block b, float[] x, float[] R) {
        try (Ops ops = new Ops(BE); var s = ops.noGrad()) {
            float[] y = BE.toFloats(b.forward(ops, Var.constant(BE.fromFloats(x, Shape.of(2, 5, 8)))).value());
            double l = 0;
            for (int i = 0; i < y.length; i++) l += (double) y[i] * R[i];
            return l;
        }
    }

    private static float[] rand(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() * 2 - 1);
        return a;
    }

    @Test
    void badRecipesAreOneLine() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new Lora(0, 1, List.of("qkv"))).getMessage().contains("--lora-rank"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new Lora(2, -1, List.of("qkv"))).getMessage().contains("--lora-alpha"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new Lora(2, 1, List.of("qkv", "mlp"))).getMessage().contains("unknown layer 'mlp'"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new Lora(2, 1, List.of("w12")).apply(model().backbone, 0)).getMessage().contains("matches no layer"));
    }
}
