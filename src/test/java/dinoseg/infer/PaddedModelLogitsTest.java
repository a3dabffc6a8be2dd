package dinoseg.infer;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.Golden;
import dinoseg.model.SegmentationHead;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Padding for the patch size with a real DINOv2 model (PredictorTest does it with fake models): a
 * window whose sides are not multiples of 14 is padded centred with zeros, run through the model,
 * and its logits are exactly the model's logits of the padded canvas at the window's position;
 * an aligned window goes through unchanged; nothing is recorded on the tape.
 */
class PaddedModelLogitsTest {
    final Backend be = Backends.cpu();
    static final BackboneConfig TINY = new BackboneConfig("t", 24, 2, 2, 4, false, 14, 2.0, 37, 0.5f);

    @Test void paddedLogitsMatchTheModelOnAManuallyPaddedCanvas() {
        Dinov2Segmentation m = Dinov2Segmentation.create(be, TINY, SegmentationHead.Kind.LINEAR, 3, null, 4);
        Ops ops = new Ops(be), ref = new Ops(be);
        Predictor p = new Predictor(be, new ModelAdapter(ops, m), Predictor.Options.plain(17, 30));
        assertFalse(m.isTraining(), "evaluation mode");
        int h = 30, w = 17;
        assertEquals(42, Shape.roundUp(h, m.backbone.patch()));
        assertEquals(28, Shape.roundUp(w, m.backbone.patch()));
        float[] img = Golden.image(2, h, w);
        Tensor got = p.windowLogits(be.fromFloats(img, Shape.of(2, 3, h, w)));
        assertArrayEquals(new int[]{2, 3, h, w}, got.shape().dims());
        // centred: 6 rows above (42 - 30 = 12), 5 columns left (28 - 17 = 11, the odd one on the right)
        float[] canvas = new float[2 * 3 * 42 * 28];
        for (int c = 0; c < 6; c++)
            for (int y = 0; y < h; y++)
                System.arraycopy(img, (c * h + y) * w, canvas, (c * 42 + y + 6) * 28 + 5, w);
        float[] full = be.toFloats(m.forward(ref, Var.constant(be.fromFloats(canvas, Shape.of(2, 3, 42, 28)))).value());
        float[] g = be.toFloats(got);
        for (int c = 0; c < 6; c++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    assertEquals(full[(c * 42 + y + 6) * 28 + x + 5], g[(c * h + y) * w + x], 0f);
        Tensor aligned = be.fromFloats(Golden.image(1, 28, 42), Shape.of(1, 3, 28, 42));
        float[] direct = be.toFloats(m.forward(ref, Var.constant(aligned)).value());
        assertArrayEquals(direct, be.toFloats(p.windowLogits(aligned)), 0f);
        assertEquals(0, ops.tape.size(), "prediction records nothing");
    }
}
