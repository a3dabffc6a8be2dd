package dinoseg.ref;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The double reference itself against PyTorch in float64 (tools/gen_ref_golden.py), so that the
 * gradient tests compare the float ops with PyTorch's semantics and not with a shared misreading.
 */
class RefGoldenTest {
    private static JsonObject golden;

    @BeforeAll
    static void load() throws Exception {
        try (Reader r = new InputStreamReader(RefGoldenTest.class.getResourceAsStream("/golden/ref_golden.json"), StandardCharsets.UTF_8)) {
            golden = JsonParser.parseReader(r).getAsJsonObject();
        }
    }

    private static Iterable<JsonElement> cases(String op) {
        JsonArray a = golden.getAsJsonArray(op);
        assertTrue(a.size() > 0, op);
        return a;
    }

    private static DTensor t(JsonObject c, String key) {
        JsonObject o = c.getAsJsonObject(key);
        JsonArray s = o.getAsJsonArray("shape"), d = o.getAsJsonArray("data");
        int[] shape = new int[s.size()];
        for (int i = 0; i < shape.length; i++) shape[i] = s.get(i).getAsInt();
        double[] data = new double[d.size()];
        for (int i = 0; i < data.length; i++) data[i] = d.get(i).getAsDouble();
        return new DTensor(data, shape);
    }

    private static int[] ints(JsonObject c, String key) {
        JsonArray d = c.getAsJsonObject(key).getAsJsonArray("ints");
        int[] v = new int[d.size()];
        for (int i = 0; i < v.length; i++) v[i] = d.get(i).getAsInt();
        return v;
    }

    private static void close(String what, DTensor want, DTensor got) {
        assertEquals(java.util.Arrays.toString(want.shape()), java.util.Arrays.toString(got.shape()), what + " shape");
        for (int i = 0; i < want.data.length; i++)
            assertEquals(want.data[i], got.data[i], 1e-12 * Math.max(1, Math.abs(want.data[i])), what + " element " + i);
    }

    @Test
    void linear() {
        for (JsonElement e : cases("linear")) {
            JsonObject c = e.getAsJsonObject();
            close("linear", t(c, "y"), Ref.linear(t(c, "x"), t(c, "w"), c.has("b") ? t(c, "b") : null));
        }
    }

    @Test
    void geluAndSwiglu() {
        for (JsonElement e : cases("gelu")) close("gelu", t(e.getAsJsonObject(), "y"), Ref.gelu(t(e.getAsJsonObject(), "x")));
        for (JsonElement e : cases("swiglu")) close("swiglu", t(e.getAsJsonObject(), "y"), Ref.swiglu(t(e.getAsJsonObject(), "x")));
    }

    @Test
    void layerNorm() {
        for (JsonElement e : cases("layer_norm")) {
            JsonObject c = e.getAsJsonObject();
            close("layer_norm", t(c, "y"), Ref.layerNorm(t(c, "x"), t(c, "gamma"), t(c, "beta"), c.get("eps").getAsDouble()));
        }
    }

    @Test
    void batchNormForwardAndRunningStats() {
        for (JsonElement e : cases("batch_norm")) {
            JsonObject c = e.getAsJsonObject();
            boolean training = c.get("training").getAsBoolean();
            DTensor x = t(c, "x"), rm = t(c, "run_mean"), rv = t(c, "run_var");
            double eps = c.get("eps").getAsDouble(), momentum = c.get("momentum").getAsDouble();
            close("batch_norm training=" + training, t(c, "y"), Ref.batchNorm2d(x, t(c, "gamma"), t(c, "beta"), rm, rv, training, eps));
            if (training) {
                DTensor[] run = Ref.batchNormRunning(x, rm, rv, momentum);
                close("running mean", t(c, "run_mean_after"), run[0]);
                close("running var", t(c, "run_var_after"), run[1]);
            } else {
                close("eval keeps running mean", rm, t(c, "run_mean_after"));
            }
        }
    }

    @Test
    void attentionWithDinoQkvPacking() {
        for (JsonElement e : cases("attention")) {
            JsonObject c = e.getAsJsonObject();
            DTensor qkv = t(c, "qkv");
            int heads = c.get("heads").getAsInt(), d = qkv.dim(2) / 3 / heads;
            close("attention", t(c, "y"), Ref.attention(qkv, heads, 1 / Math.sqrt(d)));
        }
    }

    @Test
    void convolutionsAndPatchEmbed() {
        for (JsonElement e : cases("conv2d")) {
            JsonObject c = e.getAsJsonObject();
            close("conv2d", t(c, "y"), Ref.conv2d(t(c, "x"), t(c, "w"), t(c, "b"), c.get("stride").getAsInt(), c.get("pad").getAsInt()));
        }
        for (JsonElement e : cases("patch_embed")) {
            JsonObject c = e.getAsJsonObject();
            close("patch_embed", t(c, "y"), Ref.patchEmbed(t(c, "x"), t(c, "w"), t(c, "b"), c.get("patch").getAsInt()));
        }
    }

    @Test
    void resizeAlignCornersFalse() {
        for (JsonElement e : cases("resize")) {
            JsonObject c = e.getAsJsonObject();
            JsonArray size = c.getAsJsonArray("size");
            close("resize", t(c, "y"), Ref.resizeBilinear(t(c, "x"), size.get(0).getAsInt(), size.get(1).getAsInt()));
        }
    }

    @Test
    void crossEntropyWithIgnoreAndWeights() {
        for (JsonElement e : cases("cross_entropy")) {
            JsonObject c = e.getAsJsonObject();
            DTensor w = c.has("weights") ? t(c, "weights") : null;
            double got = Ref.crossEntropy(t(c, "logits"), ints(c, "labels"), w, c.get("ignore").getAsInt()).data[0];
            assertEquals(c.get("loss").getAsDouble(), got, 1e-12, "cross_entropy weighted=" + (w != null));
        }
    }
}
