package dinoseg.infer;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.data.ImageNetNorm;
import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PredictorTest {
    private final Backend be = Backends.cpu();

    private static float[] chw(int w, int h, long seed) {
        return ImageNetNorm.normalise(FakeModels.testImage(w, h, seed), w, h);
    }

    private float[] scores(Predictor p, float[] x, int w, int h) {
        try (Tensor s = p.scores(x, w, h)) {
            assertEquals(Shape.of(1, FakeModels.K, h, w), s.shape());
            return be.toFloats(s);
        }
    }

    private static float[] softmax(float[] logits, int k, int n) {
        float[] p = new float[logits.length];
        for (int i = 0; i < n; i++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int c = 0; c < k; c++) max = Math.max(max, logits[c * n + i]);
            for (int c = 0; c < k; c++) sum += Math.exp(logits[c * n + i] - max);
            for (int c = 0; c < k; c++) p[c * n + i] = (float) (Math.exp(logits[c * n + i] - max) / sum);
        }
        return p;
    }

    private static void assertClose(float[] want, float[] got, double tol) {
        assertEquals(want.length, got.length);
        double worst = 0;
        for (int i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i] - got[i]));
        assertTrue(worst <= tol, "max abs difference " + worst + " > " + tol);
    }

    /** Horizontal flip of CHW-ordered planes [c][h][w]. */
    private static float[] flip(float[] x, int planes, int w, int h) {
        float[] o = new float[x.length];
        for (int c = 0; c < planes; c++)
            for (int y = 0; y < h; y++)
                for (int i = 0; i < w; i++) o[(c * h + y) * w + i] = x[(c * h + y) * w + (w - 1 - i)];
        return o;
    }

    @Test void masksHaveTheOriginalSizeForOddSizesInEveryMode() {
        int w = 37, h = 23;
        float[] x = chw(w, h, 1);
        Predictor.Options base = Predictor.Options.plain(45, 31); // neither a multiple of 14
        for (Predictor.Options o : new Predictor.Options[] {base, base.withScales(0.75, 1.3).withFlip(true),
                base.withSlide(20, 9), base.withScales(1.0, 1.5).withSlide(28, 14)}) {
            FakeModels.PatchModel m = new FakeModels.PatchModel(be);
            int[] mask = new Predictor(be, m, o).predict(x, w, h);
            assertEquals(w * h, mask.length);
            for (int v : mask) assertTrue(v >= 0 && v < FakeModels.K);
            for (int[] s : m.shapes) assertTrue(s[1] % 14 == 0 && s[2] % 14 == 0);
        }
    }

    @Test void plainInferenceIsResizeModelCropUpsampleArgmax() {
        int w = 61, h = 47;
        float[] x = chw(w, h, 2);
        FakeModels.PatchModel m = new FakeModels.PatchModel(be);
        int[] mask = new Predictor(be, m, Predictor.Options.plain(42, 28)).predict(x, w, h);
        // the same steps written out: resize to 42x28 (multiples of 14, so no padding), logits,
        // bilinear upsampling of the logits to 61x47, argmax
        try (Tensor img = be.fromFloats(x, Shape.of(1, 3, h, w)); Tensor small = be.empty(Shape.of(1, 3, 28, 42))) {
            be.resizeBilinear(img, small);
            try (Tensor l = new FakeModels.PatchModel(be).logits(small, 28, 42);
                 Tensor up = be.empty(Shape.of(1, 3, h, w)); Tensor am = be.empty(Shape.of(1, h, w), DType.I32)) {
                be.resizeBilinear(l, up);
                be.argmax(up, am);
                assertArrayEquals(be.toInts(am), mask);
            }
        }
        // upsampling the logits (not the mask) gives boundaries that do not follow the patch grid
        int changesOffGrid = 0;
        for (int y = 0; y < h; y++) for (int i = 1; i < w; i++) if (mask[y * w + i] != mask[y * w + i - 1]) changesOffGrid++;
        assertTrue(changesOffGrid > 0, "mask has no class boundaries at all; test image too uniform");
    }

    @Test void sizesThatAreNotMultiplesOf14ArePaddedCentredWithZerosAndCroppedBack() {
        int w = 20, h = 17;
        float[] x = chw(w, h, 3);
        FakeModels.PatchModel m = new FakeModels.PatchModel(be);
        float[] s = scores(new Predictor(be, m, Predictor.Options.plain(w, h)), x, w, h);
        assertEquals(1, m.inputs.size());
        assertArrayEquals(new int[] {1, 28, 28}, m.shapes.get(0));
        float[] in = m.inputs.get(0);
        int top = (28 - 17) / 2, left = (28 - 20) / 2;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 28; y++)
                for (int i = 0; i < 28; i++) {
                    float v = in[(c * 28 + y) * 28 + i];
                    boolean inside = y >= top && y < top + h && i >= left && i < left + w;
                    assertEquals(inside ? x[(c * h + y - top) * w + i - left] : 0f, v, "padded input at c" + c + " y" + y + " x" + i);
                }
        // the returned logits are the model's logits at the image's position in the padded frame
        try (Tensor padded = be.fromFloats(in, Shape.of(1, 3, 28, 28)); Tensor l = new FakeModels.PatchModel(be).logits(padded, 28, 28)) {
            float[] full = be.toFloats(l);
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < h; y++)
                    for (int i = 0; i < w; i++)
                        assertEquals(full[(c * 28 + y + top) * 28 + i + left], s[(c * h + y) * w + i], 0f);
        }
    }

    @Test void ttaWithTheSingleScaleOneEqualsPlainInference() {
        int w = 53, h = 39;
        float[] x = chw(w, h, 4);
        Predictor.Options plain = Predictor.Options.plain(40, 30);
        Predictor p = new Predictor(be, new FakeModels.PatchModel(be), plain);
        Predictor t = new Predictor(be, new FakeModels.PatchModel(be), plain.withScales(1.0));
        assertTrue(t.options().tta());
        assertArrayEquals(p.predict(x, w, h), t.predict(x, w, h));
        // and its scores are the softmax of the plain logits
        assertClose(softmax(scores(p, x, w, h), 3, w * h), scores(t, x, w, h), 1e-6);
    }

    @Test void multiScaleTtaAveragesTheSoftmaxOfEachScale() {
        int w = 50, h = 33;
        float[] x = chw(w, h, 5);
        Predictor.Options o = Predictor.Options.plain(42, 28);
        float[] got = scores(new Predictor(be, new FakeModels.PatchModel(be), o.withScales(1.0, 1.5)), x, w, h);
        float[] s1 = softmax(scores(new Predictor(be, new FakeModels.PatchModel(be), o), x, w, h), 3, w * h);
        float[] s15 = softmax(scores(new Predictor(be, new FakeModels.PatchModel(be), Predictor.Options.plain(63, 42)), x, w, h), 3, w * h);
        float[] want = new float[got.length];
        for (int i = 0; i < want.length; i++) want[i] = (s1[i] + s15[i]) / 2;
        assertClose(want, got, 2e-6);
        for (int i = 0; i < w * h; i++) assertEquals(1f, got[i] + got[w * h + i] + got[2 * w * h + i], 1e-5);
    }

    @Test void flipTtaAveragesThePredictionOfTheMirroredImageMirroredBack() {
        int w = 45, h = 31; // odd width: the flip must not shift the padding
        float[] x = chw(w, h, 6);
        Predictor.Options o = Predictor.Options.plain(w, h);
        float[] got = scores(new Predictor(be, new FakeModels.PatchModel(be), o.withFlip(true)), x, w, h);
        float[] a = softmax(scores(new Predictor(be, new FakeModels.PatchModel(be), o), x, w, h), 3, w * h);
        float[] fl = flip(x, 3, w, h);
        float[] b = flip(softmax(scores(new Predictor(be, new FakeModels.PatchModel(be), o), fl, w, h), 3, w * h), 3, w, h);
        float[] want = new float[got.length];
        for (int i = 0; i < want.length; i++) want[i] = (a[i] + b[i]) / 2;
        assertClose(want, got, 2e-6);
        assertNotEquals(0, maxDiff(a, b), "the flipped view should differ for a patch model");
    }

    private static double maxDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }

    @Test void aSlidingWindowWhoseCropCoversTheImageEqualsPlainInference() {
        int w = 41, h = 29;
        float[] x = chw(w, h, 7);
        Predictor.Options o = Predictor.Options.plain(50, 36);
        float[] plain = scores(new Predictor(be, new FakeModels.PatchModel(be), o), x, w, h);
        FakeModels.PatchModel m = new FakeModels.PatchModel(be);
        float[] slid = scores(new Predictor(be, m, o.withSlide(56, 20)), x, w, h);
        assertEquals(1, m.shapes.size());
        assertArrayEquals(plain, slid);
        // the same with TTA on top
        Predictor.Options tta = o.withScales(1.0).withFlip(true);
        assertArrayEquals(scores(new Predictor(be, new FakeModels.PatchModel(be), tta), x, w, h),
                scores(new Predictor(be, new FakeModels.PatchModel(be), tta.withSlide(56, 56)), x, w, h));
    }

    @Test void overlappingWindowsAverageToThePlainResultForAPointwiseModel() {
        int w = 57, h = 43;
        float[] x = chw(w, h, 8);
        Predictor.Options o = Predictor.Options.plain(70, 50);
        float[] plain = scores(new Predictor(be, new FakeModels.PixelModel(be), o), x, w, h);
        FakeModels.PixelModel m = new FakeModels.PixelModel(be);
        float[] slid = scores(new Predictor(be, m, o.withSlide(30, 17)), x, w, h);
        // 70 = 0,17,34,40 ; 50 = 0,17,20 -> 4 x 3 windows of 30x30 (padded to 42x42), in batches of 8
        assertEquals(2, m.calls.size());
        assertArrayEquals(new int[] {Predictor.TILE_BATCH, 42, 42}, m.calls.get(0));
        assertArrayEquals(new int[] {12 - Predictor.TILE_BATCH, 42, 42}, m.calls.get(1));
        assertClose(plain, slid, 2e-5);
    }

    @Test void windowsAverageOverlapsForAPatchModel() {
        // a patch model sees different context in each window: the result is the mean of the windows' logits
        int w = 28, h = 14;
        float[] x = chw(w, h, 9);
        FakeModels.PatchModel m = new FakeModels.PatchModel(be);
        float[] slid = scores(new Predictor(be, m, Predictor.Options.plain(w, h).withSlide(14, 7)), x, w, h);
        assertArrayEquals(new int[] {3, 14, 14}, m.shapes.get(0)); // origins 0, 7, 14, one batch
        float[][] win = new float[3][];
        for (int t = 0; t < 3; t++) {
            float[] in = new float[3 * 14 * 14];
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 14; y++)
                    System.arraycopy(x, (c * h + y) * w + 7 * t, in, (c * 14 + y) * 14, 14);
            try (Tensor tt = be.fromFloats(in, Shape.of(1, 3, 14, 14)); Tensor l = new FakeModels.PatchModel(be).logits(tt, 14, 14)) {
                win[t] = be.toFloats(l);
            }
        }
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 14; y++)
                for (int i = 0; i < w; i++) {
                    double sum = 0;
                    int n = 0;
                    for (int t = 0; t < 3; t++) {
                        int lx = i - 7 * t;
                        if (lx >= 0 && lx < 14) { sum += win[t][(c * 14 + y) * 14 + lx]; n++; }
                    }
                    assertEquals(sum / n, slid[(c * h + y) * w + i], 1e-5, "c" + c + " y" + y + " x" + i);
                }
    }

    @Test void tileStartsCoverTheSideWithTheLastWindowOnTheEdge() {
        assertArrayEquals(new int[] {0, 3, 6}, Predictor.tileStarts(10, 4, 3));
        assertArrayEquals(new int[] {0, 4, 6}, Predictor.tileStarts(10, 4, 4));
        assertArrayEquals(new int[] {0}, Predictor.tileStarts(4, 4, 2));
        assertArrayEquals(new int[] {0}, Predictor.tileStarts(3, 4, 2));
        assertArrayEquals(new int[] {0, 1}, Predictor.tileStarts(5, 4, 4));
        assertArrayEquals(new int[] {0, 17, 34, 40}, Predictor.tileStarts(70, 30, 17));
    }

    @Test void badOptionsAreRejectedWithAMessage() {
        assertThrows(IllegalArgumentException.class, () -> Predictor.Options.plain(0, 10));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Predictor.Options.plain(10, 10).withScales(1.0, -0.5));
        assertTrue(e.getMessage().contains("TTA"));
        assertThrows(IllegalArgumentException.class, () -> Predictor.Options.plain(10, 10).withSlide(10, 20));
    }
}
