package dinoseg.data;

import boofcv.struct.image.GrayF32;
import boofcv.struct.image.Planar;
import dinoseg.tensor.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class PreprocessTest {

    @Test
    void sizesRoundUpToMultiplesOf14WithOneNotice() {
        List<String> log = new ArrayList<>();
        Preprocess p = Preprocess.of(640, 480, 14, log::add);
        assertEquals(644, p.width());
        assertEquals(490, p.height());
        assertEquals(List.of("note: image size 640x480 rounded up to 644x490 (multiple of patch size 14)"), log);
        log.clear();
        Preprocess q = Preprocess.of(644, 14, log::add);
        assertEquals(644, q.height());
        assertTrue(log.isEmpty());
        assertEquals(14, Shape.roundUp(1, 14));
        assertEquals(28, Shape.roundUp(15, 14));
    }

    @Test
    void normaliseIsImageNet() {
        Planar<GrayF32> img = new Planar<>(GrayF32.class, 2, 1, 3);
        img.getBand(0).set(0, 0, 255f);
        img.getBand(1).set(1, 0, 127.5f);
        float[] out = new float[6];
        ImageNetNorm.normalise(img, out, 0);
        assertEquals((1f - 0.485f) / 0.229f, out[0], 1e-5);
        assertEquals(-0.485f / 0.229f, out[1], 1e-5);
        assertEquals(-0.456f / 0.224f, out[2], 1e-5);
        assertEquals((0.5f - 0.456f) / 0.224f, out[3], 1e-5);
        assertEquals(-0.406f / 0.225f, out[4], 1e-5);
    }

    @Test
    void warpsComposeAndResizeIsPixelCentreAligned() {
        Warp r = Warp.resize(8, 8, 4, 4);
        assertEquals(0.5, r.mapX(0, 0), 1e-12);   // output pixel 0 covers input pixels 0..1
        assertEquals(6.5, r.mapX(3, 0), 1e-12);
        Warp flip = Warp.flipX(4);
        Warp both = r.then(flip);
        assertEquals(6.5, both.mapX(0, 0), 1e-12);
        Warp rot = Warp.rotate(90, 5, 5);
        assertEquals(2, rot.mapX(2, 2), 1e-12);   // the centre stays
        Warp full = Warp.rotate(360, 5, 5);
        assertEquals(1, full.mapX(1, 3), 1e-9);
        assertEquals(3, full.mapY(1, 3), 1e-9);
        // labels: nearest neighbour, uncovered = fill
        int[] in = {1, 2, 3, 4};
        int[] out = new int[4];
        Warp.shift(1, 0).applyLabels(in, 2, 2, out, 0, 2, 2, 9);
        assertArrayEquals(new int[] {2, 9, 4, 9}, out);
        Warp.resize(2, 2, 4, 4).applyLabels(in, 2, 2, out = new int[16], 0, 4, 4, 9);
        assertArrayEquals(new int[] {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, out);
    }

    /** Golden values from torch.nn.functional.interpolate(x, size, mode="bilinear", align_corners=False), x = arange(15)^1.5 as 3x5. */
    @Test
    void resizeMatchesPyTorchBilinear() {
        Planar<GrayF32> img = new Planar<>(GrayF32.class, 5, 3, 3);
        for (int i = 0; i < 15; i++) img.getBand(0).data[i] = (float) Math.pow(i, 1.5);
        float[] up = {0.125000f, 1.685660f, 4.308255f, 7.649519f, 1.767131f, 3.749235f, 6.705252f, 10.335792f, 6.693523f, 9.939960f,
            13.896243f, 18.394609f, 11.619915f, 16.130684f, 21.087233f, 26.453428f, 20.452932f, 25.670500f, 31.285660f, 37.270954f,
            29.285950f, 35.210312f, 41.484085f, 48.088478f, 32.230286f, 38.390251f, 44.883560f, 51.694321f};
        float[] down = {3.338135f, 6.751385f, 11.684656f, 28.020241f, 35.806976f, 44.295261f};
        Planar<GrayF32> a = Warp.resize(5, 3, 4, 7).applyImage(img, 4, 7, null);
        for (int i = 0; i < up.length; i++) assertEquals(up[i], a.getBand(0).data[i], 1e-4, "up " + i);
        Planar<GrayF32> b = Warp.resize(5, 3, 3, 2).applyImage(img, 3, 2, null);
        for (int i = 0; i < down.length; i++) assertEquals(down[i], b.getBand(0).data[i], 1e-4, "down " + i);
    }

    @Test
    void noneAugmentationIsAPlainResizeEvenWithRandomness() {
        Planar<GrayF32> img = new Planar<>(GrayF32.class, 14, 14, 3);
        for (int c = 0; c < 3; c++) for (int i = 0; i < img.getBand(c).data.length; i++) img.getBand(c).data[i] = (i * 7 + c * 31) % 256;
        int[] mask = new int[196];
        for (int i = 0; i < mask.length; i++) mask[i] = i % 5;
        Preprocess p = Preprocess.of(14, 14, null);
        float[] a = new float[3 * 196], b = new float[3 * 196];
        int[] la = new int[196], lb = new int[196];
        p.apply(img, mask, 255, Augment.none(), new SplittableRandom(1), a, 0, la, 0);
        p.apply(img, mask, 255, Augment.none(), new SplittableRandom(2), b, 0, lb, 0);
        assertArrayEquals(a, b);
        assertArrayEquals(mask, la); // same size: the identity
        float[] direct = new float[3 * 196];
        ImageNetNorm.normalise(img, direct, 0);
        assertArrayEquals(direct, a, 1e-4f);
    }

    @Test
    void imageIoHelpersLoadChwAndResizeForInference(@TempDir Path tmp) throws Exception {
        BufferedImage bi = new BufferedImage(4, 2, BufferedImage.TYPE_INT_RGB);
        for (int x = 0; x < 4; x++) for (int y = 0; y < 2; y++) bi.setRGB(x, y, ((x * 60) << 16) | ((y * 200) << 8) | 7);
        Path f = tmp.resolve("i.png");
        MaskIO.writePng(bi, f.toFile());
        ImageIOUtil.FloatImage chw = ImageIOUtil.loadChw(f);
        assertEquals(4, chw.width());
        assertEquals(2, chw.height());
        assertEquals(180f, chw.chw()[3]);              // R of (3,0)
        assertEquals(200f, chw.chw()[8 + 4]);          // G of (0,1)
        assertEquals(7f, chw.chw()[16 + 5]);           // B of (1,1)
        assertArrayEquals(new int[] {4, 2}, ImageIOUtil.size(f));
        float[] same = ImageIOUtil.resizeNormalise(chw, 4, 2);
        assertEquals((180f / 255f - 0.485f) / 0.229f, same[3], 1e-4);
        float[] half = ImageIOUtil.resizeNormalise(chw, 2, 1);
        // output pixel 0 averages input columns 0,1 and rows 0,1 (pixel-centre aligned)
        assertEquals((30f / 255f - 0.485f) / 0.229f, half[0], 1e-4);
        assertEquals((100f / 255f - 0.456f) / 0.224f, half[2], 1e-4);
    }
}
