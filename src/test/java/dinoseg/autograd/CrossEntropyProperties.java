package dinoseg.autograd;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Cross-entropy on label maps with ignored pixels (ignore index, out-of-range labels). */
class CrossEntropyProperties {
    private static final int IGNORE = 255;
    private final Backend be = Backends.cpu();

    @Property(tries = 30)
    void allIgnoredGivesZeroLossAndZeroGrad(@ForAll @IntRange(min = 1, max = 3) int b, @ForAll @IntRange(min = 1, max = 5) int k,
                                            @ForAll @IntRange(min = 1, max = 5) int h, @ForAll @IntRange(min = 1, max = 5) int w,
                                            @ForAll boolean weighted, @ForAll long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int[] y = new int[b * h * w];
        for (int i = 0; i < y.length; i++) y[i] = switch (rng.nextInt(3)) { case 0 -> IGNORE; case 1 -> -1; default -> k + rng.nextInt(3); };
        Ops ops = new Ops(be);
        Var logits = new Var(be.fromFloats(DTensor.uniform(rng, -3, 3, b, k, h, w).toFloats(), Shape.of(b, k, h, w)), true);
        Tensor wt = weighted ? be.fromFloats(DTensor.uniform(rng, 0.5, 2, k).toFloats(), Shape.of(k)) : null;
        Var loss = ops.crossEntropy(logits, be.fromInts(y, Shape.of(b, h, w)), wt, IGNORE);
        assertEquals(0f, be.toFloats(loss.value())[0], 0f);
        ops.backward(loss);
        for (float g : be.toFloats(logits.grad())) assertEquals(0f, g, 0f);
    }

    @Property(tries = 30)
    void partlyIgnoredEqualsReferenceOverKeptPixels(@ForAll @IntRange(min = 1, max = 3) int b, @ForAll @IntRange(min = 1, max = 5) int k,
                                                    @ForAll @IntRange(min = 1, max = 4) int h, @ForAll @IntRange(min = 1, max = 4) int w,
                                                    @ForAll @IntRange(min = 0, max = 90) int ignorePercent,
                                                    @ForAll boolean weighted, @ForAll long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int n = b * h * w;
        int[] y = new int[n];
        for (int i = 0; i < n; i++) y[i] = rng.nextInt(100) < ignorePercent ? IGNORE : rng.nextInt(k);
        y[rng.nextInt(n)] = rng.nextInt(k); // at least one kept pixel
        DTensor wts = weighted ? DTensor.uniform(rng, 0.5, 2, k) : null;
        Tensor wt = wts == null ? null : be.fromFloats(wts.toFloats(), Shape.of(k));
        Tensor yt = be.fromInts(y, Shape.of(b, h, w));
        GradCheck g = GradCheck.of("crossEntropy", seed);
        g.input("logits", DTensor.uniform(g.rng(), -3, 3, b, k, h, w), true);
        g.run((ops, v) -> ops.crossEntropy(v.get(0), yt, wt, IGNORE), r -> Ref.crossEntropy(r.get(0), y, wts, IGNORE));

        // the same number from only the kept pixels, gathered into [M, K] with no ignore at all
        DTensor lg = g.value("logits");
        int m = 0;
        for (int v : y) if (v != IGNORE) m++;
        DTensor kept = DTensor.zeros(m, k);
        int[] ky = new int[m];
        int j = 0, hw = h * w;
        for (int i = 0; i < n; i++) {
            if (y[i] == IGNORE) continue;
            int bi = i / hw, p = i % hw;
            for (int c = 0; c < k; c++) kept.data[j * k + c] = lg.data[(bi * k + c) * hw + p];
            ky[j++] = y[i];
        }
        double want = Ref.crossEntropy(kept, ky, wts, -100).data[0];
        Ops ops = new Ops(be);
        Var logits = new Var(be.fromFloats(lg.toFloats(), Shape.of(b, k, h, w)), true);
        Var loss = ops.crossEntropy(logits, yt, wt, IGNORE);
        assertEquals(want, be.toFloats(loss.value())[0], 1e-5 * Math.max(1, Math.abs(want)));
        ops.backward(loss);
        float[] gl = be.toFloats(logits.grad());
        for (int i = 0; i < n; i++) {
            if (y[i] != IGNORE) continue;
            int bi = i / hw, p = i % hw;
            for (int c = 0; c < k; c++) assertEquals(0f, gl[(bi * k + c) * hw + p], 0f, "gradient at an ignored pixel");
        }
    }
}
