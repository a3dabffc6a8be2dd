package dinoseg.autograd;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

/**
 * Shapes large enough to take the CPU backend's blocked and multi-threaded paths (GEMM blocks
 * MC 64 / KC 256 / NC 512, attention tiles of 64, parallel loops above ~32k operations) that the
 * small gradient tests never reach. Gradients are checked along random directions.
 */
class LargeShapeGradTest {
    private final Backend be = Backends.cpu();

    private static GradCheck of(String op, long seed) { return GradCheck.of(op, seed).directions(2); }

    @Test
    void linearAcrossAllGemmBlocks() {
        of("linear large", 1).input("x", 2, 40, 300).input("w", 520, 300).input("b", 520)
                .run((ops, v) -> ops.linear(v.get(0), v.get(1), v.get(2)), r -> Ref.linear(r.get(0), r.get(1), r.get(2)));
    }

    @Test
    void matmulTransposedBatchedAndShared() {
        of("matmul large tA tB", 2).input("a", 2, 257, 65).input("b", 2, 513, 257)
                .run((ops, v) -> ops.matmul(v.get(0), true, v.get(1), true), r -> Ref.matmul(r.get(0), true, r.get(1), true));
        of("matmul large shared", 3).input("a", 3, 70, 260).input("b", 260, 90)
                .run((ops, v) -> ops.matmul(v.get(0), false, v.get(1), false), r -> Ref.matmul(r.get(0), false, r.get(1), false));
    }

    @Test
    void attentionAcrossTiles() {
        GradCheck g = of("attention N=130", 4);
        g.input("qkv", DTensor.uniform(g.rng(), -1.5, 1.5, 2, 130, 3 * 2 * 16), true)
                .run((ops, v) -> ops.attention(v.get(0), 2), r -> Ref.attention(r.get(0), 2, 1 / Math.sqrt(16)));
    }

    @Test
    void layerNormManyRows() {
        of("layerNorm large", 5).input("x", 3, 100, 128).input("gamma", 128).input("beta", 128)
                .run((ops, v) -> ops.layerNorm(v.get(0), v.get(1), v.get(2), 1e-6f),
                        r -> Ref.layerNorm(r.get(0), r.get(1), r.get(2), (double) 1e-6f));
    }

    @Test
    void elementwiseAndBroadcastReductions() {
        of("add large broadcast", 6).input("a", 64, 32, 40).input("b", 32, 1)
                .run((ops, v) -> ops.add(v.get(0), v.get(1)), r -> Ref.add(r.get(0), r.get(1)));
        of("mul large broadcast", 7).input("a", 4, 64, 20, 20).input("b", 64, 1, 1)
                .run((ops, v) -> ops.mul(v.get(0), v.get(1)), r -> Ref.mul(r.get(0), r.get(1)));
        GradCheck g = of("gelu large", 8);
        g.input("x", DTensor.uniform(g.rng(), -4, 4, 100, 400), true).run((ops, v) -> ops.gelu(v.get(0)), r -> Ref.gelu(r.get(0)));
        GradCheck s = of("swiglu large", 9);
        s.input("x", DTensor.uniform(s.rng(), -3, 3, 100, 2 * 200), true).run((ops, v) -> ops.swiglu(v.get(0)), r -> Ref.swiglu(r.get(0)));
        of("sum large", 10).input("x", 300, 200).run((ops, v) -> ops.sum(v.get(0)), r -> Ref.sum(r.get(0)));
    }

    @Test
    void crossEntropyManyPixels() {
        SplittableRandom rng = new SplittableRandom(11);
        int b = 2, k = 5, h = 64, w = 64;
        int[] y = CrossEntropyGradTest.labels(rng, b * h * w, k);
        DTensor wts = DTensor.uniform(rng, 0.2, 2, k);
        Tensor yt = be.fromInts(y, Shape.of(b, h, w)), wt = be.fromFloats(wts.toFloats(), Shape.of(k));
        GradCheck g = of("crossEntropy large", 12);
        g.input("logits", DTensor.uniform(g.rng(), -3, 3, b, k, h, w), true)
                .run((ops, v) -> ops.crossEntropy(v.get(0), yt, wt, 255), r -> Ref.crossEntropy(r.get(0), y, wts, 255));
    }

    @Test
    void convolutionsResizeAndBatchNorm() {
        of("conv2d 3x3 large", 13).input("x", 2, 8, 24, 24).input("w", 16, 8, 3, 3).input("b", 16)
                .run((ops, v) -> ops.conv2d(v.get(0), v.get(1), v.get(2), 1, 1), r -> Ref.conv2d(r.get(0), r.get(1), r.get(2), 1, 1));
        of("conv2d 1x1 large", 14).input("x", 2, 64, 16, 16).input("w", 32, 64, 1, 1).input("b", 32)
                .run((ops, v) -> ops.conv2d(v.get(0), v.get(1), v.get(2), 1, 0), r -> Ref.conv2d(r.get(0), r.get(1), r.get(2), 1, 0));
        of("patchEmbed large", 15).input("x", 2, 3, 28, 42).input("w", 24, 3, 14, 14).input("b", 24)
                .run((ops, v) -> ops.patchEmbed(v.get(0), v.get(1), v.get(2), 14), r -> Ref.patchEmbed(r.get(0), r.get(1), r.get(2), 14));
        of("resizeBilinear large", 16).input("x", 2, 3, 40, 50)
                .run((ops, v) -> ops.resizeBilinear(v.get(0), 97, 131), r -> Ref.resizeBilinear(r.get(0), 97, 131));
        Tensor rm = be.zeros(Shape.of(8)), rv = be.full(Shape.of(8), 1f);
        of("batchNorm2d large", 17).input("x", 4, 8, 32, 32).input("gamma", 8).input("beta", 8)
                .run((ops, v) -> ops.batchNorm2d(v.get(0), v.get(1), v.get(2), rm, rv, true, 0.1f, 1e-5f),
                        r -> Ref.batchNorm2d(r.get(0), r.get(1), r.get(2), null, null, true, (double) 1e-5f));
    }

    @Test
    void layoutOpsLarge() {
        of("permute large", 18).input("x", 8, 64, 80)
                .run((ops, v) -> ops.permute(v.get(0), 2, 0, 1), r -> Ref.permute(r.get(0), 2, 0, 1));
        of("concat large", 19).input("a", 2, 1, 384).input("b", 2, 1369, 384)
                .run((ops, v) -> ops.concat(List.of(v.get(0), v.get(1)), 1), r -> Ref.concat(r, 1));
        of("slice large", 20).input("x", 2, 1370, 64)
                .run((ops, v) -> ops.slice(v.get(0), 1, 1, 1369), r -> Ref.slice(r.get(0), 1, 1, 1369));
    }
}
