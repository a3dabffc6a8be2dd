package dinoseg.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The one image reader against what PIL gives: each fixture of src/test/resources/images (written by
 * tools/make_image_fixtures.py) has beside it {@code <name>.pil.png}, the 8-bit RGB picture of
 * {@code Image.open(f).convert("RGB")} (after {@code ImageOps.exif_transpose} for the orientation
 * fixtures; the high byte of each sample for the 16-bit PNGs).
 */
class ImageDecodingTest {
    @TempDir Path dir;

    private Path fixture(String name) throws IOException {
        Path p = dir.resolve(name);
        if (!Files.exists(p))
            try (InputStream in = ImageDecodingTest.class.getResourceAsStream("/images/" + name)) {
                if (in == null) throw new IllegalStateException("missing test resource /images/" + name);
                Files.copy(in, p);
            }
        return p;
    }

    /** The expected picture, read as plain 8-bit RGB PNG through the JDK (no colour question there). */
    private int[] expected(String name, int[] wh) throws IOException {
        BufferedImage e = ImageIO.read(fixture(name + ".pil.png").toFile());
        assertEquals(BufferedImage.TYPE_3BYTE_BGR, e.getType(), "expected pictures are 8-bit RGB");
        wh[0] = e.getWidth();
        wh[1] = e.getHeight();
        return e.getRGB(0, 0, wh[0], wh[1], null, 0, wh[0]);
    }

    private static int worst(int[] a, int[] b) {
        int worst = 0;
        for (int i = 0; i < a.length; i++)
            for (int s = 0; s < 24; s += 8) worst = Math.max(worst, Math.abs(((a[i] >> s) & 255) - ((b[i] >> s) & 255)));
        return worst;
    }

    @ParameterizedTest
    @ValueSource(strings = {"cmyk.jpg", "rgb_icc.jpg", "grey.jpg", "grey8.png", "grey8_alpha.png", "grey16.png",
            "grey16_alpha.png", "rgb16.png", "rgba.png", "palette.png", "palette_trns.png"})
    void picturesHaveTheColoursPilGives(String name) throws IOException {
        int[] wh = new int[2];
        int[] want = expected(name, wh);
        ImageIOUtil.Picture p = ImageIOUtil.readPicture(fixture(name));
        assertEquals(wh[0], p.width());
        assertEquals(wh[1], p.height());
        // PNG samples are exact; the JPEGs are libjpeg's decode (quality 100, 4:4:4) within one level of rounding
        int tol = name.endsWith(".jpg") ? 1 : 0;
        int worst = worst(want, p.rgb());
        assertTrue(worst <= tol, name + ": off PIL's decode by up to " + worst + " levels (allowed " + tol + ")");
    }

