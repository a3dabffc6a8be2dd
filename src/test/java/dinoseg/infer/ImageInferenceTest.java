package dinoseg.infer;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.data.ClassSet;
import dinoseg.data.ImageIOUtil;
import dinoseg.data.ImageNetNorm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImageInferenceTest {
    private final Backend be = Backends.cpu();

    static final ClassSet LABELS = new ClassSet(List.of("sky", "grass", "ball"), new int[] {0x87CEEB, 0x228B22, 0xFF4500}, 255);

    static void writeImage(Path f, String format, int w, int h, long seed) throws Exception {
        BufferedImage img = Images.fromRgb(FakeModels.testImage(w, h, seed), w, h);
        assertTrue(ImageIO.write(img, format, f.toFile()));
    }

    @Test void aFolderRunWritesMaskAndOverlayAtTheOriginalSizeAndReportsBadFiles(@TempDir Path dir) throws Exception {
        Path in = Files.createDirectories(dir.resolve("in")), out = dir.resolve("out");
        writeImage(in.resolve("odd.png"), "png", 37, 23, 1);
        writeImage(in.resolve("photo.jpg"), "jpg", 64, 51, 2);
        Files.write(in.resolve("broken.png"), new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0, 0, 13, 'I', 'H'});
        Files.writeString(in.resolve("notes.txt"), "not an image");
        Files.write(in.resolve("empty.jpg"), new byte[0]);
        Files.writeString(in.resolve(".hidden"), "skipped");

        Predictor p = new Predictor(be, new FakeModels.PatchModel(be), Predictor.Options.plain(42, 28).withScales(1.0).withFlip(true));
        StringWriter o = new StringWriter(), e = new StringWriter();
        ImageInference.Summary s = new ImageInference(p, LABELS, 0.5f).run(in, out, new PrintWriter(o), new PrintWriter(e));
        assertEquals(2, s.succeeded());
        assertEquals(3, s.failed());
        assertFalse(s.ok());
        String err = e.toString(), std = o.toString();
        List<String> errLines = err.lines().toList();
        assertEquals(3, errLines.size(), err);
        assertTrue(errLines.get(0).contains("broken.png"), err);
        assertTrue(errLines.get(1).contains("empty.jpg") && errLines.get(1).contains("empty"), err);
        assertTrue(errLines.get(2).contains("notes.txt"), err);
        assertTrue(std.contains("odd.png") && std.contains("photo.jpg") && std.contains(" ms"), std);
        assertTrue(std.lines().reduce((a, b) -> b).orElse("").contains("2 images segmented"), std);

        for (String[] c : new String[][] {{"odd", "37", "23"}, {"photo", "64", "51"}}) {
            int w = Integer.parseInt(c[1]), h = Integer.parseInt(c[2]);
            BufferedImage mask = ImageIO.read(out.resolve(c[0] + "_mask.png").toFile());
            BufferedImage ov = ImageIO.read(out.resolve(c[0] + "_overlay.png").toFile());
            assertEquals(w, mask.getWidth());
            assertEquals(h, mask.getHeight());
            assertEquals(w, ov.getWidth());
            assertEquals(h, ov.getHeight());
        }
        // the mask file holds exactly the predicted ids
        ImageIOUtil.Picture odd = ImageIOUtil.readPicture(in.resolve("odd.png"));
        int[] want = p.predict(ImageNetNorm.normalise(odd.rgb(), odd.width(), odd.height()), 37, 23);
        int[] got = ImageIO.read(out.resolve("odd_mask.png").toFile()).getRaster().getPixels(0, 0, 37, 23, (int[]) null);
        assertArrayEquals(want, got);
        // VOC-style: palettized, the palette holds the class colours, 255 the boundary colour
        BufferedImage maskImg = ImageIO.read(out.resolve("odd_mask.png").toFile());
        assertTrue(maskImg.getColorModel() instanceof java.awt.image.IndexColorModel, "mask is not palettized");
        java.awt.image.IndexColorModel cm = (java.awt.image.IndexColorModel) maskImg.getColorModel();
        assertEquals(0x228B22, cm.getRGB(1) & 0xFFFFFF);
        assertEquals(0xE0E0C0, cm.getRGB(255) & 0xFFFFFF);
        try (var files = Files.list(out)) { assertEquals(4, files.count()); }
    }

    @Test void inputsAndStems(@TempDir Path dir) throws Exception {
        assertThrows(IllegalArgumentException.class, () -> ImageInference.inputs(dir.resolve("missing")));
        IllegalArgumentException empty = assertThrows(IllegalArgumentException.class, () -> ImageInference.inputs(dir));
        assertTrue(empty.getMessage().contains(dir.toString()));
        Path a = dir.resolve("a.png"), b = dir.resolve("a.jpg"), c = dir.resolve("c.v1.png");
        var stems = ImageInference.stems(List.of(a, b, c));
        assertEquals("a_png", stems.get(a));
        assertEquals("a_jpg", stems.get(b));
        assertEquals("c.v1", stems.get(c));
        // x.bmp and x.png share a stem (x_bmp, x_png), and x_bmp.png's own stem is then taken: no output may overwrite another
        Path x1 = dir.resolve("x.bmp"), x2 = dir.resolve("x.png"), x3 = dir.resolve("x_bmp.png"), x4 = dir.resolve("X_BMP.gif");
        var xs = ImageInference.stems(List.of(x1, x2, x3, x4));
        assertEquals(List.of("x_bmp", "x_png", "x_bmp_2", "X_BMP_3"), List.of(xs.get(x1), xs.get(x2), xs.get(x3), xs.get(x4)));
        Files.writeString(c, "x");
        assertEquals(List.of(c), ImageInference.inputs(c));
    }

    @Test void classNamesMustMatchTheModel() {
        Predictor p = new Predictor(be, new FakeModels.PixelModel(be), Predictor.Options.plain(28, 28));
        ClassSet two = new ClassSet(List.of("a", "b"), null, 255);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new ImageInference(p, two, 0.5f));
        assertTrue(e.getMessage().contains("3 classes"), e.getMessage());
    }
}
