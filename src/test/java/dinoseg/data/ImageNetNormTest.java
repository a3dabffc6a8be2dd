package dinoseg.data;

import boofcv.struct.image.GrayF32;
import boofcv.struct.image.Planar;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The one ImageNet normalisation: torchvision's arithmetic, the same numbers from packed and planar pixels. */
class ImageNetNormTest {
    @Test void isTorchvisionsToTensorThenNormalize() {
        float[] mean = {0.485f, 0.456f, 0.406f}, std = {0.229f, 0.224f, 0.225f};
        for (int c = 0; c < 3; c++) {
            assertEquals(mean[c], ImageNetNorm.mean(c));
            assertEquals(std[c], ImageNetNorm.std(c));
            for (int v = 0; v < 256; v++) {
                float x = v / 255f;          // ToTensor: div(255) in float32
                float want = (x - mean[c]) / std[c]; // Normalize: sub_(mean).div_(std)
                assertEquals(want, ImageNetNorm.normalise(c, v), "channel " + c + " value " + v);
                assertEquals(v, ImageNetNorm.pixel(c, want), 1e-3, "inverse, channel " + c + " value " + v);
            }
        }
    }

    @Test void packedAndPlanarPixelsGiveTheSameNumbers() {
        int w = 5, h = 3;
        int[] rgb = new int[w * h];
        Planar<GrayF32> planar = new Planar<>(GrayF32.class, w, h, 3);
        for (int i = 0; i < rgb.length; i++) {
            int r = (i * 37) & 255, g = (i * 91 + 7) & 255, b = (255 - i * 13) & 255;
            rgb[i] = 0xFF000000 | (r << 16) | (g << 8) | b; // alpha bits are ignored
            planar.getBand(0).data[i] = r;
            planar.getBand(1).data[i] = g;
            planar.getBand(2).data[i] = b;
        }
        float[] fromPlanar = new float[2 + 3 * w * h];
        ImageNetNorm.normalise(planar, fromPlanar, 2);
        float[] fromPacked = ImageNetNorm.normalise(rgb, w, h);
        assertArrayEquals(fromPacked, java.util.Arrays.copyOfRange(fromPlanar, 2, fromPlanar.length));
        assertEquals(ImageNetNorm.normalise(1, (rgb[4] >> 8) & 255), fromPacked[w * h + 4]);
        assertThrows(IllegalArgumentException.class, () -> ImageNetNorm.normalise(rgb, w, h + 1));
        assertThrows(IllegalArgumentException.class, () -> ImageNetNorm.normalise(planar, new float[3 * w * h], 1));
    }
}
