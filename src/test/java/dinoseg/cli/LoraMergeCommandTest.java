package dinoseg.cli;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.checkpoint.LoraFiles;
import dinoseg.checkpoint.ModelCheckpoint;
import dinoseg.data.ClassSet;
import dinoseg.io.Safetensors;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.Lora;
import dinoseg.model.SegmentationHead;
import dinoseg.nn.Linear;
import dinoseg.tensor.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

import static dinoseg.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.*;

/** {@code dinoseg lora merge}: the merged checkpoint computes what base + adapters compute (to 1e-5). */
class LoraMergeCommandTest {
    static final Backend BE = Backends.cpu();
    static final BackboneConfig TINY = BackboneConfig.builder("t").embedDim(24).depth(2).heads(2).registers(0).mlpRatio(2.0).layerScaleInit(0.5f).build();

    @Test
    void mergedCheckpointEqualsBasePlusAdapters(@TempDir Path dir) throws Exception {
        ClassSet classes = ClassSet.parse("{\"classes\": [{\"name\": \"bg\", \"color\": [0,0,0]}, {\"name\": \"a\", \"color\": [200,10,10]}, {\"name\": \"b\", \"color\": [10,200,10]}]}");
        Dinov2Segmentation base = Dinov2Segmentation.create(BE, TINY, SegmentationHead.Kind.LINEAR, 3, null, 4);
        Path ck = dir.resolve("base.safetensors"), lf = dir.resolve("lora.safetensors"), out = dir.resolve("sub/merged.safetensors");
        ModelCheckpoint.save(ck, base, classes, 28, 28, null, false);

        Dinov2Segmentation adapted = Dinov2Segmentation.create(BE, TINY, SegmentationHead.Kind.LINEAR, 3, null, 4);
        Lora lora = new Lora(2, 5, List.of("qkv", "proj", "fc1"));
        SplittableRandom r = new SplittableRandom(1);
        for (Linear l : adapted.enableLora(lora, 3).values()) {
            float[] b = new float[(int) l.loraB().value().numel()];
            for (int i = 0; i < b.length; i++) b[i] = (float) (r.nextGaussian() * 0.3);
            l.loraB().setValue(BE.fromFloats(b, l.loraB().shape()));
        }
        LoraFiles.save(lf, adapted.backbone, lora, "t");

        CliRun.Run res = run("lora", "merge", "--checkpoint", ck.toString(), "--lora", lf.toString(), "--out", out.toString());
        assertEquals(0, res.code(), res.err());
        assertTrue(Safetensors.read(out).tensors().keySet().stream().noneMatch(k -> k.contains("lora_")));
        Dinov2Segmentation merged = ModelCheckpoint.load(out, BE).model();
        assertTrue(ModelCheckpoint.readConfig(out).getAsJsonObject("lora_merged").get("r").getAsInt() == 2);
        adapted.train(false);
        SplittableRandom ir = new SplittableRandom(2);
        float[] x = new float[2 * 3 * 28 * 42];
        for (int i = 0; i < x.length; i++) x[i] = (float) ir.nextGaussian();
        Var img = Var.constant(BE.fromFloats(x, Shape.of(2, 3, 28, 42)));
        float[] want, got, plain;
        try (Ops ops = new Ops(BE); var s = ops.noGrad()) {
            want = BE.toFloats(adapted.forward(ops, img).value());
            got = BE.toFloats(merged.forward(ops, img).value());
            plain = BE.toFloats(base.forward(ops, img).value());
        }
        double d = 0, moved = 0;
        for (int i = 0; i < want.length; i++) { d = Math.max(d, Math.abs(want[i] - got[i])); moved = Math.max(moved, Math.abs(want[i] - plain[i])); }
        assertTrue(d <= 1e-5, "merged vs base + adapters: " + d);
        assertTrue(moved > 1e-2, "the adapters should change the output");

        // mistakes: one line naming the file
        CliRun.Run notLora = run("lora", "merge", "--checkpoint", ck.toString(), "--lora", ck.toString(), "--out", dir.resolve("x.safetensors").toString());
        assertEquals(1, notLora.code());
        assertTrue(notLora.err().contains(ck + ": not a dinoseg LoRA file"), notLora.err());
        assertEquals(1, notLora.err().strip().lines().count(), notLora.err());
        CliRun.Run missing = run("lora", "merge", "--checkpoint", ck.toString(), "--lora", dir.resolve("none.safetensors").toString(), "--out", dir.resolve("y.safetensors").toString());
        assertNotEquals(0, missing.code());
        assertTrue(missing.err().contains("none.safetensors"), missing.err());
        assertFalse(Files.exists(dir.resolve("x.safetensors")) || Files.exists(dir.resolve("y.safetensors")));

        // a checkpoint that already holds adapters: merged by lora merge, or saved (merged) by a LoRA run
        CliRun.Run twice = run("lora", "merge", "--checkpoint", out.toString(), "--lora", lf.toString(), "--out", dir.resolve("z.safetensors").toString());
        assertEquals(1, twice.code(), twice.err());
        assertTrue(twice.err().contains(out + ": LoRA adapters are already merged into it"), twice.err());
        assertEquals(1, twice.err().strip().lines().count(), twice.err());
        com.google.gson.JsonObject runCfg = new com.google.gson.JsonObject(), tc = new com.google.gson.JsonObject();
        tc.addProperty("lora_rank", 2);
        runCfg.add("train_config", tc);
        Path runCk = dir.resolve("run_final.safetensors");
        ModelCheckpoint.save(runCk, base, classes, 28, 28, runCfg, false);
        CliRun.Run own = run("lora", "merge", "--checkpoint", runCk.toString(), "--lora", lf.toString(), "--out", dir.resolve("w.safetensors").toString());
        assertEquals(1, own.code(), own.err());
        assertTrue(own.err().contains(runCk + ": written by a LoRA run"), own.err());
        assertFalse(Files.exists(dir.resolve("z.safetensors")) || Files.exists(dir.resolve("w.safetensors")));
    }
}
