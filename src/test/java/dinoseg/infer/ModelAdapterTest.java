package dinoseg.infer;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
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
        float[] img = Images.normalisedChw(FakeModels.testImage(w, h, 3), w, h);
        Predictor.Options o = Predictor.Options.plain(40, 30);
        int[] plain = new Predictor(be, a, o).predict(img, w, h);
        assertEquals(w * h, plain.length);
        for (int v : plain) assertTrue(v >= 0 && v < 5);
        assertArrayEquals(plain, new Predictor(be, a, o.withScales(1.0)).predict(img, w, h));
        assertArrayEquals(plain, new Predictor(be, a, o.withSlide(64, 32)).predict(img, w, h));
    }
}
