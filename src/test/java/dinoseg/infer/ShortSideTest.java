package dinoseg.infer;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The short-side rule of the official DINOv2 test settings: mmcv's Resize(keep_ratio=True) with
 * img_scale (99999999, S) and MultiScaleFlipAug's img_ratios (short side (int)(S * ratio), factor
 * short / min(w, h), sides (int)(side * factor + 0.5)).
 */
class ShortSideTest {
    final Backend be = Backends.cpu();

    @Test void sizesFollowMmcvsArithmetic() {
        Predictor p = new Predictor(be, new FakeModels.PatchModel(be), Predictor.Options.plain(1, 1).withShortSide(640));
        // a 500x375 VOC picture: 640/375 -> 853.33 + 0.5 -> 853 x 640; ratio 1.32: (int) 844.8 = 844 -> 1125 x 844
        assertArrayEquals(new int[] {853, 640}, p.scaledSize(1.0, 500, 375));
        assertArrayEquals(new int[] {1125, 844}, p.scaledSize(1.32, 500, 375));
        assertArrayEquals(new int[] {1920, 2560}, p.scaledSize(3.0, 375, 500));   // portrait: the width is the short side
        // the fixed-size rule is unchanged: W x H times the scale, rounded
        Predictor f = new Predictor(be, new FakeModels.PatchModel(be), Predictor.Options.plain(45, 31));
        assertArrayEquals(new int[] {68, 47}, f.scaledSize(1.5, 500, 375));
        assertThrows(IllegalArgumentException.class, () -> Predictor.Options.plain(1, 1).withShortSide(-1));
    }

    @Test void eachPictureIsResizedByItsShortSideAndTheMaskKeepsItsSize() {
        List<int[]> seen = new ArrayList<>();
        FakeModels.PatchModel m = new FakeModels.PatchModel(be);
        Predictor p = new Predictor(be, m, Predictor.Options.plain(1, 1).withShortSide(28).withScales(1.0, 1.5));
        for (int[] wh : new int[][] {{61, 40}, {30, 90}}) {
            int w = wh[0], h = wh[1];
            int[] mask = p.predict(FakeModels.testImage(w, h, 3), w, h);
            assertEquals(w * h, mask.length);
            seen.addAll(m.shapes);
            m.shapes.clear();
        }
        // 61x40 at short side 28: 43x28 -> padded to 56x28; at 42 (1.5): 64x42 -> 70x42; 30x90: 28x84, 42x126
        assertEquals(List.of("28x56", "42x70", "84x28", "126x42"), seen.stream().map(s -> s[1] + "x" + s[2]).toList());
    }
}
