package dinoseg.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Palettized masks under {@code --mask-format auto}, and the one pair check that train, eval and
 * data check share (same rules, same words): size mismatches, orientation, empty splits.
 */
class DatasetRulesTest {
    @TempDir Path dir;
    private final ClassSet voc = ClassSet.voc();
    private static final int BOUNDARY = Palette.VOC_BOUNDARY_RGB, BLACK = 0, AEROPLANE = Palette.vocColor(1);

    /** A palettized PNG whose palette is {@code palette} and whose pixels are {@code idx}. */
    private static Path palettized(Path file, int[] palette, int[] idx, int w, int h) throws IOException {
        byte[] r = new byte[palette.length], g = new byte[palette.length], b = new byte[palette.length];
        for (int i = 0; i < palette.length; i++) {
            r[i] = (byte) (palette[i] >> 16);
            g[i] = (byte) (palette[i] >> 8);
            b[i] = (byte) palette[i];
        }
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_INDEXED, new IndexColorModel(8, palette.length, r, g, b));
        img.getRaster().setSamples(0, 0, w, h, 0, idx);
        Fixtures.writePng(img, file);
        return file;
    }

    /** 8x6 indices: rows 0-3 index a, rows 4 index b, row 5 index c. */
    private static int[] rows(int a, int b, int c) {
        int[] idx = new int[48];
        for (int i = 0; i < 48; i++) idx[i] = i / 8 < 4 ? a : i / 8 == 4 ? b : c;
        return idx;
    }

    @Test
    void aPaletteOutOfClassOrderIsReadByColourAndSaysSo() throws IOException {
        // the case from the field: palette [boundary, black, aeroplane], so index 0 is the boundary, not background
        Path m = palettized(dir.resolve("m.png"), new int[] {BOUNDARY, BLACK, AEROPLANE}, rows(1, 2, 0), 8, 6);
        LabelMap auto = MaskIO.read(m, voc, MaskFormat.AUTO), rgb = MaskIO.read(m, voc, MaskFormat.RGB);
        assertEquals(MaskFormat.RGB, auto.format());
        assertArrayEquals(rgb.labels(), auto.labels());
        assertEquals(0, auto.labels()[0], "black is background");
        assertEquals(1, auto.labels()[33], "(128,0,0) is aeroplane");
        assertEquals(255, auto.labels()[47], "the boundary colour is ignored");
        assertNotNull(auto.note());
        assertTrue(auto.note().contains("m.png") && auto.note().contains("by colour"), auto.note());
        // index mode still means raw indices
        assertEquals(1, MaskIO.read(m, voc, MaskFormat.INDEX).labels()[0]);
    }

    @Test
    void vocsOwnPaletteAndGreyRampsMeanIndices() throws IOException {
        int[] vocPal = Palette.voc().toArray();
        Path m = palettized(dir.resolve("voc.png"), vocPal, rows(0, 15, 255), 8, 6);
        LabelMap l = MaskIO.read(m, voc, MaskFormat.AUTO);
        assertEquals(MaskFormat.INDEX, l.format());
        assertNull(l.note());
        assertEquals(15, l.labels()[33]);
        assertEquals(255, l.labels()[47]);
        int[] ramp = new int[256];
        for (int i = 0; i < 256; i++) ramp[i] = (i << 16) | (i << 8) | i;
        Path g = palettized(dir.resolve("ramp.png"), ramp, rows(3, 2, 1), 8, 6);
        assertEquals(MaskFormat.INDEX, MaskIO.read(g, voc, MaskFormat.AUTO).format());
        assertEquals(3, MaskIO.read(g, voc, MaskFormat.AUTO).labels()[0]);
        // a custom class set whose colours follow the palette order: indices too
        ClassSet own = new ClassSet(List.of("sky", "road"), new int[] {0x123456, 0x654321}, 255);
        Path o = palettized(dir.resolve("own.png"), new int[] {0x123456, 0x654321}, rows(1, 0, 1), 8, 6);
        LabelMap ol = MaskIO.read(o, own, MaskFormat.AUTO);
        assertEquals(MaskFormat.INDEX, ol.format());
        assertEquals(1, ol.labels()[0]);
    }

    @Test
    void aPaletteThatFitsNeitherReadingIsRefusedWithOneLine() throws IOException {
        Path m = palettized(dir.resolve("odd.png"), new int[] {0x102030, BLACK, 0xABCDEF}, rows(0, 1, 2), 8, 6);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MaskIO.read(m, voc, MaskFormat.AUTO));
        assertTrue(e.getMessage().startsWith(m + ": palettized mask fits neither reading"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    /** A tutorial-layout dataset: one image/mask pair per split, 8x6, masks given by {@code mask}. */
    private Path tutorial(String name, Mask mask) throws IOException {
        Path root = dir.resolve(name);
        for (String split : new String[] {"train", "valid"}) {
            Fixtures.writePng(new BufferedImage(8, 6, BufferedImage.TYPE_3BYTE_BGR), root.resolve(split + "_images/a.png"));
            mask.write(root.resolve(split + "_labels/a.png"));
        }
        return root;
    }

    private interface Mask { void write(Path p) throws IOException; }

    private static String print(DatasetCheck.Report r) {
        StringWriter s = new StringWriter();
        r.print(new PrintWriter(s));
        return s.toString();
    }

    @Test
    void dataCheckReportsWhatTheMaskShowsNotThePaletteIndices() throws IOException {
        Path ds = tutorial("pal", p -> palettized(p, new int[] {BOUNDARY, BLACK, AEROPLANE}, rows(1, 2, 0), 8, 6));
        List<String> notes = new ArrayList<>();
        DatasetCheck.Report auto = DatasetCheck.run(DatasetSpec.ofDir(ds), 1, notes::add);
        DatasetCheck.Report rgb = DatasetCheck.run(DatasetSpec.ofDir(ds).withMaskFormat(MaskFormat.RGB), 1, null);
        assertArrayEquals(rgb.splits().get(0).classPixels(), auto.splits().get(0).classPixels());
        assertEquals(32, auto.splits().get(0).classPixels()[0], "background: the black rows");
        assertEquals(8, auto.splits().get(0).classPixels()[1], "aeroplane");
        assertEquals(8, auto.splits().get(0).ignoredPixels(), "boundary");
        assertTrue(notes.stream().anyMatch(n -> n.contains("palette") && n.contains("by colour")), notes.toString());
        assertEquals(1, notes.stream().filter(n -> n.startsWith("note: train")).count(), "said once per split: " + notes);
        // and a palette that fits no reading is an error, never "ok"
        Path bad = tutorial("odd", p -> palettized(p, new int[] {0x102030, BLACK, 0xABCDEF}, rows(0, 1, 2), 8, 6));
        DatasetCheck.Report r = DatasetCheck.run(DatasetSpec.ofDir(bad), 1, null);
        assertFalse(r.trainable(), print(r));
        assertTrue(print(r).contains("fits neither reading"), print(r));
    }

    @Test
    void sizeMismatchesAreNamedAlikeBySkipBadInEveryCommand() throws IOException {
        Path root = tutorial("mis", p -> Fixtures.writePng(new BufferedImage(8, 6, BufferedImage.TYPE_BYTE_GRAY), p));
        Fixtures.writePng(new BufferedImage(8, 6, BufferedImage.TYPE_3BYTE_BGR), root.resolve("valid_images/b.png"));
        Fixtures.writePng(new BufferedImage(9, 7, BufferedImage.TYPE_BYTE_GRAY), root.resolve("valid_labels/b.png"));
        DatasetSpec spec = DatasetSpec.ofDir(root);
        // without --skip-bad: train refuses, naming the mask and the sizes
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Datasets.openValidated(spec, null));
        String mismatch = root.resolve("valid_labels/b.png") + ": mask is 9x7 but its image b.png is 8x6";
        assertTrue(e.getMessage().startsWith(mismatch), e.getMessage());
        // with it: the pair is skipped with that line and summed up as a size mismatch (not "unreadable")
        List<String> log = new ArrayList<>();
        Datasets.Opened o = Datasets.openValidated(spec.withSkipBad(true), log::add);
        assertEquals(1, o.valid().size());
        assertTrue(log.contains("skipped: " + mismatch), log.toString());
        assertTrue(log.contains("valid: skipped 1 bad pair (1 size mismatch), 1 left"), log.toString());
        // data check: the same line as an error, or with --skip-bad the same skip lines as warnings
        String strict = print(DatasetCheck.run(spec, 1, null));
        assertTrue(strict.contains("error: " + mismatch), strict);
        String lenient = print(DatasetCheck.run(spec.withSkipBad(true), 1, null));
        assertTrue(lenient.contains("warning: skipped: " + mismatch), lenient);
        assertTrue(lenient.contains("valid: skipped 1 bad pair (1 size mismatch), 1 left"), lenient);
        assertTrue(lenient.contains("result: ok"), lenient);
    }

    @Test
    void anEmptyValidationSplitFailsTheCheckAsTrainRefusesIt() throws IOException {
        Path root = tutorial("novalid", p -> Fixtures.writePng(new BufferedImage(8, 6, BufferedImage.TYPE_BYTE_GRAY), p));
        Files.delete(root.resolve("valid_images/a.png"));
        Files.delete(root.resolve("valid_labels/a.png"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Datasets.openValidated(DatasetSpec.ofDir(root), null));
        DatasetCheck.Report r = DatasetCheck.run(DatasetSpec.ofDir(root), 1, null);
        assertFalse(r.trainable(), print(r));
        assertTrue(print(r).contains("error: " + e.getMessage()), "same words: " + e.getMessage() + "\n" + print(r));
        assertTrue(e.getMessage().contains("no image/mask pairs in the validation split"), e.getMessage());
    }

    @Test
    void anOrientationTagThatExplainsAMismatchIsNamed() throws IOException {
        // orient6.jpg: 40x28 stored, shown 28x40; a mask drawn on the stored pixels is 40x28
        Path root = dir.resolve("exif");
        for (String split : new String[] {"train", "valid"}) {
            Files.createDirectories(root.resolve(split + "_images"));
            try (InputStream in = DatasetRulesTest.class.getResourceAsStream("/images/orient6.jpg")) {
                Files.copy(in, root.resolve(split + "_images/a.jpg"));
            }
            Fixtures.writePng(new BufferedImage(split.equals("train") ? 28 : 40, split.equals("train") ? 40 : 28, BufferedImage.TYPE_BYTE_GRAY),
                    root.resolve(split + "_labels/a.png"));
        }
        DatasetCheck.Report r = DatasetCheck.run(DatasetSpec.ofDir(root), 1, null);
        String text = print(r);
        // train's mask fits the upright picture: fine; valid's fits only the stored pixels: named, with the tag
        assertEquals(0, r.splits().get(0).badPairs(), text);
        assertEquals(1, r.splits().get(1).badPairs(), text);
        assertTrue(text.contains("mask is 40x28 but its image a.jpg is 28x40 as displayed: its EXIF orientation 6 (rotate 90° clockwise)"), text);
        // training loads the upright picture with the upright mask
        SegDataset train = Datasets.open(DatasetSpec.ofDir(root), null).train();
        SegDataset.Item item = train.load(0);
        assertEquals(28, item.image().width);
        assertEquals(40, item.image().height);
    }
}
