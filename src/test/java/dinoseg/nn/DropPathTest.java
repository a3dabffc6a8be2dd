package dinoseg.nn;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.model.BackboneConfig;
import dinoseg.model.DinoVisionTransformer;
import dinoseg.tensor.Shape;
import org.junit.jupiter.api.Test;

import java.util.OptionalDouble;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Stochastic depth (--drop-path): identity in eval, exact per-sample 0 or 1/(1-p) in training, gradients through the mask. */
class DropPathTest {
    static final Backend BE = Backends.cpu();
    static final int B = 6, N = 5, C = 8;

    private static Block block() {
        SplittableRandom rng = new SplittableRandom(3);
        return new Block(BE, C, 2, new Mlp(BE, C, 16, rng), OptionalDouble.of(1.0), rng);
    }

    private static float[] input(long seed) {
        float[] x = new float[B * N * C];
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    private static Var var(float[] x, boolean grad) {
        return grad ? new Parameter(BE.fromFloats(x, Shape.of(B, N, C))) : Var.constant(BE.fromFloats(x, Shape.of(B, N, C)));
    }

    private static float[] forward(Block b, float[] x) {
        try (Ops ops = new Ops(BE)) {
            return BE.toFloats(b.forward(ops, var(x, false)).value());
        }
    }

    @Test
    void evalIsTheIdentityAndRateZeroIsTooInTraining() {
        float[] x = input(1);
        Block plain = block(), dropped = block();
        float[] ref = forward(plain, x);
        dropped.setDropPath(0.9);
        dropped.setDropPathKey(12345);
        dropped.train(false);
        assertArrayEquals(ref, forward(dropped, x), 0f, "eval: no path is dropped or scaled");
        dropped.train(true);
        assertFalse(java.util.Arrays.equals(ref, forward(dropped, x)), "training with p=0.9 drops paths");
        dropped.setDropPath(0);
        assertArrayEquals(ref, forward(dropped, x), 0f);
    }

    /** Training output, per sample, is x + f1·attn(x), x1 + f2·ffn(x1) with the factors the key draws: each 0 or exactly 1/(1-p). */
    @Test
    void trainingScalesEachSamplesBranchesByItsFactor() {
        double p = 0.4;
        Block b = block();
        b.setDropPath(p);
        b.setDropPathKey(77);
        float[] f1 = Block.dropPathFactors(B, p, b.branchKey(0)), f2 = Block.dropPathFactors(B, p, b.branchKey(1));
        boolean someDropped = false, someKept = false;
        for (float[] f : new float[][]{f1, f2})
            for (float v : f) {
                assertTrue(v == 0f || v == (float) (1 / (1 - p)), "factor " + v);
                someDropped |= v == 0;
                someKept |= v != 0;
            }
        assertTrue(someDropped && someKept, "this key draws both (else pick another key)");
        float[] x = input(2);
        float[] y = forward(b, x);
        float[] expect = new float[x.length];
        try (Ops ops = new Ops(BE)) {
            Var xv = var(x, false);
            float[] a = BE.toFloats(b.attentionBranch(ops, xv).value());
            float[] x1 = new float[x.length];
            for (int i = 0; i < x.length; i++) x1[i] = x[i] + f1[i / (N * C)] * a[i];
            float[] m = BE.toFloats(b.feedForwardBranch(ops, var(x1, false)).value());
            for (int i = 0; i < x.length; i++) expect[i] = x1[i] + f2[i / (N * C)] * m[i];
        }
        assertArrayEquals(expect, y, 1e-5f);
        for (int s = 0; s < B; s++)
            if (f1[s] == 0 && f2[s] == 0)
                for (int i = s * N * C; i < (s + 1) * N * C; i++) assertEquals(x[i], y[i], 0f, "both paths dropped: the sample passes through");
        // same key, same masks; another key, other masks
        assertArrayEquals(y, forward(b, x), 0f);
        b.setDropPathKey(78);
        assertFalse(java.util.Arrays.equals(y, forward(b, x)));
    }

    @Test
    void factorsKeepWithProbabilityOneMinusPAndHaveMeanOne() {
        double p = 0.3;
        int n = 200_000;
        float[] f = Block.dropPathFactors(n, p, 5);
        double kept = 0, sum = 0;
        for (float v : f) { if (v != 0) kept++; sum += v; }
        assertEquals(1 - p, kept / n, 0.005, "keep rate");
        assertEquals(1.0, sum / n, 0.01, "E[factor] = 1: the expected branch is unchanged");
        assertThrows(IllegalArgumentException.class, () -> block().setDropPath(1));
        assertThrows(IllegalArgumentException.class, () -> block().setDropPath(-0.1));
    }

    /**
     * Gradients through the masks: the fc2 bias enters the second branch once per token (LayerScale 1),
     * so d sum(w · out) / d bias_c = Σ_b f2_b Σ_n w[b,n,c] exactly; and the input gradient matches central
     * differences.
     */
    @Test
    void gradientsFollowTheMask() {
        double p = 0.5;
        Block b = block();
        b.setDropPath(p);
        b.setDropPathKey(9);
        float[] f2 = Block.dropPathFactors(B, p, b.branchKey(1));
        float[] x = input(3), w = input(4);
        Mlp mlp = (Mlp) b.mlp;
        float[] gx;
        try (Ops ops = new Ops(BE)) {
            Var xv = var(x, true);
            Var y = b.forward(ops, xv);
            ops.backward(ops.sum(ops.mul(y, var(w, false))));
            gx = BE.toFloats(xv.grad());
            float[] gb = BE.toFloats(mlp.fc2.bias.grad());
            for (int c = 0; c < C; c++) {
                double e = 0;
                for (int s = 0; s < B; s++) for (int t = 0; t < N; t++) e += f2[s] * w[(s * N + t) * C + c];
                assertEquals(e, gb[c], 1e-4 * Math.max(1, Math.abs(e)), "bias grad " + c);
            }
        }
        b.zeroGrad();
        double h = 1e-2;
        for (int i = 0; i < x.length; i += 7) {
            float[] xp = x.clone(), xm = x.clone();
            xp[i] += (float) h;
            xm[i] -= (float) h;
            double num = (dot(forward(b, xp), w) - dot(forward(b, xm), w)) / (2 * h);
            assertEquals(num, gx[i], 2e-2 * Math.max(1, Math.abs(num)), "d/dx[" + i + "]");
        }
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (double) a[i] * b[i];
        return s;
    }

    @Test
    void ratesIncreaseLinearlyOverDepth() {
        DinoVisionTransformer vit = new DinoVisionTransformer(BE, BackboneConfig.builder("t").embedDim(16).depth(5).heads(2).posGrid(2).build(), 1);
        vit.setDropPath(0.2);
        for (int i = 0; i < 5; i++) assertEquals(0.2 * i / 4, vit.blocks.get(i).dropPath(), 1e-15, "block " + i);
        assertThrows(IllegalArgumentException.class, () -> vit.setDropPath(1.0));
    }
}
