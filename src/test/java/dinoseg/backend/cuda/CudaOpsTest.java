package dinoseg.backend.cuda;

import static dinoseg.backend.cuda.CudaTestSupport.assertClose;
import static dinoseg.backend.cuda.CudaTestSupport.assertSameInts;
import static dinoseg.backend.cuda.CudaTestSupport.cpu;
import static dinoseg.backend.cuda.CudaTestSupport.gpu;
import static dinoseg.backend.cuda.CudaTestSupport.nans;
import static dinoseg.backend.cuda.CudaTestSupport.pair;
import static dinoseg.backend.cuda.CudaTestSupport.pairInts;
import static dinoseg.backend.cuda.CudaTestSupport.randn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dinoseg.backend.cuda.CudaTestSupport.Pair;
import dinoseg.backend.MatrixView;
import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/**
 * Every op of the CUDA backend against the CPU backend on random inputs, forward and backward.
 * Tolerances (|cpu - cuda| <= atol + rtol*|cpu|): GEMM rtol 1e-4 with atol 1e-4*sqrt(k) (different
 * summation order); plain elementwise arithmetic 1e-5/1e-6; transcendental functions (erf, exp)
 * and reductions 1e-5/1e-5; attention 1e-4/1e-5. Skipped without a GPU.
 */
class CudaOpsTest {
    private static final double EW_R = 1e-5, EW_A = 1e-6, TR_R = 1e-5, TR_A = 1e-5;

    @BeforeEach
    void gpuPresent() {
        CudaTestSupport.assumeGpu();
    }

    private static Shape s(int... d) { return Shape.of(d); }

    // ------------------------------------------------------------------ memory

    @Test
    void uploadsDownloadsAndCopies() {
        Random rnd = new Random(1);
        // larger than one pinned staging buffer, so the ring wraps
        float[] big = CudaTestSupport.randn(rnd, 5_000_001);
        Tensor g = gpu().fromFloats(big, s(big.length));
        assertArrayEquals(big, gpu().toFloats(g));
        float[] part = CudaTestSupport.randn(rnd, 1000);
        gpu().writeFloats(part, 10, g, 123_456, 900);
        float[] back = gpu().toFloats(g);
        for (int i = 0; i < 900; i++) assertEquals(part[10 + i], back[123_456 + i]);
        assertEquals(big[123_455], back[123_455]);
        assertEquals(big[123_456 + 900], back[123_456 + 900]);

        int[] ints = {3, -1, 7, 255, 0, 42};
        Tensor ti = gpu().fromInts(ints, s(2, 3));
        assertArrayEquals(ints, gpu().toInts(ti));
        gpu().writeInts(new int[]{9, 8}, 0, ti, 4, 2);
        assertArrayEquals(new int[]{3, -1, 7, 255, 9, 8}, gpu().toInts(ti));
        Tensor ti2 = gpu().empty(s(6), DType.I32);
        gpu().copy(ti, ti2);
        assertArrayEquals(new int[]{3, -1, 7, 255, 9, 8}, gpu().toInts(ti2));

        Tensor z = gpu().zeros(s(1000));
        for (float v : gpu().toFloats(z)) assertEquals(0f, v);
        gpu().fill(z, 2.5f);
        for (float v : gpu().toFloats(z)) assertEquals(2.5f, v);
        assertThrows(IllegalArgumentException.class, () -> gpu().writeFloats(new float[3], 0, gpu().empty(s(2)), 0, 3));
    }

    @Test
    void cachingAllocatorReusesBlocksAndCleanerReturnsThem() throws InterruptedException {
        CudaBackend b = gpu();
        for (int i = 0; i < 3; i++) gpu().empty(s(1 << 20)).close();
        long allocs = b.deviceAllocations();
        for (int i = 0; i < 100; i++) {
            try (Tensor t = b.empty(s(1 << 20)); Tensor u = b.empty(s(1000))) { b.fill(t, 1f); b.fill(u, 2f); }
        }
        assertTrue(b.deviceAllocations() <= allocs + 1, "steady state must not call cuMemAlloc");
        Tensor t = b.empty(s(3 << 20));
        assertTrue(t.storage().isClosed() == false);
        t.close();
        assertTrue(t.storage().isClosed());
        assertThrows(IllegalStateException.class, () -> b.toFloats(t));
        long live = b.liveBytes();
        for (int i = 0; i < 20; i++) b.empty(s(1 << 18));   // unreachable at once
        for (int i = 0; i < 50 && b.liveBytes() > live; i++) { System.gc(); Thread.sleep(20); }
        assertTrue(b.liveBytes() <= live, "the Cleaner returns unreachable blocks");
    }

