package dinoseg.backend.cpu;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

/** Bilinear resize and cross-entropy against values PyTorch produced (tools/gen_resize_golden.py). */
class CpuGoldenTest {
    private final CpuBackend be = new CpuBackend();

    static JsonObject golden() throws Exception {
        try (Reader r = new InputStreamReader(CpuGoldenTest.class.getResourceAsStream("/golden/backend_golden.json"),
                StandardCharsets.UTF_8)) {
            return JsonParser.parseReader(r).getAsJsonObject();
        }
    }

    /** x[i] = sin(a*i + b), the generator's formula. */
    static float[] ramp(int n, double a, double b) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) Math.sin(a * i + b);
        return x;
    }

    static int[] ints(JsonElement e) {
        JsonArray a = e.getAsJsonArray();
        int[] r = new int[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = a.get(i).getAsInt();
        return r;
    }

    static float[] floats(JsonElement e) {
        JsonArray a = e.getAsJsonArray();
        float[] r = new float[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = a.get(i).getAsFloat();
        return r;
    }

    @Test void resizeMatchesPyTorch() throws Exception {
        JsonArray cases = golden().getAsJsonArray("resize");
        assertTrue(cases.size() >= 5);
        for (JsonElement ce : cases) {
            JsonObject c = ce.getAsJsonObject();
            int[] in = ints(c.get("in")), os = ints(c.get("out"));
            Shape xs = Shape.of(in), ys = Shape.of(in[0], in[1], os[0], os[1]);
            Tensor x = be.fromFloats(ramp(xs.size(), 0.37, 0.1), xs);
            Tensor y = be.full(ys, Float.NaN);
            be.resizeBilinear(x, y);
            assertArrayEquals(floats(c.get("y")), be.toFloats(y), 2e-6f, "resize " + xs + " -> " + ys);
            Tensor g = be.fromFloats(ramp(ys.size(), 0.53, 0.7), ys);
            Tensor gx = be.full(xs, Float.NaN);
            be.resizeBilinearBackward(g, gx);
            assertArrayEquals(floats(c.get("gx")), be.toFloats(gx), 1e-5f, "resize backward " + xs + " -> " + ys);
        }
    }

    @Test void crossEntropyMatchesPyTorch() throws Exception {
        for (JsonElement ce : golden().getAsJsonArray("xent")) {
            JsonObject c = ce.getAsJsonObject();
            int[] s = ints(c.get("shape"));
            int k = s[1];
            Shape ls = Shape.of(s[0], s[2], s[3]);
            Tensor logits = be.fromFloats(scaled(ramp((int) Shape.of(s).numel(), 0.71, 0.3), 3f), Shape.of(s));
            int ignore = c.get("ignore").getAsInt();
            int[] labels = ints(c.get("labels"));
            Tensor w = null;
            if (c.get("weighted").getAsBoolean()) {
                float[] wa = new float[k];
                for (int i = 0; i < k; i++) wa[i] = 0.5f + 0.25f * i;
                w = be.fromFloats(wa, Shape.of(k));
            }
            float expectLoss = c.get("loss").getAsFloat();
            float[] expectGrad = floats(c.get("grad"));
            runXent(logits, labels, ls, w, ignore, expectLoss, expectGrad);
            // labels outside [0, K) are ignored: same result as the ignore index
            int[] outOfRange = labels.clone();
            for (int i = 0; i < outOfRange.length; i++) if (outOfRange[i] == ignore) outOfRange[i] = i % 2 == 0 ? k : -3;
            if (ignore >= 0 && ignore < k) continue; // in-range ignore index: swapping would change meaning
            runXent(logits, outOfRange, ls, w, ignore, expectLoss, expectGrad);
        }
    }

    private void runXent(Tensor logits, int[] labels, Shape ls, Tensor w, int ignore, float expectLoss, float[] expectGrad) {
        Tensor loss = be.empty(Shape.of(1)), g = be.full(logits.shape(), Float.NaN);
        be.softmaxCrossEntropy(logits, be.fromInts(labels, ls), w, ignore, loss, g);
        assertEquals(expectLoss, be.toFloats(loss)[0], 1e-5f * Math.max(1, Math.abs(expectLoss)));
        assertArrayEquals(expectGrad, be.toFloats(g), 1e-6f);
        Tensor loss2 = be.empty(Shape.of(1));
        be.softmaxCrossEntropy(logits, be.fromInts(labels, ls), w, ignore, loss2, null);
        assertEquals(be.toFloats(loss)[0], be.toFloats(loss2)[0]);
    }

    private static float[] scaled(float[] a, float s) {
        for (int i = 0; i < a.length; i++) a[i] *= s;
        return a;
    }

    @Test void allIgnoredGivesZeroLossAndGradient() {
        Tensor logits = be.fromFloats(ramp(2 * 3 * 4, 0.3, 0), Shape.of(2, 3, 4));
        Tensor labels = be.fromInts(new int[] {255, 255, 7, -1, 255, 3, 255, 255}, Shape.of(2, 4));
        Tensor loss = be.full(Shape.of(1), Float.NaN), g = be.full(logits.shape(), Float.NaN);
        be.softmaxCrossEntropy(logits, labels, null, 255, loss, g);
        assertEquals(0f, be.toFloats(loss)[0]);
        for (float v : be.toFloats(g)) assertEquals(0f, v);
    }

    @Test void crossEntropyShapeErrors() {
        Tensor logits = be.zeros(Shape.of(2, 3, 4));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                be.softmaxCrossEntropy(logits, be.zeros(Shape.of(2, 5), DType.I32), null, 255, be.zeros(Shape.of(1)), null));
        assertTrue(e.getMessage().startsWith("softmaxCrossEntropy:") && e.getMessage().contains("[2, 5]")
                && e.getMessage().contains("[2, 3, 4]"), e.getMessage());
    }
}
