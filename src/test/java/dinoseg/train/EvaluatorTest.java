package dinoseg.train;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.data.ClassSet;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.SegmentationHead;
import dinoseg.nn.Parameter;
import dinoseg.tensor.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** The eval path against a hand-built confusion matrix: a model made to predict one class everywhere. */
class EvaluatorTest {
    static final Backend BE = Backends.cpu();
    static final ClassSet CLASSES = new ClassSet(List.of("bg", "cat", "dog", "cow"), null, 255);
    @TempDir Path dir;

    /** A tiny model whose head ignores the features and always says "cat" (logits 0, 5, 0, 0). */
    static Dinov2Segmentation alwaysCat() {
        BackboneConfig bc = BackboneConfig.builder("t").embedDim(16).depth(1).heads(2).mlpRatio(2.0).posGrid(2).build();
        Dinov2Segmentation m = Dinov2Segmentation.create(BE, bc, SegmentationHead.Kind.LINEAR, 4, null, 1);
        Parameter w = m.head.namedParameters().get("conv.weight"), b = m.head.namedParameters().get("conv.bias");
        w.setValue(BE.zeros(w.shape()));
        b.setValue(BE.fromFloats(new float[]{0, 5, 0, 0}, Shape.of(4)));
        return m;
    }

    @Test
    void metricsMatchTheHandCountedConfusionMatrix() throws Exception {
        int h = 28, w = 28, n = 2, hw = h * w;
        int[] labels = new int[n * hw];
        // image 0: rows 0-9 background, 10-19 cat, 20-27 ignored; image 1: dog except 100 cat pixels; "cow" never occurs
        for (int i = 0; i < hw; i++) labels[i] = i / w < 10 ? 0 : i / w < 20 ? 1 : 255;
        for (int i = 0; i < hw; i++) labels[hw + i] = i < 100 ? 1 : 2;
        float[] images = new float[n * 3 * hw];
        FeedBatch fb = new FeedBatch(images, labels, n, h, w, null, null);
        Iterator<FeedBatch> it = List.of(fb).iterator();
        Evaluator.Result r = Evaluator.evaluate(alwaysCat(), BE, it, 1, 255, null, "eval");

        long bg = 10 * w, cat = 10 * w + 100, dog = hw - 100, counted = bg + cat + dog;
        assertEquals(counted, r.pixels());
        long[][] cm = r.confusion().toArray();
        assertArrayEquals(new long[]{0, bg, 0, 0}, cm[0]);
        assertArrayEquals(new long[]{0, cat, 0, 0}, cm[1]);
        assertArrayEquals(new long[]{0, dog, 0, 0}, cm[2]);
        assertArrayEquals(new long[]{0, 0, 0, 0}, cm[3]);
        double[] iou = r.confusion().iou();
        assertEquals(0, iou[0]);
        assertEquals((double) cat / counted, iou[1], 1e-12);
        assertEquals(0, iou[2]);
        assertTrue(Double.isNaN(iou[3]), "a class absent from truth and prediction has no IoU");
        assertEquals((double) cat / counted / 3, r.miou(), 1e-12);
        assertEquals((double) cat / counted, r.pixelAccuracy(), 1e-12);
        double z = Math.exp(5) + 3;
        double expectLoss = (cat * -Math.log(Math.exp(5) / z) + (bg + dog) * -Math.log(1 / z)) / counted;
        assertEquals(expectLoss, r.loss(), 1e-4);

        EvalReport rep = new EvalReport(CLASSES, r, n, w, h, dinoseg.backend.Precision.FP32);
        JsonObject j = rep.toJson();
        assertTrue(j.keySet().containsAll(Set.of("pixel_accuracy", "miou", "per_class_iou", "confusion_matrix")));
        JsonObject per = j.getAsJsonObject("per_class_iou");
        assertEquals(Set.of("bg", "cat", "dog", "cow"), per.keySet());
        assertTrue(per.get("cow").isJsonNull());
        assertEquals((double) cat / counted, per.get("cat").getAsDouble(), 1e-12);
        assertEquals(4, j.getAsJsonArray("confusion_matrix").size());
        assertEquals(dog, j.getAsJsonArray("confusion_matrix").get(2).getAsJsonArray().get(1).getAsLong());
        Path json = dir.resolve("m.json"), png = dir.resolve("m.png");
        rep.write(json, png);
        JsonObject back = JsonParser.parseString(Files.readString(json)).getAsJsonObject();
        assertEquals(j.get("miou").getAsDouble(), back.get("miou").getAsDouble());
        assertTrue(back.getAsJsonObject("per_class_iou").get("cow").isJsonNull());
        assertTrue(Files.size(png) > 1000);
        assertNotNull(javax.imageio.ImageIO.read(png.toFile()));
    }
}
