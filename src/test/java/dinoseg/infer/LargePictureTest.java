package dinoseg.infer;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.data.ClassSet;
import dinoseg.data.ImageIOUtil;
import dinoseg.data.MaskIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Large pictures: the large-picture path (nothing at the original size but the mask) gives the plain
 * path's masks, its memory is known in advance and small, and a folder run refuses a picture the
 * heap cannot hold with one line naming it, then goes on with the next and fails overall.
 */
class LargePictureTest {
    private final Backend be = Backends.cpu();
    @TempDir Path dir;

    private static double agreement(int[] a, int[] b) {
        assertEquals(a.length, b.length);
        int same = 0;
        for (int i = 0; i < a.length; i++) if (a[i] == b[i]) same++;
        return (double) same / a.length;
    }

    private void assertSameMasks(Predictor.Options opt, int w, int h) {
        int[] rgb = FakeModels.testImage(w, h, 7);
        int[] plain = new Predictor(be, new FakeModels.PatchModel(be), opt).predict(rgb, w, h);
        Predictor large = new Predictor(be, new FakeModels.PatchModel(be), opt).pixelBudget(1000);
        assertTrue(large.large(w, h));
        int[] tiled = large.predict(rgb, w, h);
        // the same arithmetic in another order: only pixels on a near-tie of two classes may differ
        double a = agreement(plain, tiled);
        assertTrue(a >= 0.999, opt + ": large-picture masks agree with the plain path on only " + a);
    }

    @Test
    void theLargePicturePathGivesThePlainMasks() {
        assertSameMasks(Predictor.Options.plain(56, 42), 151, 97);
        assertSameMasks(Predictor.Options.plain(56, 42).withScales(0.75, 1.0).withFlip(true), 151, 97);
        assertSameMasks(Predictor.Options.plain(84, 70).withSlide(42, 28), 131, 117);
        assertSameMasks(Predictor.Options.plain(30, 20), 1201, 9); // extreme aspect, sizes not multiples of 14
    }

    @Test
    void itsMemoryIsTheMaskPlusSmallLogits() {
        Predictor p = new Predictor(be, new FakeModels.PatchModel(be), Predictor.Options.plain(56, 42));
        int w = 6000, h = 4500;
        long px = (long) w * h;
        assertTrue(p.large(w, h));
        assertTrue(p.bytesNeeded(w, h) < 5 * px, "large-picture bytes " + p.bytesNeeded(w, h));
        assertTrue(p.plainBytesPerPixel() * px > 4 * p.bytesNeeded(w, h), "the plain path would need several times more");
    }

    private static ClassSet labels() {
        return new ClassSet(List.of("a", "b", "c"), null, 255);
    }

    @Test
    void aPictureTheHeapCannotHoldIsNamedAndTheRunGoesOn() throws Exception {
        Path in = Files.createDirectories(dir.resolve("in"));
        ImageIO.write(Images.fromRgb(FakeModels.testImage(400, 300, 1), 400, 300), "png", in.resolve("a_big.png").toFile());
        ImageIO.write(Images.fromRgb(FakeModels.testImage(30, 20, 2), 30, 20), "png", in.resolve("b_small.png").toFile());
        Predictor p = new Predictor(be, new FakeModels.PatchModel(be), Predictor.Options.plain(28, 28));
        ImageInference run = new ImageInference(p, labels(), 0.5f);
        long big = run.bytesNeeded(ImageIOUtil.header(in.resolve("a_big.png"))), small = run.bytesNeeded(ImageIOUtil.header(in.resolve("b_small.png")));
        assertTrue(big > small);
        run.heapCap((big + small) / 2);
        StringWriter out = new StringWriter(), err = new StringWriter();
        ImageInference.Summary s = run.run(in, dir.resolve("out"), new PrintWriter(out), new PrintWriter(err));
        assertEquals(1, s.succeeded());
        assertEquals(1, s.failed());
        assertFalse(s.ok());
        String[] lines = err.toString().strip().split("\n");
        assertEquals(1, lines.length, err.toString());
        assertTrue(lines[0].startsWith("error: " + in.resolve("a_big.png") + ": not enough memory for a 400x300 picture"), lines[0]);
        assertTrue(Files.exists(dir.resolve("out/b_small_mask.png")));
        assertFalse(Files.exists(dir.resolve("out/a_big_mask.png")));
    }

    @Test
    void outputsAreUprightAsAViewerShowsThePhoto() throws Exception {
        Path in = Files.createDirectories(dir.resolve("photos")).resolve("turned.jpg");
        try (InputStream s = LargePictureTest.class.getResourceAsStream("/images/orient6.jpg")) {
            Files.copy(s, in);
        }
        Predictor p = new Predictor(be, new FakeModels.PixelModel(be), Predictor.Options.plain(28, 28));
        ImageInference.Summary s = new ImageInference(p, labels(), 0f).run(in, dir.resolve("out"), new PrintWriter(new StringWriter()),
                new PrintWriter(new StringWriter()));
        assertTrue(s.ok());
        BufferedImage mask = ImageIO.read(dir.resolve("out/turned_mask.png").toFile());
        BufferedImage overlay = ImageIO.read(dir.resolve("out/turned_overlay.png").toFile());
        assertEquals(28, mask.getWidth());
        assertEquals(40, mask.getHeight());
        assertEquals(28, overlay.getWidth());
        assertEquals(40, overlay.getHeight());
        // the mask is the prediction of the upright picture (a PixelModel's answer follows each pixel's colour)
        ImageIOUtil.Picture up = ImageIOUtil.readPicture(in);
        int[] want = new Predictor(be, new FakeModels.PixelModel(be), Predictor.Options.plain(28, 28)).predict(up.rgb(), 28, 40);
        int[] got = mask.getRaster().getSamples(0, 0, 28, 40, 0, new int[28 * 40]);
        assertEquals(java.util.Arrays.toString(want), java.util.Arrays.toString(got));
        assertEquals(MaskIO.detect(mask), dinoseg.data.MaskFormat.INDEX);
    }
}
