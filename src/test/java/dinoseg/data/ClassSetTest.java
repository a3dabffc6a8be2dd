package dinoseg.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ClassSetTest {

    @Test
    void vocPaletteMatchesTheStandardColours() {
        Palette p = Palette.voc();
        assertArrayEquals(new int[] {0, 0, 0}, p.triplet(0));
        assertArrayEquals(new int[] {128, 0, 0}, p.triplet(1));
        assertArrayEquals(new int[] {0, 128, 0}, p.triplet(2));
        assertArrayEquals(new int[] {128, 128, 0}, p.triplet(3));
        assertArrayEquals(new int[] {0, 0, 128}, p.triplet(4));
        assertArrayEquals(new int[] {64, 0, 0}, p.triplet(8));
        assertArrayEquals(new int[] {0, 64, 128}, p.triplet(20)); // tvmonitor
        assertArrayEquals(new int[] {224, 224, 192}, p.triplet(255));
        ClassSet voc = ClassSet.voc();
        assertEquals(21, voc.size());
        assertEquals("tvmonitor", voc.name(20));
        assertEquals(255, voc.ignoreIndex());
        assertEquals(15, voc.classOfColor((192 << 16) | (128 << 8) | 128)); // person
        assertEquals(-1, voc.classOfColor(Palette.VOC_BOUNDARY_RGB));
    }

    @Test
    void jsonWithColoursRoundTrips(@TempDir Path dir) throws Exception {
        ClassSet c = ClassSet.parse("{\"classes\": [{\"name\": \"sky\", \"color\": [10,20,30]}, {\"name\": \"road\", \"color\": [1,2,3]}], \"ignore_index\": 99}");
        assertEquals(List.of("sky", "road"), c.names());
        assertEquals((10 << 16) | (20 << 8) | 30, c.color(0));
        assertEquals(1, c.classOfColor((1 << 16) | (2 << 8) | 3));
        assertEquals(99, c.ignoreIndex());
        Path f = dir.resolve("c.json");
        c.write(f);
        ClassSet back = ClassSet.load(f);
        assertEquals(c.names(), back.names());
        assertEquals(c.color(1), back.color(1));
        assertEquals(99, back.ignoreIndex());
        assertTrue(back.colorsGiven());
    }

    @Test
    void missingColoursFallBackToTheVocPalette() {
        ClassSet c = ClassSet.parse("{\"classes\": [{\"name\": \"a\"}, {\"name\": \"b\"}, {\"name\": \"c\"}]}");
        assertFalse(c.colorsGiven());
        assertEquals(Palette.vocColor(2), c.color(2));
        assertEquals(255, c.ignoreIndex());
        assertEquals(Palette.VOC_BOUNDARY_RGB, c.palette().rgb(255));
        assertEquals(ClassSet.voc().names(), ClassSet.resolve("voc").names());
    }

    @Test
    void badClassFilesFailWithOneLineNamingTheFile(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("bad.json");
        Files.writeString(f, "{\"classes\": [{\"name\": \"a\", \"color\": [1,2]}]}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClassSet.load(f));
        assertTrue(e.getMessage().startsWith(f.toString() + ": "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        Files.writeString(f, "{not json");
        e = assertThrows(IllegalArgumentException.class, () -> ClassSet.load(f));
        assertTrue(e.getMessage().startsWith(f.toString() + ": "), e.getMessage());
        Path missing = dir.resolve("nope.json");
        e = assertThrows(IllegalArgumentException.class, () -> ClassSet.load(missing));
        assertEquals(missing + ": class file does not exist", e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> ClassSet.parse("{\"classes\": [{\"name\": \"a\", \"color\": [1,2,3]}, {\"name\": \"b\", \"color\": [1,2,3]}]}"));
    }

    /**
     * ADE20K's annotations (MMSegmentation's reduce_zero_label): in an id mask 0 is "other" and ignored,
     * v is class v - 1, 255 stays ignored; the flag survives the class file's JSON; VOC reads ids as they are.
     */
    @Test
    void ade20kIdMasksAreReadWithReduceZeroLabel() {
        ClassSet ade = ClassSet.ade20k();
        assertTrue(ade.reduceZeroLabel());
        assertTrue(ClassSet.parse(ade.toJson()).reduceZeroLabel());
        assertFalse(ClassSet.voc().reduceZeroLabel());
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(5, 1, java.awt.image.BufferedImage.TYPE_BYTE_GRAY);
        int[] raw = {0, 1, 150, 255, 20};
        for (int x = 0; x < raw.length; x++) img.getRaster().setSample(x, 0, 0, raw[x]);
        LabelMap m = MaskIO.decode(img, Path.of("ade.png"), ade, MaskFormat.INDEX);
        assertArrayEquals(new int[]{255, 0, 149, 255, 19}, m.labels());
        assertEquals(0, m.unknownPixels());
        LabelMap v = MaskIO.decode(img, Path.of("voc.png"), ClassSet.voc(), MaskFormat.INDEX);
        assertArrayEquals(new int[]{0, 1, 255, 255, 20}, v.labels());
    }
}
