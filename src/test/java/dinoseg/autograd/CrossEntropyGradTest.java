package dinoseg.autograd;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

class CrossEntropyGradTest {
    private static final int IGNORE = 255;
    private final Backend be = Backends.cpu();

    /** Labels in [0, k) with about a quarter set to IGNORE and one out of range (also ignored). */
    static int[] labels(SplittableRandom rng, int n, int k) {
        int[] y = new int[n];
        for (int i = 0; i < n; i++) y[i] = rng.nextInt(4) == 0 ? IGNORE : rng.nextInt(k);
        if (n > 2) y[1] = k + 3;
        return y;
    }

    private void check(long seed, int[] logitShape, boolean weighted) {
        SplittableRandom rng = new SplittableRandom(seed * 31);
        int k = logitShape[1];
        int[] ls = new int[logitShape.length - 1];
        ls[0] = logitShape[0];
        for (int i = 2; i < logitShape.length; i++) ls[i - 1] = logitShape[i];
        int n = 1;
        for (int d : ls) n *= d;
        int[] y = labels(rng, n, k);
        DTensor w = weighted ? DTensor.uniform(rng, 0.2, 2.0, k) : null;
        Tensor yt = be.fromInts(y, Shape.of(ls));
        Tensor wt = w == null ? null : be.fromFloats(w.toFloats(), Shape.of(k));
        GradCheck g = GradCheck.of("crossEntropy", seed);
        g.input("logits", DTensor.uniform(g.rng(), -3, 3, logitShape), true)
                .run((ops, v) -> ops.crossEntropy(v.get(0), yt, wt, IGNORE), r -> Ref.crossEntropy(r.get(0), y, w, IGNORE));
    }

    @Test void segmentationMapsWithIgnore() { check(1, new int[]{2, 4, 3, 3}, false); }

    @Test void classWeights() { check(2, new int[]{2, 5, 2, 3}, true); }

    @Test void plainClassification() { check(3, new int[]{6, 3}, true); }
}
