package dinoseg.checkpoint;

import com.google.gson.JsonObject;
import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.data.ClassSet;
import dinoseg.io.Safetensors;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.SegmentationHead;
import dinoseg.nn.Parameter;
import dinoseg.tensor.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class ModelCheckpointTest {
    @TempDir Path dir;
    final Backend be = Backends.cpu();

    static BackboneConfig tiny() {
        return BackboneConfig.fromJson("tiny", "{\"embed_dim\": 24, \"depth\": 2, \"heads\": 2, \"registers\": 0, \"ffn\": \"mlp\"}", "test");
    }

    static ClassSet classes() {
        return ClassSet.parse("{\"classes\": [{\"name\": \"bg\", \"color\": [0,0,0]}, {\"name\": \"disc\", \"color\": [200,10,10]},"
                + " {\"name\": \"box\", \"color\": [10,200,10]}], \"ignore_index\": 255}");
    }

    float[] logits(Dinov2Segmentation m, float[] img) {
        Ops ops = new Ops(be);
        try (var s = ops.noGrad()) {
            Var x = Var.constant(be.fromFloats(img, Shape.of(1, 3, 28, 42)));
            return be.toFloats(m.forward(ops, x).value());
        }
    }

    /** Moves every head parameter away from its initial value, as training would. */
    void perturbHead(Dinov2Segmentation m) {
        SplittableRandom r = new SplittableRandom(5);
        for (Parameter p : m.head.namedParameters().values()) {
            float[] v = be.toFloats(p.value());
            for (int i = 0; i < v.length; i++) v[i] += (float) (r.nextDouble() - 0.5);
            p.setValue(be.fromFloats(v, p.shape()));
        }
    }

    float[] image() {
        float[] img = new float[3 * 28 * 42];
        SplittableRandom r = new SplittableRandom(9);
        for (int i = 0; i < img.length; i++) img[i] = (float) r.nextGaussian();
        return img;
    }

    @Test
    void fullCheckpointRestoresTheSameModelAndConfig() throws Exception {
        for (SegmentationHead.Kind kind : SegmentationHead.Kind.values()) {
            Dinov2Segmentation m = Dinov2Segmentation.create(be, tiny(), kind, 3, null, 77);
            perturbHead(m);
            m.train(false);
            JsonObject extra = new JsonObject();
            extra.addProperty("seed", 77);
            extra.addProperty("epoch", 4);
            Path f = dir.resolve("final_" + kind.id() + ".safetensors");
            ModelCheckpoint.save(f, m, classes(), 42, 28, extra, false);
            assertTrue(ModelCheckpoint.isCheckpoint(f));

            ModelCheckpoint.Loaded l = ModelCheckpoint.load(f, be);
            assertEquals(kind, l.model().head.kind);
            assertEquals(List.of("bg", "disc", "box"), l.classes().names());
            assertEquals(0xC80A0A, l.classes().color(1));
            assertEquals(42, l.imgW());
            assertEquals(28, l.imgH());
            assertEquals(4, l.config().get("epoch").getAsInt());
            assertArrayEquals(logits(m, image()), logits(l.model(), image()), 0f, kind + " logits identical after reload");
            // official backbone names are kept under the backbone. prefix
            assertTrue(Safetensors.readHeader(f).entries().stream().anyMatch(e -> e.name().equals("backbone.blocks.1.attn.qkv.weight")));
        }
    }

    @Test
    void headOnlyCheckpointRebuildsTheRandomBackboneFromItsSeed() throws Exception {
        Dinov2Segmentation m = Dinov2Segmentation.create(be, tiny(), SegmentationHead.Kind.LINEAR, 3, null, 123);
        perturbHead(m);
        m.train(false);
        JsonObject extra = new JsonObject();
        extra.addProperty("seed", 123);
        Path f = dir.resolve("head.safetensors");
        ModelCheckpoint.save(f, m, classes(), 42, 28, extra, true);
        assertTrue(Safetensors.readHeader(f).entries().stream().allMatch(e -> e.name().startsWith("head.")));
        ModelCheckpoint.Loaded l = ModelCheckpoint.load(f, be);
        assertArrayEquals(logits(m, image()), logits(l.model(), image()), 0f);
    }

    @Test
    void headOnlyCheckpointLoadsItsBackboneWeightsFile() throws Exception {
        Dinov2Segmentation trained = Dinov2Segmentation.create(be, tiny(), SegmentationHead.Kind.LINEAR, 3, null, 1);
        Path bb = dir.resolve("backbone.safetensors");
        Weights.save(trained.backbone, bb, java.util.Map.of());
        // a model built from another seed, with the backbone loaded from the file
        Dinov2Segmentation m = Dinov2Segmentation.create(be, tiny(), SegmentationHead.Kind.LINEAR, 3, null, 2);
        Weights.loadBackbone(m.backbone, bb);
        perturbHead(m);
        m.train(false);
        JsonObject extra = new JsonObject();
        extra.addProperty("seed", 2);
        extra.addProperty("backbone_weights", bb.toString());
        Path f = dir.resolve("head.safetensors");
        ModelCheckpoint.save(f, m, classes(), 42, 28, extra, true);
        assertArrayEquals(logits(m, image()), logits(ModelCheckpoint.load(f, be).model(), image()), 0f);

        java.nio.file.Files.delete(bb);
        var e = assertThrows(IllegalArgumentException.class, () -> ModelCheckpoint.load(f, be));
        assertTrue(e.getMessage().contains(bb.toString()), e.getMessage());
    }

    @Test
    void plainWeightsAreNotACheckpoint() throws Exception {
        Dinov2Segmentation m = Dinov2Segmentation.create(be, tiny(), SegmentationHead.Kind.LINEAR, 3, null, 1);
        Path bb = dir.resolve("backbone.safetensors");
        Weights.save(m.backbone, bb, java.util.Map.of());
        assertFalse(ModelCheckpoint.isCheckpoint(bb));
        var e = assertThrows(IllegalArgumentException.class, () -> ModelCheckpoint.load(bb, be));
        assertTrue(e.getMessage().startsWith(bb.toString()) && e.getMessage().contains("not a dinoseg checkpoint"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));

        Path junk = dir.resolve("junk.safetensors");
        java.nio.file.Files.write(junk, new byte[]{1, 2, 3});
        var e2 = assertThrows(Exception.class, () -> ModelCheckpoint.load(junk, be));
        assertTrue(e2.getMessage().contains(junk.toString()), e2.getMessage());
    }

    @Test
    void classCountMustMatchTheModel() {
        Dinov2Segmentation m = Dinov2Segmentation.create(be, tiny(), SegmentationHead.Kind.LINEAR, 4, null, 1);
        var e = assertThrows(IllegalArgumentException.class,
                () -> ModelCheckpoint.save(dir.resolve("x.safetensors"), m, classes(), 42, 28, null, false));
        assertTrue(e.getMessage().contains("3 class names for a model of 4 classes"));
    }
}
