package dinoseg.train;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.nn.Parameter;
import dinoseg.tensor.Shape;
import org.junit.jupiter.api.Test;

import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** AdamW against torch.optim.AdamW golden numbers (tools/gen_adamw_golden.py). */
class AdamWTest {
    private final Backend be = Backends.cpu();

    /** The fixture, and fresh parameters holding its initial values. */
    private record Golden(JsonObject json, List<Parameter> params, List<AdamW.ParamGroup> groups) { }

    private Golden load() throws Exception {
        JsonObject j;
        try (Reader r = new InputStreamReader(getClass().getResourceAsStream("/golden/adamw.json"), StandardCharsets.UTF_8)) {
            j = JsonParser.parseReader(r).getAsJsonObject();
        }
        List<Parameter> params = new ArrayList<>();
        JsonArray shapes = j.getAsJsonArray("shapes"), init = j.getAsJsonArray("init");
        for (int k = 0; k < shapes.size(); k++) {
            JsonArray sa = shapes.get(k).getAsJsonArray();
            int[] dims = new int[sa.size()];
            for (int i = 0; i < dims.length; i++) dims[i] = sa.get(i).getAsInt();
            params.add(new Parameter(be.fromFloats(floats(init.get(k)), Shape.of(dims))));
        }
        List<AdamW.ParamGroup> groups = new ArrayList<>();
        for (JsonElement ge : j.getAsJsonArray("groups")) {
            JsonObject g = ge.getAsJsonObject();
            List<Parameter> ps = new ArrayList<>();
            for (JsonElement i : g.getAsJsonArray("params")) ps.add(params.get(i.getAsInt()));
            groups.add(new AdamW.ParamGroup(g.get("name").getAsString(), ps, g.get("lr").getAsDouble(), g.get("weight_decay").getAsDouble()));
        }
        return new Golden(j, params, groups);
    }

    private static float[] floats(JsonElement e) {
        JsonArray a = e.getAsJsonArray();
        float[] f = new float[a.size()];
        for (int i = 0; i < f.length; i++) f[i] = (float) a.get(i).getAsDouble();
        return f;
    }

    private AdamW optimizer(Golden g) {
        JsonArray betas = g.json().getAsJsonArray("betas");
        return new AdamW(be, g.groups(), betas.get(0).getAsDouble(), betas.get(1).getAsDouble(), g.json().get("eps").getAsDouble());
    }

    /** Runs golden steps [from, to) on opt: sets lrs and grads as recorded, steps, compares to PyTorch. */
    private void run(Golden g, AdamW opt, int from, int to) {
        JsonArray steps = g.json().getAsJsonArray("steps");
        for (int s = from; s < to; s++) {
            JsonObject st = steps.get(s).getAsJsonObject();
            JsonArray lrs = st.getAsJsonArray("lrs");
            for (int i = 0; i < lrs.size(); i++) opt.setLr(i, lrs.get(i).getAsDouble());
            opt.zeroGrad();
            JsonArray grads = st.getAsJsonArray("grads");
            for (int k = 0; k < g.params().size(); k++) {
                Parameter p = g.params().get(k);
                assertNull(p.grad());
                if (!grads.get(k).isJsonNull()) {
                    // a gradient as Tape.backward would leave it; package access is not needed for a leaf
                    setGrad(p, be.fromFloats(floats(grads.get(k)), p.shape()));
                }
            }
            opt.step();
            JsonArray after = st.getAsJsonArray("after");
            for (int k = 0; k < g.params().size(); k++) {
                float[] want = floats(after.get(k));
                float[] got = be.toFloats(g.params().get(k).value());
                for (int i = 0; i < want.length; i++)
                    assertEquals(want[i], got[i], 1e-6, "step " + (s + 1) + " param " + k + " element " + i);
            }
        }
    }

    static void setGrad(Parameter p, dinoseg.tensor.Tensor g) {
        dinoseg.autograd.TestGrads.set(p, g);
    }

    @Test
    void matchesPyTorchOverFiveStepsWithTwoGroupsSkipAndLrChange() throws Exception {
        Golden g = load();
        AdamW opt = optimizer(g);
        run(g, opt, 0, 5);
        assertEquals(5, opt.stepCount());
        AdamW.State st = opt.state();
        // param 1 had no gradient in step 2: its own step count is 4, the others' 5
        assertEquals(5, st.params().get("decay/0").step());
        assertEquals(4, st.params().get("decay/1").step());
        assertEquals(5, st.params().get("no_decay/0").step());
    }

    @Test
    void capturableStepsMatchPyTorchAndTheOrdinaryStepsBitForBit() throws Exception {
        Golden g = load(), h = load();
        AdamW plain = optimizer(g), capturable = optimizer(h).capturable();
        assertThrows(IllegalStateException.class, capturable::advance, "nothing captured yet");
        AdamWTest.setGrad(h.params().get(0), be.fromFloats(new float[h.params().get(0).shape().size()], h.params().get(0).shape()));
        IllegalStateException e = assertThrows(IllegalStateException.class, capturable::captureUpdate);
        assertTrue(e.getMessage().contains("has had no step"), e.getMessage());
        capturable.zeroGrad();
        run(g, plain, 0, 5);
        run(h, capturable, 0, 5);   // the device-scalar update, checked against PyTorch
        for (int k = 0; k < g.params().size(); k++)
            org.junit.jupiter.api.Assertions.assertArrayEquals(be.toFloats(g.params().get(k).value()),
                    be.toFloats(h.params().get(k).value()), 0f, "param " + k);
        assertEquals(plain.state().params().get("decay/1").step(), capturable.state().params().get("decay/1").step());
    }