    @Test
    void outOfMemorySaysHowMuch() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> gpu().empty(s(1 << 20, 1 << 20)));   // 4 TiB
        assertTrue(e.getMessage().startsWith("CUDA out of memory: cannot allocate 4194304.0 MiB"), e.getMessage());
        assertTrue(e.getMessage().contains("free of"), e.getMessage());
        try (Tensor t = gpu().empty(s(1000))) { gpu().fill(t, 1f); assertEquals(1f, gpu().toFloats(t)[999]); }   // still usable
    }

    // ------------------------------------------------------------------ gemm

    private static void gemmCase(boolean kernelPath, boolean ta, boolean tb, int m, int n, int k, int batch,
                                 boolean shareB, float alpha, float beta, int pad, long off) {
        Random rnd = new Random(m * 31L + n * 7L + k + batch + (ta ? 1 : 0) + (tb ? 2 : 0));
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        long sa = (long) (ta ? k : m) * lda + pad, sb = shareB ? 0 : (long) (tb ? n : k) * ldb, sc = (long) m * ldc + 3;
        Pair a = randn(rnd, s((int) (off + sa * batch)));
        Pair b = randn(rnd, s((int) (off + Math.max(sb * batch, (long) (tb ? n : k) * ldb))));
        float[] c0 = CudaTestSupport.randn(rnd, off + sc * batch);
        if (beta == 0) java.util.Arrays.fill(c0, Float.NaN);   // must not be read
        Pair c = pair(c0, s(c0.length));
        java.util.function.Function<Tensor, MatrixView> av = t -> MatrixView.of(t, lda).at(off).batched(sa).t(ta);
        java.util.function.Function<Tensor, MatrixView> bv = t -> MatrixView.of(t, ldb).at(off).batched(sb).t(tb);
        java.util.function.Function<Tensor, MatrixView> cv = t -> MatrixView.of(t, ldc).at(off).batched(sc);
        cpu().gemm(m, n, k, alpha, av.apply(a.cpu()), bv.apply(b.cpu()), beta, cv.apply(c.cpu()), batch);
        if (kernelPath) gpu().gemmKernel(m, n, k, alpha, av.apply(a.gpu()), bv.apply(b.gpu()), beta, cv.apply(c.gpu()), batch);
        else gpu().gemm(m, n, k, alpha, av.apply(a.gpu()), bv.apply(b.gpu()), beta, cv.apply(c.gpu()), batch);
        // entries between rows (padding) keep their NaN/old values on both sides
        float[] e = cpu().toFloats(c.cpu()), g = gpu().toFloats(c.gpu());
        assertClose("gemm " + (kernelPath ? "kernel" : gpu().gemmPath()) + " ta=" + ta + " tb=" + tb + " " + m + "x" + n + "x" + k
                + " batch " + batch, e, g, 1e-4, 1e-4 * Math.sqrt(k + 1));
    }

    @Test
    void gemmMatchesCpuOnBothPaths() {
        for (boolean kernel : new boolean[]{true, false})
            for (boolean ta : new boolean[]{false, true})
                for (boolean tb : new boolean[]{false, true}) {
                    gemmCase(kernel, ta, tb, 67, 45, 130, 1, false, 1f, 0f, 0, 0);
                    gemmCase(kernel, ta, tb, 5, 129, 17, 3, false, 0.5f, 1.5f, 3, 11);
                    gemmCase(kernel, ta, tb, 64, 64, 64, 4, true, -2f, 0f, 1, 0);
                    gemmCase(kernel, ta, tb, 1, 1, 1, 2, false, 1f, 1f, 0, 5);
                }
        gemmCase(true, false, true, 300, 384, 384, 1, false, 1f, 0f, 0, 0);
        gemmCase(false, false, true, 300, 384, 384, 1, false, 1f, 0f, 0, 0);
    }

    // ------------------------------------------------------------------ elementwise

    @Test
    void addAndMulBroadcast() {
        Random rnd = new Random(2);
        Shape a = s(2, 3, 4, 5);
        for (Shape b : new Shape[]{s(2, 3, 4, 5), s(5), s(4, 1), s(3, 1, 1), s(1), s(2, 1, 4, 1), s(1, 3, 4, 5)}) {
            Pair x = randn(rnd, a), y = randn(rnd, b), o1 = nans(a), o2 = nans(a);
            cpu().add(x.cpu(), y.cpu(), -0.7f, o1.cpu());
            gpu().add(x.gpu(), y.gpu(), -0.7f, o1.gpu());
            assertClose("add " + b, o1, EW_R, EW_A);
            cpu().mul(x.cpu(), y.cpu(), o2.cpu());
            gpu().mul(x.gpu(), y.gpu(), o2.gpu());
            assertClose("mul " + b, o2, EW_R, EW_A);
        }
        Pair x = randn(rnd, s(3, 4)), y = randn(rnd, s(4));
        cpu().add(x.cpu(), y.cpu(), 1f, x.cpu());   // in place
        gpu().add(x.gpu(), y.gpu(), 1f, x.gpu());
        assertClose("add in place", x, EW_R, EW_A);
        assertThrows(IllegalArgumentException.class, () -> gpu().add(x.gpu(), gpu().empty(s(3)), 1f, x.gpu()));
    }

    @Test
    void scaleAxpyAndPointwise() {
        Random rnd = new Random(3);
        Shape sh = s(7, 33);
        Pair x = randn(rnd, sh), y = randn(rnd, sh), o = nans(sh);
        cpu().scale(x.cpu(), 1.7f, o.cpu());
        gpu().scale(x.gpu(), 1.7f, o.gpu());
        assertClose("scale", o, EW_R, EW_A);
        cpu().axpy(-0.3f, x.cpu(), y.cpu());
        gpu().axpy(-0.3f, x.gpu(), y.gpu());
        assertClose("axpy", y, EW_R, EW_A);

        Pair g = randn(rnd, sh);
        Pair out = nans(sh), gx = nans(sh);
        cpu().gelu(x.cpu(), out.cpu());
        gpu().gelu(x.gpu(), out.gpu());
        assertClose("gelu", out, TR_R, TR_A);
        cpu().geluBackward(x.cpu(), g.cpu(), gx.cpu());
        gpu().geluBackward(x.gpu(), g.gpu(), gx.gpu());
        assertClose("geluBackward", gx, TR_R, TR_A);
        cpu().relu(x.cpu(), out.cpu());
        gpu().relu(x.gpu(), out.gpu());
        assertClose("relu", out, 0, 0);
        cpu().reluBackward(x.cpu(), g.cpu(), gx.cpu());
        gpu().reluBackward(x.gpu(), g.gpu(), gx.gpu());
        assertClose("reluBackward", gx, 0, 0);

        Pair x12 = randn(rnd, s(5, 3, 24)), sw = nans(s(5, 3, 12)), gsw = randn(rnd, s(5, 3, 12)), gx12 = nans(s(5, 3, 24));
        cpu().swiglu(x12.cpu(), sw.cpu());
        gpu().swiglu(x12.gpu(), sw.gpu());
        assertClose("swiglu", sw, TR_R, TR_A);
        cpu().swigluBackward(x12.cpu(), gsw.cpu(), gx12.cpu());
        gpu().swigluBackward(x12.gpu(), gsw.gpu(), gx12.gpu());
        assertClose("swigluBackward", gx12, TR_R, TR_A);
    }

    @Test
    void reductions() {
        Random rnd = new Random(4);
        Shape xs = s(2, 3, 4, 5);
        for (Shape os : new Shape[]{s(5), s(4, 1), s(3, 1, 1), s(1), s(2, 1, 1, 1), s(1, 3, 4, 5), s(2, 3, 1, 5), s(2, 3, 4, 5)}) {
            Pair x = randn(rnd, xs), o = nans(os);
            cpu().sumTo(x.cpu(), o.cpu());
            gpu().sumTo(x.gpu(), o.gpu());
            assertClose("sumTo " + os, o, TR_R, TR_A);
        }
        Pair big = randn(rnd, s(600, 384)), bias = nans(s(384));   // the coalesced column-sum path
        cpu().sumTo(big.cpu(), bias.cpu());
        gpu().sumTo(big.gpu(), bias.gpu());
        assertClose("sumTo bias", bias, 1e-4, 1e-4);
        Pair tokens = randn(rnd, s(3, 257, 40)), perChannel = nans(s(1, 1, 40));   // [B, N, C] -> [1, 1, C], ragged chunk
        cpu().sumTo(tokens.cpu(), perChannel.cpu());
        gpu().sumTo(tokens.gpu(), perChannel.gpu());
        assertClose("sumTo [3,257,40] -> [1,1,40]", perChannel, 1e-4, 1e-4);
        Pair inner = randn(rnd, s(300, 7, 2)), mid = nans(s(7, 1));   // not a leading-dims sum: the block-per-output path
        cpu().sumTo(inner.cpu(), mid.cpu());
        gpu().sumTo(inner.gpu(), mid.gpu());
        assertClose("sumTo [300,7,2] -> [7,1]", mid, 1e-4, 1e-4);
        assertEquals(384, CudaReductionOps.trailingKept(s(600, 384), s(384)));
        assertEquals(40, CudaReductionOps.trailingKept(s(3, 257, 40), s(1, 1, 40)));
        assertEquals(20, CudaReductionOps.trailingKept(s(2, 3, 4, 5), s(4, 5)));
        assertEquals(0, CudaReductionOps.trailingKept(s(300, 7, 2), s(7, 1)));
        assertEquals(0, CudaReductionOps.trailingKept(s(2, 3, 4, 5), s(3, 1, 1)));
        assertEquals(0, CudaReductionOps.trailingKept(s(2, 3), s(2, 3)));

        Pair v = randn(rnd, s(100_003)), total = nans(s(1));
        cpu().sumAll(v.cpu(), total.cpu());
        gpu().sumAll(v.gpu(), total.gpu());
        assertClose("sumAll", total, 1e-6, 1e-5);
        double e = cpu().sumSquares(v.cpu()), a = gpu().sumSquares(v.gpu());
        assertEquals(e, a, 1e-9 * Math.abs(e) + 1e-6, "sumSquares");
    }

    @Test
    void softmaxArgmaxFlip() {
        Random rnd = new Random(5);
        Shape sh = s(2, 21, 5, 7);
        for (int axis : new int[]{0, 1, 3, -1}) {
            Pair x = randn(rnd, sh), o = nans(sh);
            cpu().softmax(x.cpu(), axis, o.cpu());
            gpu().softmax(x.gpu(), axis, o.gpu());
            assertClose("softmax axis " + axis, o, TR_R, 1e-7);
        }
        Pair x = randn(rnd, sh);
        Pair am = CudaTestSupport.emptyInts(s(2, 5, 7));
        cpu().argmax(x.cpu(), am.cpu());
        gpu().argmax(x.gpu(), am.gpu());
        assertSameInts("argmax", am);
        Pair ties = pair(new float[]{1, 3, 3, 0, 2, 2}, s(2, 3)), at = CudaTestSupport.emptyInts(s(2));
        cpu().argmax(ties.cpu(), at.cpu());
        gpu().argmax(ties.gpu(), at.gpu());
        assertSameInts("argmax ties", at);
        assertArrayEquals(new int[]{1, 1}, gpu().toInts(at.gpu()));
        Pair nan = pair(new float[]{1, Float.NaN, 5, Float.NaN, 0, 2}, s(2, 3)), an = CudaTestSupport.emptyInts(s(2));
        cpu().argmax(nan.cpu(), an.cpu());
        gpu().argmax(nan.gpu(), an.gpu());
        assertSameInts("argmax NaN as torch.argmax", an);
        assertArrayEquals(new int[]{1, 0}, gpu().toInts(an.gpu()));

        Pair f = nans(sh);
        cpu().flipLastDim(x.cpu(), f.cpu());
        gpu().flipLastDim(x.gpu(), f.gpu());
        assertClose("flipLastDim", f, 0, 0);
        Pair li = pairInts(new int[]{1, 2, 3, 4, 5, 6}, s(2, 3)), lo = CudaTestSupport.emptyInts(s(2, 3));
        gpu().flipLastDim(li.gpu(), lo.gpu());
        assertArrayEquals(new int[]{3, 2, 1, 6, 5, 4}, gpu().toInts(lo.gpu()));
    }

    // ------------------------------------------------------------------ normalisation

    @Test
    void layerNormForwardBackward() {
        Random rnd = new Random(6);
        // 384, 37, 768: the one-pass backward (12, 4, 24 values per lane); 1000: the two-kernel path
        for (int c : new int[]{384, 37, 768, 1000}) {
            Shape sh = s(3, 11, c);
            Pair x = randn(rnd, sh), gamma = randn(rnd, s(c)), beta = randn(rnd, s(c));
            Pair y = nans(sh), mean = nans(s(33)), rstd = nans(s(33));
            cpu().layerNorm(x.cpu(), gamma.cpu(), beta.cpu(), 1e-6f, y.cpu(), mean.cpu(), rstd.cpu());
            gpu().layerNorm(x.gpu(), gamma.gpu(), beta.gpu(), 1e-6f, y.gpu(), mean.gpu(), rstd.gpu());
            assertClose("layerNorm y", y, 1e-4, 1e-5);
            assertClose("layerNorm mean", mean, 1e-4, 1e-6);
            assertClose("layerNorm rstd", rstd, 1e-4, 1e-6);
            Pair gy = randn(rnd, sh), gx = nans(sh), gg = nans(s(c)), gb = nans(s(c));
            cpu().layerNormBackward(gy.cpu(), x.cpu(), gamma.cpu(), mean.cpu(), rstd.cpu(), gx.cpu(), gg.cpu(), gb.cpu());
            gpu().layerNormBackward(gy.gpu(), x.gpu(), gamma.gpu(), mean.gpu(), rstd.gpu(), gx.gpu(), gg.gpu(), gb.gpu());
            assertClose("layerNormBackward gx", gx, 1e-4, 1e-4);
            assertClose("layerNormBackward ggamma", gg, 1e-4, 1e-4);
            assertClose("layerNormBackward gbeta", gb, 1e-4, 1e-4);
            // gx in place of gy, no parameter gradients
            cpu().layerNormBackward(gy.cpu(), x.cpu(), gamma.cpu(), mean.cpu(), rstd.cpu(), gy.cpu(), null, null);
            gpu().layerNormBackward(gy.gpu(), x.gpu(), gamma.gpu(), mean.gpu(), rstd.gpu(), gy.gpu(), null, null);
            assertClose("layerNormBackward in place", gy, 1e-4, 1e-4);
            // in place with parameter gradients (as Ops.layerNormLinear's backward runs it), gamma null
            Pair gy2 = randn(rnd, sh), gg2 = nans(s(c)), gb2 = nans(s(c));
            cpu().layerNormBackward(gy2.cpu(), x.cpu(), null, mean.cpu(), rstd.cpu(), gy2.cpu(), gg2.cpu(), gb2.cpu());
            gpu().layerNormBackward(gy2.gpu(), x.gpu(), null, mean.gpu(), rstd.gpu(), gy2.gpu(), gg2.gpu(), gb2.gpu());
            assertClose("layerNormBackward in place gx, c=" + c, gy2, 1e-4, 1e-4);
            assertClose("layerNormBackward in place ggamma, c=" + c, gg2, 1e-4, 1e-4);
            assertClose("layerNormBackward in place gbeta, c=" + c, gb2, 1e-4, 1e-4);
        }
        assertEquals(12, CudaNormOps.fusedValuesPerLane(384));
        assertEquals(0, CudaNormOps.fusedValuesPerLane(769));
    }

    @Test
    void batchNormTrainingAndEval() {
        Random rnd = new Random(7);
        Shape sh = s(3, 4, 5, 6);
        Pair x = randn(rnd, sh), gamma = randn(rnd, s(4)), beta = randn(rnd, s(4));
        Pair rm = randn(rnd, s(4)), rv = CudaTestSupport.uniform(rnd, s(4), 0.5f, 2f);
        for (boolean training : new boolean[]{true, false}) {
            Pair y = nans(sh), sm = nans(s(4)), sr = nans(s(4));
            cpu().batchNorm(x.cpu(), gamma.cpu(), beta.cpu(), rm.cpu(), rv.cpu(), training, 0.1f, 1e-5f, y.cpu(), sm.cpu(), sr.cpu());
            gpu().batchNorm(x.gpu(), gamma.gpu(), beta.gpu(), rm.gpu(), rv.gpu(), training, 0.1f, 1e-5f, y.gpu(), sm.gpu(), sr.gpu());
            assertClose("batchNorm y " + training, y, 1e-4, 1e-5);
            assertClose("batchNorm saveMean " + training, sm, 1e-4, 1e-6);
            assertClose("batchNorm saveRstd " + training, sr, 1e-4, 1e-6);
            assertClose("batchNorm runningMean " + training, rm, 1e-5, 1e-6);
            assertClose("batchNorm runningVar " + training, rv, 1e-5, 1e-6);
            Pair gy = randn(rnd, sh), gx = nans(sh), gg = nans(s(4)), gb = nans(s(4));
            cpu().batchNormBackward(gy.cpu(), x.cpu(), gamma.cpu(), sm.cpu(), sr.cpu(), training, gx.cpu(), gg.cpu(), gb.cpu());
            gpu().batchNormBackward(gy.gpu(), x.gpu(), gamma.gpu(), sm.gpu(), sr.gpu(), training, gx.gpu(), gg.gpu(), gb.gpu());
            assertClose("batchNormBackward gx " + training, gx, 1e-4, 1e-5);
            assertClose("batchNormBackward ggamma " + training, gg, 1e-4, 1e-4);
            assertClose("batchNormBackward gbeta " + training, gb, 1e-4, 1e-4);
        }
    }

    // ------------------------------------------------------------------ attention

    private static void attentionCase(int b, int n, int heads, int d, long seed) {
        Random rnd = new Random(seed);
        float scale = (float) (1 / Math.sqrt(d));
        Pair qkv = randn(rnd, s(b, n, 3 * heads * d));
        Pair out = nans(s(b, n, heads * d)), lse = nans(s(b, heads, n));
        cpu().attention(qkv.cpu(), heads, scale, out.cpu(), lse.cpu());
        gpu().attention(qkv.gpu(), heads, scale, out.gpu(), lse.gpu());
        String c = " B" + b + " N" + n + " H" + heads + " D" + d;
        assertClose("attention out" + c, out, 1e-4, 1e-5);
        assertClose("attention lse" + c, lse, 1e-5, 1e-5);
        Pair gout = randn(rnd, s(b, n, heads * d)), gqkv = nans(s(b, n, 3 * heads * d));
        cpu().attentionBackward(qkv.cpu(), out.cpu(), lse.cpu(), gout.cpu(), heads, scale, gqkv.cpu());
        gpu().attentionBackward(qkv.gpu(), out.gpu(), lse.gpu(), gout.gpu(), heads, scale, gqkv.gpu());
        assertClose("attentionBackward gqkv" + c, gqkv, 1e-3, 1e-4);
    }

    @Test
    void attentionForwardBackward() {
        attentionCase(2, 37, 2, 16, 8);     // N not a multiple of any tile
        attentionCase(1, 70, 3, 64, 9);     // DINOv2 head dim
        attentionCase(2, 5, 1, 100, 10);    // D not a multiple of 32
        attentionCase(1, 1, 2, 128, 11);    // one token, widest supported head
        attentionCase(1, 262, 6, 64, 12);   // ViT-S heads, 16x16 patches + cls + 5
    }

    // ------------------------------------------------------------------ convolution, layout, resampling

    @Test
    void im2colCol2im() {
        Random rnd = new Random(13);
        int[][] cases = {{2, 3, 9, 11, 3, 3, 2, 1}, {1, 3, 28, 42, 14, 14, 14, 0}, {1, 2, 5, 5, 1, 1, 1, 0}, {2, 4, 6, 7, 3, 2, 1, 2}};
        for (int[] c : cases) {
            int b = c[0], ch = c[1], h = c[2], w = c[3], kh = c[4], kw = c[5], st = c[6], pad = c[7];
            int oh = (h + 2 * pad - kh) / st + 1, ow = (w + 2 * pad - kw) / st + 1;
            Pair x = randn(rnd, s(b, ch, h, w)), cols = nans(s(b, oh * ow, ch * kh * kw));
            cpu().im2col(x.cpu(), kh, kw, st, pad, cols.cpu());
            gpu().im2col(x.gpu(), kh, kw, st, pad, cols.gpu());
            assertClose("im2col " + java.util.Arrays.toString(c), cols, 0, 0);
            Pair gc = randn(rnd, cols.shape()), gx = nans(x.shape());
            cpu().col2im(gc.cpu(), kh, kw, st, pad, gx.cpu());
            gpu().col2im(gc.gpu(), kh, kw, st, pad, gx.gpu());
            assertClose("col2im " + java.util.Arrays.toString(c), gx, TR_R, TR_A);
        }
    }

    @Test
    void copyBlocksAndPermute() {
        Random rnd = new Random(14);
        Pair src = randn(rnd, s(10, 12)), dst = randn(rnd, s(7, 20));
        cpu().copyBlocks(src.cpu(), 3, 12, dst.cpu(), 5, 20, 6, 9, false);
        gpu().copyBlocks(src.gpu(), 3, 12, dst.gpu(), 5, 20, 6, 9, false);
        assertClose("copyBlocks", dst, 0, 0);
        cpu().copyBlocks(src.cpu(), 0, 24, dst.cpu(), 1, 19, 5, 11, true);
        gpu().copyBlocks(src.gpu(), 0, 24, dst.gpu(), 1, 19, 5, 11, true);
        assertClose("copyBlocks accumulate", dst, EW_R, EW_A);
        assertThrows(IllegalArgumentException.class,
                () -> gpu().copyBlocks(src.gpu(), 0, 12, dst.gpu(), 0, 20, 11, 12, false));

        int[][] perms = {{0, 2, 1, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}, {0, 1, 2, 3}};
        Pair x = randn(rnd, s(2, 3, 4, 5));
        for (int[] p : perms) {
            int[] od = new int[4];
            for (int i = 0; i < 4; i++) od[i] = x.shape().dim(p[i]);
            Pair o = nans(s(od));
            cpu().permute(x.cpu(), p, o.cpu());
            gpu().permute(x.gpu(), p, o.gpu());
            assertClose("permute " + java.util.Arrays.toString(p), o, 0, 0);
        }
        Pair x6 = randn(rnd, s(2, 3, 2, 4, 3, 2));
        int[] p6 = {5, 3, 1, 0, 4, 2};
        int[] od6 = new int[6];
        for (int i = 0; i < 6; i++) od6[i] = x6.shape().dim(p6[i]);
        Pair o6 = nans(s(od6));
        cpu().permute(x6.cpu(), p6, o6.cpu());
        gpu().permute(x6.gpu(), p6, o6.gpu());
        assertClose("permute rank 6", o6, 0, 0);
        Pair xi = pairInts(new int[]{1, 2, 3, 4, 5, 6}, s(2, 3)), oi = CudaTestSupport.emptyInts(s(3, 2));
        gpu().permute(xi.gpu(), new int[]{1, 0}, oi.gpu());
        assertArrayEquals(new int[]{1, 4, 2, 5, 3, 6}, gpu().toInts(oi.gpu()));
    }

    @Test
    void resizeBilinearForwardBackward() {
        Random rnd = new Random(15);
        int[][] cases = {{46, 46, 644, 644}, {7, 9, 3, 4}, {5, 5, 5, 5}, {1, 3, 8, 1}, {32, 32, 128, 96}};
        for (int[] c : cases) {
            Pair x = randn(rnd, s(2, 3, c[0], c[1])), o = nans(s(2, 3, c[2], c[3]));
            cpu().resizeBilinear(x.cpu(), o.cpu());
            gpu().resizeBilinear(x.gpu(), o.gpu());
            assertClose("resizeBilinear " + java.util.Arrays.toString(c), o, 1e-5, 1e-5);
            Pair go = randn(rnd, o.shape()), gx = nans(x.shape());
            cpu().resizeBilinearBackward(go.cpu(), gx.cpu());
            gpu().resizeBilinearBackward(go.gpu(), gx.gpu());
            assertClose("resizeBilinearBackward " + java.util.Arrays.toString(c), gx, 1e-4, 1e-4);
        }
    }

    // ------------------------------------------------------------------ loss and optimiser

    @Test
    void softmaxCrossEntropy() {
        Random rnd = new Random(16);
        int k = 5;
        Shape ls = s(2, k, 6, 7);
        int[] labels = new int[2 * 6 * 7];
        for (int i = 0; i < labels.length; i++) {
            int r = rnd.nextInt(10);
            labels[i] = r < 7 ? rnd.nextInt(k) : r == 7 ? 255 : r == 8 ? -3 : k + 2;   // ignored and out-of-range labels
        }
        Pair logits = randn(rnd, ls), lab = pairInts(labels, s(2, 6, 7));
        Pair w = CudaTestSupport.uniform(rnd, s(k), 0.2f, 2f);
        for (Pair weights : new Pair[]{null, w}) {
            Pair loss = nans(s(1)), g = nans(ls);
            cpu().softmaxCrossEntropy(logits.cpu(), lab.cpu(), weights == null ? null : weights.cpu(), 255, loss.cpu(), g.cpu());
            gpu().softmaxCrossEntropy(logits.gpu(), lab.gpu(), weights == null ? null : weights.gpu(), 255, loss.gpu(), g.gpu());
            assertClose("softmaxCrossEntropy loss weights=" + (weights != null), loss, 1e-5, 1e-6);
            assertClose("softmaxCrossEntropy glogits weights=" + (weights != null), g, 1e-5, 1e-7);
        }
        int[] none = new int[labels.length];
        java.util.Arrays.fill(none, 255);
        Pair allIgnored = pairInts(none, s(2, 6, 7)), loss = nans(s(1)), g = nans(ls);
        gpu().softmaxCrossEntropy(logits.gpu(), allIgnored.gpu(), null, 255, loss.gpu(), g.gpu());
        assertEquals(0f, gpu().toFloats(loss.gpu())[0]);
        for (float v : gpu().toFloats(g.gpu())) assertEquals(0f, v);
        Pair l2 = nans(s(1));   // no gradient requested
        gpu().softmaxCrossEntropy(logits.gpu(), lab.gpu(), null, 255, l2.gpu(), null);
        cpu().softmaxCrossEntropy(logits.cpu(), lab.cpu(), null, 255, l2.cpu(), null);
        assertClose("softmaxCrossEntropy without glogits", l2, 1e-5, 1e-6);
        // glogits = logits: the gradient replaces the logits, bit for bit what a separate buffer gets
        for (Pair weights : new Pair[]{null, w}) {
            Pair sep = nans(ls), loss1 = nans(s(1)), inPlace = CudaTestSupport.pair(gpu().toFloats(logits.gpu()), ls);
            gpu().softmaxCrossEntropy(logits.gpu(), lab.gpu(), weights == null ? null : weights.gpu(), 255, loss1.gpu(), sep.gpu());
            gpu().softmaxCrossEntropy(inPlace.gpu(), lab.gpu(), weights == null ? null : weights.gpu(), 255, loss1.gpu(), inPlace.gpu());
            assertArrayEquals(gpu().toFloats(sep.gpu()), gpu().toFloats(inPlace.gpu()), "in place, weights=" + (weights != null));
        }
    }

    @Test
    void confusionMatrixCountsOnTheDevice() {
        Random rnd = new Random(18);
        for (int k : new int[]{21, 150}) {   // shared-memory histogram (21) and global atomics (150)
            Shape ls = s(2, k, 9, 11);
            int[] labels = new int[2 * 9 * 11];
            for (int i = 0; i < labels.length; i++) {
                int r = rnd.nextInt(10);
                labels[i] = r < 8 ? rnd.nextInt(k) : r == 8 ? 255 : -1;
            }
            float[] x = new float[(int) ls.numel()];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            x[0] = Float.NaN;   // pixel 0, class 0: NaN is the prediction
            Pair logits = pair(x, ls), lab = pairInts(labels, s(2, 9, 11));
            Pair counts = pairInts(new int[k * k], s(k, k));
            for (int rep = 0; rep < 2; rep++) {   // added to, not cleared
                cpu().confusionMatrix(logits.cpu(), lab.cpu(), 255, counts.cpu());
                gpu().confusionMatrix(logits.gpu(), lab.gpu(), 255, counts.gpu());
            }
            assertSameInts("confusionMatrix K=" + k, counts);
            long total = 0;
            for (int c : gpu().toInts(counts.gpu())) total += c;
            long kept = java.util.Arrays.stream(labels).filter(l -> l >= 0 && l < k).count();
            assertEquals(2 * kept, total, "every kept pixel counted once per call");
        }
    }

    @Test
    void adamwSteps() {
        Random rnd = new Random(17);
        Shape sh = s(1000);
        Pair p = randn(rnd, sh), m = CudaTestSupport.zeros(sh), v = CudaTestSupport.zeros(sh);
        for (int step = 1; step <= 3; step++) {
            Pair g = randn(rnd, sh);
            cpu().adamw(p.cpu(), g.cpu(), m.cpu(), v.cpu(), 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, step);
            gpu().adamw(p.gpu(), g.gpu(), m.gpu(), v.gpu(), 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, step);
        }
        assertClose("adamw param", p, 1e-5, 1e-6);
        assertClose("adamw m", m, 1e-5, 1e-7);
        assertClose("adamw v", v, 1e-5, 1e-7);
    }

    @Test
    void nameSaysDeviceAndGemmPath() {
        assertTrue(gpu().name().startsWith("cuda:0 ("), gpu().name());
        assertTrue(gpu().name().contains("gemm: "), gpu().name());
        assertEquals("cuda:0", gpu().device().toString());
    }
}
