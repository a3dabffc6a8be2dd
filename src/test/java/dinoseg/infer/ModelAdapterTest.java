package dinoseg.infer;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.data.ImageNetNorm;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.SegmentationHead;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelAdapterTest {
    static final BackboneConfig TINY = new BackboneConfig("tiny", 24, 2, 2, 0, false, 14, 2.0, 4, 1f);

    @Test void aTinyRandomDinov2PredictsMasksAtTheOriginalSizeAndTtaOneMatchesPlain() {
        Backend be = Backends.cpu();
        Dinov2Segmentation m = Dinov2Segmentation.create(be, TINY, SegmentationHead.Kind.BN, 5, null, 3);
        ModelAdapter a = new ModelAdapter(be, m);
        assertFalse(m.isTraining(), "inference runs the model in evaluation mode");
        assertEquals(5, a.numClasses());
        try (Tensor x = be.zeros(Shape.of(1, 3, 28, 42)); Tensor l = a.logits(x, 30, 44)) {
            assertEquals(Shape.of(1, 5, 30, 44), l.shape());
        }
        int w = 33, h = 19;
        float[] img = ImageNetNorm.normalise(FakeModels.testImage(w, h, 3), w, h);
        Predictor.Options o = Predictor.Options.plain(40, 30);
        int[] plain = new Predictor(be, a, o).predict(img, w, h);
        assertEquals(w * h, plain.length);
        for (int v : plain) assertTrue(v >= 0 && v < 5);
        assertArrayEquals(plain, new Predictor(be, a, o.withScales(1.0)).predict(img, w, h));
        assertArrayEquals(plain, new Predictor(be, a, o.withSlide(64, 32)).predict(img, w, h));
        assertEquals(w * h, new Predictor(be, a, o.withSlide(28, 14)).predict(img, w, h).length);
    }

    @Test void batchedWindowsGiveEachWindowsOwnLogits() {
        // sliding windows go through the model in batches: in eval mode (BatchNorm on running
        // statistics) a window's logits must not depend on the others in its batch
        Backend be = Backends.cpu();
        ModelAdapter a = new ModelAdapter(be, Dinov2Segmentation.create(be, TINY, SegmentationHead.Kind.BN, 4, null, 5));
        float[] x0 = ImageNetNorm.normalise(FakeModels.testImage(28, 28, 1), 28, 28);
        float[] x1 = ImageNetNorm.normalise(FakeModels.testImage(28, 28, 2), 28, 28);
        float[] both = new float[x0.length * 2];
        System.arraycopy(x0, 0, both, 0, x0.length);
        System.arraycopy(x1, 0, both, x0.length, x1.length);
        float[] l0, l1, lb;
        try (Tensor t = be.fromFloats(x0, Shape.of(1, 3, 28, 28)); Tensor l = a.logits(t, 28, 28)) { l0 = be.toFloats(l); }
        try (Tensor t = be.fromFloats(x1, Shape.of(1, 3, 28, 28)); Tensor l = a.logits(t, 28, 28)) { l1 = be.toFloats(l); }
        try (Tensor t = be.fromFloats(both, Shape.of(2, 3, 28, 28)); Tensor l = a.logits(t, 28, 28)) { lb = be.toFloats(l); }
        for (int i = 0; i < l0.length; i++) {
            assertEquals(l0[i], lb[i], 1e-4);
            assertEquals(l1[i], lb[l0.length + i], 1e-4);
        }
    }
}
