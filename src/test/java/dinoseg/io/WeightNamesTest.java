package dinoseg.io;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** Finding the backbone in the containers people have: wrappers, prefixes, teacher and student. */
class WeightNamesTest {
    static HostTensor t(float v) { return HostTensor.of(new float[]{v}, 1); }

    /** An official-named backbone (3 tensors) under {@code prefix}, values offset by {@code v}. */
    static Map<String, HostTensor> backbone(String prefix, float v) {
        Map<String, HostTensor> m = new LinkedHashMap<>();
        m.put(prefix + "cls_token", t(v));
        m.put(prefix + "patch_embed.proj.weight", t(v + 1));
        m.put(prefix + "blocks.0.norm1.weight", t(v + 2));
        return m;
    }

    @Test void dinov2TrainingCheckpointLoadsTheTeacherAndSaysSo() {
        Map<String, HostTensor> sd = new LinkedHashMap<>(backbone("student.backbone.", 10));
        sd.put("student.dino_head.mlp.0.weight", t(0));
        sd.putAll(backbone("teacher.backbone.", 20));
        sd.put("teacher.dino_head.mlp.0.weight", t(0));
        List<String> notes = new ArrayList<>();
        Map<String, HostTensor> bb = WeightNames.toOfficialBackbone(sd, "ck.pth", notes::add);
        assertEquals(Set.of("cls_token", "patch_embed.proj.weight", "blocks.0.norm1.weight"), bb.keySet());
        assertEquals(20f, bb.get("cls_token").data()[0]);
        assertEquals(1, notes.size());
        assertTrue(notes.get(0).startsWith("note: ck.pth: ") && notes.get(0).contains("teacher.backbone.*"), notes.get(0));
    }

    @Test void wrapperPrefixesOfAnyKindAreFound() {
        for (String prefix : List.of("", "module.", "backbone.", "module.backbone.", "_orig_mod.", "model.backbone.", "model.encoder.")) {
            Map<String, HostTensor> sd = new LinkedHashMap<>(backbone(prefix, 5));
            sd.put(prefix + "decode_head.conv_seg.weight".replace("decode_head", prefix.isEmpty() ? "zzz" : "decode_head"), t(0));
            List<String> notes = new ArrayList<>();
            Map<String, HostTensor> bb = WeightNames.toOfficialBackbone(sd, "f", notes::add);
            assertEquals(5f, bb.get("cls_token").data()[0], prefix);
            assertTrue(notes.isEmpty(), prefix);
        }
        // DDP around a full segmentation model: checkpoint.Weights.load sees backbone.* and head.*
        Map<String, HostTensor> ddp = new LinkedHashMap<>(backbone("module.backbone.", 1));
        ddp.put("module.head.conv.weight", t(0));
        assertEquals(Set.of("backbone.cls_token", "backbone.patch_embed.proj.weight", "backbone.blocks.0.norm1.weight", "head.conv.weight"),
                WeightNames.withoutWrappers(ddp).keySet());
    }

    @Test void severalBackbonesWithoutOneTeacherAreRefused() {
        Map<String, HostTensor> sd = new LinkedHashMap<>(backbone("a.", 1));
        sd.putAll(backbone("b.", 2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> WeightNames.toOfficialBackbone(sd, "two.pth", null));
        assertTrue(e.getMessage().startsWith("two.pth: holds 2 backbones (a.*, b.*)"), e.getMessage());
    }

    @Test void huggingFaceUnderAPrefixStillMaps() {
        Map<String, HostTensor> sd = new LinkedHashMap<>();
        sd.put("dinov2.embeddings.cls_token", t(3));
        sd.put("dinov2.embeddings.patch_embeddings.projection.weight", t(4));
        sd.put("classifier.weight", t(0));
        Map<String, HostTensor> bb = WeightNames.toOfficialBackbone(sd, "hf", null);
        assertEquals(Set.of("cls_token", "patch_embed.proj.weight"), bb.keySet());
    }
}