    @Test
    void resumesExactlyFromExportedState() throws Exception {
        Golden g = load();
        AdamW first = optimizer(g);
        run(g, first, 0, 3);
        AdamW.State st = first.state();
        // a new optimizer over new parameters holding the same values continues identically
        Golden g2 = load();
        for (int k = 0; k < g.params().size(); k++) g2.params().get(k).setValue(be.fromFloats(be.toFloats(g.params().get(k).value()), g.params().get(k).shape()));
        AdamW second = optimizer(g2);
        second.loadState(st);
        assertEquals(3, second.stepCount());
        assertArrayEquals(st.lrs(), second.state().lrs());
        run(g2, second, 3, 5);
        assertEquals(5, second.stepCount());
    }

    @Test
    void groupLrsAreSettableByNameAndScale() throws Exception {
        Golden g = load();
        AdamW opt = optimizer(g);
        opt.setLr("no_decay", 0.5);
        assertEquals(0.5, opt.lr(1));
        opt.scaleBaseLrs(0.1);
        assertEquals(1e-3, opt.lr(0), 1e-15);
        assertEquals(3e-4, opt.lr(1), 1e-15);
        assertThrows(IllegalArgumentException.class, () -> opt.setLr("nope", 1));
        assertThrows(IllegalArgumentException.class, () -> opt.setLr(0, -1));
    }

    @Test
    void paramsWithoutGradAreUntouchedAndZeroGradClears() throws Exception {
        Golden g = load();
        AdamW opt = optimizer(g);
        float[] before = be.toFloats(g.params().get(0).value());
        setGrad(g.params().get(2), be.full(g.params().get(2).shape(), 1f));
        opt.step();
        assertArrayEquals(before, be.toFloats(g.params().get(0).value()));
        assertTrue(opt.state().params().containsKey("no_decay/0"));
        assertTrue(!opt.state().params().containsKey("decay/0"));
        opt.zeroGrad();
        assertNull(g.params().get(2).grad());
    }

    @Test
    void rejectsBadGroupsAndMismatchedState() throws Exception {
        Golden g = load();
        Parameter p = g.params().get(0);
        assertThrows(IllegalArgumentException.class, () -> new AdamW(be, List.of(
                new AdamW.ParamGroup("a", List.of(p), 1e-3, 0), new AdamW.ParamGroup("b", List.of(p), 1e-3, 0))));
        assertThrows(IllegalArgumentException.class, () -> new AdamW(be, List.of(
                new AdamW.ParamGroup("a", List.of(p), 1e-3, 0), new AdamW.ParamGroup("a", List.of(), 1e-3, 0))));
        AdamW opt = optimizer(g);
        AdamW.State bad = new AdamW.State(1, new double[]{1e-3, 1e-3},
                java.util.Map.of("decay/0", new AdamW.ParamState(1, new float[5], new float[5])));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> opt.loadState(bad));
        assertTrue(e.getMessage().contains("decay/0"), e.getMessage());
    }

    /**
     * clipGradNorm against torch.nn.utils.clip_grad_norm_ (tools/gen_clip_grad_golden.py): the returned
     * total norm and the gradients after clipping hard (0.5), a little (2.0) and not at all (100), over three
     * parameters of different ranks plus one without a gradient (left without one).
     */
    @Test
    void clipGradNormMatchesPyTorch() throws Exception {
        dinoseg.io.StateDict g = dinoseg.model.Golden.read("clip_grad.safetensors");
        for (int c = 0; c < 3; c++) {
            List<Parameter> ps = new java.util.ArrayList<>();
            for (int i = 0; i < 3; i++) {
                dinoseg.io.HostTensor gi = g.get("grad." + i);
                Parameter p = new Parameter(be.zeros(gi.shape()));
                setGrad(p, be.fromFloats(gi.data(), gi.shape()));
                ps.add(p);
            }
            Parameter none = new Parameter(be.zeros(dinoseg.tensor.Shape.of(3)));
            ps.add(none);
            AdamW opt = AdamW.single(be, ps, 1e-3, 0.0);
            double maxNorm = g.get(c + ".max_norm").data()[0];
            double total = opt.clipGradNorm(maxNorm);
            assertEquals(g.get(c + ".total").data()[0], total, 1e-5, "case " + c + " total norm");
            for (int i = 0; i < 3; i++) {
                float[] want = g.get(c + ".grad." + i).data(), got = be.toFloats(ps.get(i).grad());
                for (int j = 0; j < want.length; j++)
                    assertEquals(want[j], got[j], 1e-6, "case " + c + " (max norm " + maxNorm + ") grad " + i + "[" + j + "]");
            }
            assertNull(none.grad(), "a parameter without a gradient stays without one");
        }
        assertThrows(IllegalArgumentException.class, () -> AdamW.single(be, List.of(), 1e-3, 0).clipGradNorm(0));
    }
}
