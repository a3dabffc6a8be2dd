package dinoseg.checkpoint;

import dinoseg.backend.Backends;
import dinoseg.io.HostTensor;
import dinoseg.io.Safetensors;
import dinoseg.io.StateDict;
import dinoseg.io.WeightFiles;
import dinoseg.io.WeightNames;
import dinoseg.model.BackboneConfig;
import dinoseg.model.DinoVisionTransformer;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.Golden;
import dinoseg.model.SegmentationHead;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Hugging Face names, strict loading and full-model files. */
class WeightLoadingTest {
    @TempDir Path dir;
    static final BackboneConfig REG = new BackboneConfig("tiny_reg", 36, 3, 3, 4, true, 14, 4.0, 37, 1f);
    static final BackboneConfig PLAIN = new BackboneConfig("tiny", 36, 3, 3, 0, false, 14, 4.0, 37, 1f);

    @Test void huggingFaceNamesLoadToTheOfficialTensors() throws IOException {
        Map<String, HostTensor> expected = WeightNames.withoutPrefix(Golden.read("model_reg.safetensors").tensors(), "backbone.");
        StateDict hf = WeightFiles.read(Golden.path("hf_reg.safetensors"));
        assertTrue(WeightNames.isHuggingFace(hf.tensors()));
        Map<String, HostTensor> mapped = WeightNames.toOfficialBackbone(hf.tensors());
        assertEquals(expected.keySet(), mapped.keySet());
        for (var e : expected.entrySet()) assertEquals(e.getValue(), mapped.get(e.getKey()), e.getKey());
        // and back
        assertEquals(hf.tensors(), new java.util.TreeMap<>(WeightNames.toHuggingFace(expected)));

        DinoVisionTransformer bb = new DinoVisionTransformer(Backends.cpu(), REG, 1);
        Weights.loadBackbone(bb, Golden.path("hf_reg.safetensors"));
        assertEquals(expected, StateDicts.of(bb));
        DinoVisionTransformer bb2 = new DinoVisionTransformer(Backends.cpu(), PLAIN, 1);
        Weights.loadBackbone(bb2, Golden.path("plain.pth"));
        assertEquals(WeightNames.withoutPrefix(Golden.read("model_plain.safetensors").tensors(), "backbone."), StateDicts.of(bb2));
    }

    @Test void strictLoadingListsEveryProblem() throws IOException {
        DinoVisionTransformer bb = new DinoVisionTransformer(Backends.cpu(), PLAIN, 1);
        Map<String, HostTensor> sd = new LinkedHashMap<>(StateDicts.of(bb));
        sd.remove("blocks.1.ls2.gamma");
        sd.remove("norm.bias");
        sd.put("blocks.7.attn.qkv.weight", HostTensor.of(new float[1], 1));
        sd.put("pos_embed", HostTensor.of(new float[(1 + 16 * 16) * 36], 1, 1 + 16 * 16, 36));
        Path f = dir.resolve("bad.safetensors");
        Safetensors.write(f, sd, Map.of());
        DinoVisionTransformer target = new DinoVisionTransformer(Backends.cpu(), PLAIN, 2);
        Map<String, HostTensor> before = StateDicts.of(target);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Weights.loadBackbone(target, f));
        String m = e.getMessage();
        assertTrue(m.startsWith(f + ": weights do not match the model: "), m);
        for (String s : new String[]{"2 missing", "blocks.1.ls2.gamma", "norm.bias", "1 unexpected", "blocks.7.attn.qkv.weight",
                "1 wrongly shaped", "pos_embed [1, 257, 36] in file, [1, 1370, 36] in model"})
            assertTrue(m.contains(s), m + " should contain " + s);
        assertEquals(before, StateDicts.of(target), "nothing loaded on failure");
    }

    @Test void fullModelRoundTripAndBackboneOnlyFiles() throws IOException {
        Dinov2Segmentation a = Dinov2Segmentation.create(Backends.cpu(), PLAIN, SegmentationHead.Kind.BN, 4, null, 1);
        Path f = dir.resolve("model.safetensors");
        Weights.save(a, f, Map.of("head", "bn"));
        StateDict sd = Safetensors.read(f);
        assertTrue(sd.tensors().containsKey("backbone.blocks.2.mlp.fc2.bias"));
        assertTrue(sd.tensors().containsKey("head.bn.running_var"));
        assertEquals("bn", sd.metadata().get("head"));
        Dinov2Segmentation b = Dinov2Segmentation.create(Backends.cpu(), PLAIN, SegmentationHead.Kind.BN, 4, null, 2);
        assertEquals(Weights.Loaded.FULL_MODEL, Weights.load(b, f));
        assertEquals(StateDicts.of(a), StateDicts.of(b));

        Dinov2Segmentation c = Dinov2Segmentation.create(Backends.cpu(), PLAIN, SegmentationHead.Kind.LINEAR, 4, null, 3);
        assertEquals(Weights.Loaded.BACKBONE_ONLY, Weights.load(c, Golden.path("plain.pth")));
        assertEquals(StateDicts.of(a.backbone).keySet(), StateDicts.of(c.backbone).keySet());
        Dinov2Segmentation wrongHead = Dinov2Segmentation.create(Backends.cpu(), PLAIN, SegmentationHead.Kind.CONV, 4, null, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Weights.load(wrongHead, f));
        assertTrue(e.getMessage().contains("head.conv1.weight") && e.getMessage().contains("head.bn.weight"), e.getMessage());
    }
}