    @Test
    void greyIsNotBrightenedAndCmykIsNotGammaShifted() throws IOException {
        // the two faults seen in the wild, spelled out: grey 128 must stay 128 (not 188), CMYK's (40,40,200) must stay it
        ImageIOUtil.Picture grey = ImageIOUtil.readPicture(fixture("grey8.png"));
        int[] wh = new int[2];
        int[] want = expected("grey8.png", wh);
        assertEquals(want[wh[0] * 5 + 3 * wh[0] / 4 - 1] & 0xFF, grey.rgb()[wh[0] * 5 + 3 * wh[0] / 4 - 1] & 0xFF);
        ImageIOUtil.Picture cmyk = ImageIOUtil.readPicture(fixture("cmyk.jpg"));
        int blue = cmyk.rgb()[5 * cmyk.width() + 2 * cmyk.width() / 4 + 2];
        assertTrue(Math.abs(((blue >> 16) & 255) - 40) <= 1 && Math.abs((blue & 255) - 200) <= 1, "CMYK blue block is " + Integer.toHexString(blue));
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 6, 7, 8})
    void exifOrientationIsAppliedAsViewersDo(int o) throws IOException {
        String name = "orient" + o + ".jpg";
        int[] wh = new int[2];
        int[] want = expected(name, wh);
        ImageIOUtil.Picture p = ImageIOUtil.readPicture(fixture(name));
        assertEquals(o, p.orientation());
        assertEquals(wh[0], p.width(), "displayed width");
        assertEquals(wh[1], p.height(), "displayed height");
        assertEquals(40, p.storedWidth());
        assertEquals(28, p.storedHeight());
        assertTrue(worst(want, p.rgb()) <= 1, name + ": off the upright PIL picture by " + worst(want, p.rgb()));
        ImageIOUtil.Header h = ImageIOUtil.header(fixture(name));
        assertEquals(o, h.orientation());
        assertEquals(wh[0], h.uprightWidth());
        assertEquals(40, h.width());
        // masks are read as stored: no orientation
        assertEquals(40, ImageIOUtil.read(fixture(name)).getWidth());
    }

    @Test
    void theTrainingLoaderAndInferenceSeeTheSamePixels() throws IOException {
        for (String name : new String[] {"cmyk.jpg", "grey16_alpha.png", "orient6.jpg", "palette.png"}) {
            ImageIOUtil.Picture p = ImageIOUtil.readPicture(fixture(name));
            ImageIOUtil.FloatImage chw = ImageIOUtil.loadChw(fixture(name));
            int n = p.width() * p.height();
            assertEquals(p.width(), chw.width());
            for (int i = 0; i < n; i++)
                for (int c = 0; c < 3; c++)
                    assertEquals((p.rgb()[i] >> (16 - 8 * c)) & 255, chw.chw()[c * n + i], 0f, name + " pixel " + i);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"orient1.jpg", "cmyk.jpg", "rgba.png", "grey16.png"})
    void truncatedFilesFailWithOneLineNamingThem(String name) throws IOException {
        byte[] all = Files.readAllBytes(fixture(name));
        Path cut = dir.resolve("cut_" + name);
        Files.write(cut, Arrays.copyOf(all, all.length * 2 / 3));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ImageIOUtil.readPicture(cut));
        assertTrue(e.getMessage().startsWith(cut + ": "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        IllegalArgumentException m = assertThrows(IllegalArgumentException.class, () -> ImageIOUtil.read(cut));
        assertEquals(e.getMessage(), m.getMessage(), "masks and pictures fail alike");
    }

    @Test
    void notAnImageAndEmptyFilesAreNamed() throws IOException {
        Path txt = Files.writeString(dir.resolve("notes.jpg"), "not a picture");
        Path empty = Files.write(dir.resolve("empty.png"), new byte[0]);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ImageIOUtil.readPicture(txt)).getMessage().startsWith(txt + ": not an image"));
        assertEquals(empty + ": empty file (0 bytes)", assertThrows(IllegalArgumentException.class, () -> ImageIOUtil.readPicture(empty)).getMessage());
    }

    @Test
    void orientationTransformsAreTheEightExifOnes() {
        // 3x2 stored: 1 2 3 / 4 5 6
        int[] px = {1, 2, 3, 4, 5, 6};
        assertEquals(Arrays.toString(new int[] {3, 2, 1, 6, 5, 4}), Arrays.toString(Orientation.apply(px, 3, 2, 2)));
        assertEquals(Arrays.toString(new int[] {6, 5, 4, 3, 2, 1}), Arrays.toString(Orientation.apply(px, 3, 2, 3)));
        assertEquals(Arrays.toString(new int[] {4, 5, 6, 1, 2, 3}), Arrays.toString(Orientation.apply(px, 3, 2, 4)));
        assertEquals(Arrays.toString(new int[] {1, 4, 2, 5, 3, 6}), Arrays.toString(Orientation.apply(px, 3, 2, 5)));
        assertEquals(Arrays.toString(new int[] {4, 1, 5, 2, 6, 3}), Arrays.toString(Orientation.apply(px, 3, 2, 6)));
        assertEquals(Arrays.toString(new int[] {6, 3, 5, 2, 4, 1}), Arrays.toString(Orientation.apply(px, 3, 2, 7)));
        assertEquals(Arrays.toString(new int[] {3, 6, 2, 5, 1, 4}), Arrays.toString(Orientation.apply(px, 3, 2, 8)));
    }
}
