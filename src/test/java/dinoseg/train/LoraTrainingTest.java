package dinoseg.train;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.checkpoint.LoraFiles;
import dinoseg.checkpoint.ModelCheckpoint;
import dinoseg.checkpoint.StateDicts;
import dinoseg.io.HostTensor;
import dinoseg.io.Safetensors;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.Lora;
import dinoseg.nn.Parameter;
import dinoseg.tensor.Shape;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** A tiny training run with --lora-rank: only the adapters and the head change; the files it leaves. */
class LoraTrainingTest {
    @TempDir static Path tmp;
    static Path data;
    static final Backend BE = Backends.cpu();

    @BeforeAll
    static void writeData() throws Exception {
        data = TinyData.write(tmp.resolve("data"), 4, 2, 56, 1);
    }

    @Test
    void onlyAdaptersAndHeadTrainAndCheckpointsHoldTheMergedModel() throws Exception {
        Path dir = tmp.resolve("lora");
        TrainConfig c = TinyData.config(data, dir, 56).epochs(1).lr(1e-2).lora(2, 4, List.of("qkv", "fc2")).build();
        BackboneConfig bc = BackboneConfig.fromJson("tiny", c.backboneConfig().toString(), "test");
        Map<String, HostTensor> initial = StateDicts.of(Dinov2Segmentation.create(BE, bc, c.head(), 3, null, c.seed()));
        StringWriter out = new StringWriter();
        Dinov2Segmentation[] trained = {null};
        new Trainer(c, BE, new PrintWriter(out, true), new PrintWriter(new StringWriter(), true)).listener((e, m) -> {
            long loraParams = 0;
            for (var p : m.backbone.namedParameters().entrySet()) {
                boolean lora = p.getKey().contains(".lora_");
                assertEquals(lora, p.getValue().requiresGrad(), p.getKey());
                if (lora) loraParams += p.getValue().value().numel();
            }
            assertEquals(new Lora(2, 4, List.of("qkv", "fc2")).parameterCount(m.backbone), loraParams);
            trained[0] = m;
        }).run();
        assertTrue(out.toString().contains("LoRA r=2 alpha=4 on qkv,fc2"), out.toString());
        Dinov2Segmentation m = trained[0];
        assertTrue(out.toString().matches("(?s).*trainable params by group: head [0-9,]+, lora "
                + String.format("%,d", new Lora(2, 4, List.of("qkv", "fc2")).parameterCount(m.backbone)) + "\n.*"), out.toString());

        // the base weights of the backbone are bit-identical; the adapters' B moved off zero; the head learned
        Map<String, HostTensor> now = StateDicts.of(m);
        int headChanged = 0;
        for (var e : initial.entrySet()) {
            boolean same = Arrays.equals(e.getValue().data(), now.get(e.getKey()).data());
            if (e.getKey().startsWith("backbone.")) assertTrue(same, e.getKey() + " changed under LoRA");
            else if (!same) headChanged++;
        }
        assertTrue(headChanged > 0, "the head did not train");
        for (var e : now.entrySet())
            if (e.getKey().endsWith("lora_B.weight"))
                assertTrue(maxAbs(e.getValue().data()) > 0, e.getKey() + " did not train");

        // checkpoints: merged (no lora_* names, loadable as a plain model, same outputs); adapters alone in lora.safetensors
        Path fin = dir.resolve("final_model.safetensors");
        assertTrue(Safetensors.read(fin).tensors().keySet().stream().noneMatch(k -> k.contains("lora_")));
        assertFalse(Files.exists(dir.resolve("final_model_head.safetensors")), "a head-only file cannot restore a LoRA backbone");
        ModelCheckpoint.Loaded loaded = ModelCheckpoint.load(fin, BE);
        m.train(false);
        Var img = Var.constant(BE.fromFloats(random(2 * 3 * 56 * 56), Shape.of(2, 3, 56, 56)));
        float[] a, b;
        try (Ops ops = new Ops(BE); var s = ops.noGrad()) {
            a = BE.toFloats(m.forward(ops, img).value());
            b = BE.toFloats(loaded.model().forward(ops, img).value());
        }
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        assertTrue(d <= 1e-5, "merged checkpoint vs adapted model " + d);

        LoraFiles.Adapter ad = LoraFiles.read(dir.resolve(Trainer.LORA_FILE));
        assertEquals(new Lora(2, 4, List.of("qkv", "fc2")), ad.lora());
        assertEquals("tiny", ad.backbone());
        assertArrayEquals(now.get("backbone.blocks.1.mlp.fc2.lora_B.weight").data(), ad.tensors().get("blocks.1.mlp.fc2.lora_B.weight").data());
        assertEquals(2 * 2 * 2, ad.tensors().size());
        assertTrue(Files.exists(dir.resolve("final_model_lora.safetensors")));
        assertEquals(2, TrainConfig.fromJson(Files.readString(dir.resolve("config.json")), "config.json").loraRank());
    }

    /** The resume state carries the adapters and their AdamW moments: a resumed LoRA run ends where the straight one does. */
    @Test
    void resumedLoraRunReproducesTheUninterruptedOne() throws Exception {
        TrainConfig c = TinyData.config(data, tmp.resolve("straight"), 56).epochs(2).lr(1e-2).lora(2, 4, List.of("qkv", "fc1")).build();
        PrintWriter sink = new PrintWriter(new StringWriter(), true);
        List<History.Row> straight = new Trainer(c, BE, sink, sink).run().history();
        TrainConfig c2 = c.toBuilder().outDir(tmp.resolve("stopped").toString()).build();
        class Stop extends RuntimeException { }
        assertThrows(Stop.class, () -> new Trainer(c2, BE, sink, sink).listener((e, m) -> { if (e == 1) throw new Stop(); }).run());
        List<History.Row> resumed = Trainer.resume(tmp.resolve("stopped"), null, BE, sink, sink).run().history();
        assertEquals(straight.get(1).trainLoss(), resumed.get(1).trainLoss(), 0.0);
        assertEquals(straight.get(1).validLoss(), resumed.get(1).validLoss(), 0.0);
        LoraFiles.Adapter a = LoraFiles.read(tmp.resolve("straight").resolve(Trainer.LORA_FILE)), b = LoraFiles.read(tmp.resolve("stopped").resolve(Trainer.LORA_FILE));
        for (var e : a.tensors().entrySet()) assertArrayEquals(e.getValue().data(), b.tensors().get(e.getKey()).data(), 0f, e.getKey());
    }

    @Test
    void loraExcludesFineTuneAndFeatureCaches() {
        assertTrue(assertThrows(TrainConfig.InvalidSettingException.class,
                () -> TrainConfig.builder().fineTune(true).lora(4, 8, null).build()).getMessage().contains("--fine-tune"));
        assertTrue(assertThrows(TrainConfig.InvalidSettingException.class,
                () -> TrainConfig.builder().cacheFeatures(true).lora(4, 8, null).build()).getMessage().contains("--cache-features"));
        assertTrue(assertThrows(TrainConfig.InvalidSettingException.class,
                () -> TrainConfig.builder().lora(4, 8, List.of("attn")).build()).getMessage().contains("unknown layer 'attn'"));
        TrainConfig c = TrainConfig.builder().lora(4, 8, null).build();
        assertEquals(List.of("qkv"), c.loraTargets());
        assertEquals(c, TrainConfig.fromJson(c.toJson(), "x"));
        assertFalse(TrainConfig.builder().build().toJson().contains("lora"), "no LoRA keys in a plain run's config");
    }

    private static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) m = Math.max(m, Math.abs(v));
        return m;
    }

    private static float[] random(int n) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(3);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }
}
