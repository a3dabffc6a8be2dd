package dinoseg.backend.cpu;

import dinoseg.backend.MatrixView;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Weight prepacking ({@link CpuBackend#setPrepack}): a linear weight read unchanged
 * {@link CpuStorage#PACK_AFTER_READS} times is packed once, products with the packed copy have the
 * bits of the unpacked ones, and any op that may write the weight drops the copy.
 */
class CpuPrepackTest {

    @BeforeAll static void vectorKernel() {
        assertTrue(CpuGemm.VECTOR_AVAILABLE, "the tests run with --add-modules jdk.incubator.vector");
    }

    private static float[] randn(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() * 2 - 1);
        return a;
    }

    /** y = alpha·op(x)·wᵀ + beta·y0 through be.gemm, B = w [n, k] transposed as a linear layer reads it. */
    private static float[] product(CpuBackend be, Tensor x, boolean transA, Tensor w, int m, int n, int k,
                                   float alpha, float beta, float[] y0) {
        try (Tensor y = be.fromFloats(y0, Shape.of(m, n))) {
            be.gemm(m, n, k, alpha, MatrixView.of(x, transA ? m : k).t(transA), MatrixView.of(w, k).t(), beta, MatrixView.of(y, n), 1);
            return be.toFloats(y);
        }
    }

    @Test void packedProductsHaveTheBitsOfUnpackedOnes() {
        CpuBackend packed = new CpuBackend(true), plain = new CpuBackend(true);
        plain.setPrepack(false);
        packed.setPrepack(true);
        SplittableRandom r = new SplittableRandom(3);
        // {m, n, k}: ViT-S/14 shapes at 224 (257 tokens), partial micro-panels in m and n, k over two
        // slabs and under one, a product too small to split, a row count under the packed path's minimum
        int[][] shapes = {{257, 384, 384}, {257, 1536, 384}, {257, 384, 1536}, {50, 33, 300}, {101, 100, 600},
                {30, 64, 5}, {7, 48, 20}, {2117, 64, 384}};
        for (int[] sh : shapes) {
            int m = sh[0], n = sh[1], k = sh[2];
            for (boolean transA : new boolean[] {false, true})
                for (float[] ab : new float[][] {{1f, 0f}, {0.5f, 1f}}) {
                    float[] xs = randn(r, m * k), ws = randn(r, n * k), y0 = randn(r, m * n);
                    try (Tensor x = packed.fromFloats(xs, Shape.of(m * k)); Tensor w = packed.fromFloats(ws, Shape.of(n, k));
                         Tensor px = plain.fromFloats(xs, Shape.of(m * k)); Tensor pw = plain.fromFloats(ws, Shape.of(n, k))) {
                        float[] want = product(plain, px, transA, pw, m, n, k, ab[0], ab[1], y0);
                        String what = m + "x" + n + "x" + k + (transA ? " transA" : "") + " alpha " + ab[0] + " beta " + ab[1];
                        for (int use = 1; use <= CpuStorage.PACK_AFTER_READS + 1; use++) {
                            assertArrayEquals(want, product(packed, x, transA, w, m, n, k, ab[0], ab[1], y0), what + ", use " + use);
                            boolean expect = use >= CpuStorage.PACK_AFTER_READS && VectorGemm.packedBFits(m);
                            assertTrue(CpuStorage.hasLinearPack(w) == expect, what + ": packed after use " + use + " should be " + expect);
                        }
                        assertFalse(CpuStorage.hasLinearPack(pw), "prepacking off packs nothing");
                    }
                }
        }
    }

    /** Packs w [n, k] by reading it as a linear weight until it is packed; returns x [m, k] used. */
    private static Tensor packUp(CpuBackend be, Tensor w, int m, int n, int k, SplittableRandom r) {
        Tensor x = be.fromFloats(randn(r, m * k), Shape.of(m * k));
        for (int i = 0; i < CpuStorage.PACK_AFTER_READS; i++) product(be, x, false, w, m, n, k, 1f, 0f, new float[m * n]);
        assertTrue(CpuStorage.hasLinearPack(w), "packed after " + CpuStorage.PACK_AFTER_READS + " unchanged reads");
        return x;
    }

    @Test void everyOpThatWritesTheWeightDropsItsPack() {
        CpuBackend be = new CpuBackend(true);
        be.setPrepack(true);
        SplittableRandom r = new SplittableRandom(5);
        int m = 64, n = 96, k = 80;
        float[] other = randn(r, n * k);
        // each op leaves w holding new values; the next product must use them
        java.util.Map<String, Consumer<Tensor>> writers = new java.util.LinkedHashMap<>();
        writers.put("copy", w -> { try (Tensor s = be.fromFloats(other, Shape.of(n, k))) { be.copy(s, w); } });
        writers.put("writeFloats", w -> be.writeFloats(other, 0, w, 7, 100));
        writers.put("fill", w -> be.fill(w, 0.25f));
        writers.put("scale", w -> be.scale(w, -2f, w));
        writers.put("axpy", w -> { try (Tensor s = be.fromFloats(other, Shape.of(n, k))) { be.axpy(0.5f, s, w); } });
        writers.put("adamw", w -> {
            try (Tensor g = be.fromFloats(other, Shape.of(n, k)); Tensor m1 = be.zeros(Shape.of(n, k)); Tensor v = be.zeros(Shape.of(n, k))) {
                be.adamw(w, g, m1, v, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.05f, 1);
            }
        });
        writers.put("gemm into it", w -> {
            try (Tensor s = be.fromFloats(other, Shape.of(n, k))) {
                be.gemm(n, k, 1, 1f, MatrixView.of(s, k), MatrixView.of(s, k), 1f, MatrixView.of(w, k), 1);
            }
        });
        for (var e : writers.entrySet()) {
            try (Tensor w = be.fromFloats(randn(r, n * k), Shape.of(n, k)); Tensor x = packUp(be, w, m, n, k, r)) {
                e.getValue().accept(w);
                assertFalse(CpuStorage.hasLinearPack(w), e.getKey() + " keeps a stale pack");
                float[] now = be.toFloats(w);
                CpuBackend plain = new CpuBackend(true);
                plain.setPrepack(false);
                try (Tensor pw = plain.fromFloats(now, Shape.of(n, k)); Tensor px = plain.fromFloats(be.toFloats(x), Shape.of(m * k))) {
                    assertArrayEquals(product(plain, px, false, pw, m, n, k, 1f, 0f, new float[m * n]),
                            product(be, x, false, w, m, n, k, 1f, 0f, new float[m * n]), "product after " + e.getKey());
                }
            }
        }
    }

    @Test void aWeightWrittenBetweenReadsIsNeverPacked() {
        CpuBackend be = new CpuBackend(true);
        be.setPrepack(true);
        SplittableRandom r = new SplittableRandom(9);
        int m = 64, n = 64, k = 64;
        try (Tensor w = be.fromFloats(randn(r, n * k), Shape.of(n, k)); Tensor x = be.fromFloats(randn(r, m * k), Shape.of(m * k))) {
            // a training step with activation checkpointing: forward and recomputation read w, the optimizer writes it
            for (int step = 0; step < 5; step++) {
                for (int read = 1; read < CpuStorage.PACK_AFTER_READS; read++) product(be, x, false, w, m, n, k, 1f, 0f, new float[m * n]);
                be.scale(w, 0.999f, w);
                assertFalse(CpuStorage.hasLinearPack(w), "step " + step);
            }
        }
    }

    @Test void noCopyWithoutRoom() {
        SplittableRandom r = new SplittableRandom(11);
        int n = 64, k = 64;
        CpuBackend be = new CpuBackend(true);
        try (Tensor w = be.fromFloats(randn(r, n * k), Shape.of(n, k))) {
            for (int i = 0; i <= CpuStorage.PACK_AFTER_READS; i++)
                assertTrue(CpuStorage.linearPack(w, n, k, bytes -> false) == null, "no room, read " + i);
            assertFalse(CpuStorage.hasLinearPack(w));
            assertTrue(CpuStorage.linearPack(w, n, k, bytes -> bytes == 4L * n * k) != null, "room for n·k floats");
        }
    }
}
