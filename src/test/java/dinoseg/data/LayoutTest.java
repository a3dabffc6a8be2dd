package dinoseg.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class LayoutTest {

    @Test
    void vocDevkitWithPalettizedMasksAndBoundaries(@TempDir Path tmp) throws Exception {
        Path devkit = Fixtures.vocTree(tmp, 3, 2, 40, 32, 5);
        List<String> log = new ArrayList<>();
        for (Path dir : List.of(devkit, devkit.resolve("VOC2012"))) { // DIR may be VOCdevkit or VOC2012
            Datasets.Opened o = Datasets.open(DatasetSpec.ofDir(dir), log::add);
            assertEquals(Datasets.Layout.VOC, o.layout());
            assertEquals(3, o.train().size());
            assertEquals(2, o.valid().size());
            assertEquals("2007_000000", o.train().sample(0).id());
            assertEquals("2007_000003", o.valid().sample(0).id());
            assertTrue(o.unpaired().isEmpty(), o.unpaired().toString());
            assertEquals(21, o.classes().size());
        }
        // labels come back exactly: palette index = class id, 255 boundary = ignore
        Datasets.Opened o = Datasets.open(DatasetSpec.ofDir(devkit), log::add);
        Random r = new Random(5);
        int[] first = Fixtures.blockLabels(r, 40, 32, 21, 255);
        SegDataset.Item item = o.train().load(0);
        assertEquals(MaskFormat.INDEX, item.mask().format());
        assertArrayEquals(first, item.mask().labels());
        assertEquals(0, item.mask().unknownPixels());
        assertEquals(40, item.image().width);
        assertEquals(32, item.image().height);
        assertTrue(log.stream().anyMatch(l -> l.contains("auto chose index") && l.contains("palettized")), log.toString());
        // the same palettized masks read as colours give the same labels (boundary colour -> ignore)
        Datasets.Opened rgb = Datasets.open(DatasetSpec.ofDir(devkit).withMaskFormat(MaskFormat.RGB), null);
        for (int i = 0; i < 3; i++) assertArrayEquals(o.train().load(i).mask().labels(), rgb.train().load(i).mask().labels());
    }

    @Test
    void vocSplitListNamingMissingFilesIsReported(@TempDir Path tmp) throws Exception {
        Path devkit = Fixtures.vocTree(tmp, 2, 1, 24, 24, 6);
        Path list = devkit.resolve("VOC2012/ImageSets/Segmentation/train.txt");
        Files.writeString(list, Files.readString(list) + "2007_777777\n");
        Files.delete(devkit.resolve("VOC2012/SegmentationClass/2007_000001.png"));
        Datasets.Opened o = Datasets.open(DatasetSpec.ofDir(devkit), null);
        assertEquals(1, o.train().size());
        assertEquals(2, o.unpaired().size(), o.unpaired().toString());
        assertTrue(o.unpaired().get(0).startsWith(devkit.resolve("VOC2012/JPEGImages/2007_000001.jpg") + ": image has no mask"));
        assertTrue(o.unpaired().get(1).contains("'2007_777777' has neither an image"));
    }

    @Test
    void tutorialLayoutWithRgbMasksAndBoundaryColour(@TempDir Path tmp) throws Exception {
        ClassSet voc = ClassSet.voc();
        List<int[]> labels = new ArrayList<>();
        Path dir = Fixtures.rgbTree(tmp.resolve("ds"), voc, 3, 2, 33, 27, 11, labels);
        Files.writeString(dir.resolve("train_images").resolve("orphan.jpg"), "x");
        Datasets.Opened o = Datasets.open(DatasetSpec.ofDir(dir), null);
        assertEquals(Datasets.Layout.TUTORIAL, o.layout());
        assertEquals(3, o.train().size());
        assertEquals(2, o.valid().size());
        assertEquals(List.of(dir.resolve("train_images/orphan.jpg") + ": image has no mask orphan.png in " + dir.resolve("train_labels")), o.unpaired());
        for (int i = 0; i < 3; i++) {
            LabelMap m = o.train().load(i).mask();
            assertEquals(MaskFormat.RGB, m.format());
            assertArrayEquals(labels.get(i), m.labels(), "train " + i);
            assertEquals(0, m.unknownPixels());
        }
        assertArrayEquals(labels.get(3), o.valid().load(0).mask().labels());
    }

    @Test
    void explicitIndexMasksWithCustomIgnoreId(@TempDir Path tmp) throws Exception {
        Path classes = tmp.resolve("classes.json");
        Files.writeString(classes, "{\"classes\": [{\"name\": \"a\"}, {\"name\": \"b\"}, {\"name\": \"c\"}], \"ignore_index\": 7}");
        ClassSet cs = ClassSet.load(classes);
        Random r = new Random(3);
        int w = 20, h = 16;
        List<int[]> written = new ArrayList<>();
        for (String split : List.of("tr", "va")) {
            for (int i = 0; i < 2; i++) {
                int[] ids = Fixtures.blockLabels(r, w, h, 3, 7);
                if (i == 1) ids[5] = 5; // out of range: counted, then ignored
                Fixtures.writePng(Fixtures.imageFor(r, ids, w, h), tmp.resolve(split + "_img").resolve("s" + i + ".png"));
                Files.createDirectories(tmp.resolve(split + "_msk"));
                MaskIO.writeGreyPng(tmp.resolve(split + "_msk").resolve("s" + i + ".png").toFile(), ids, w, h);
                written.add(ids);
            }
        }
        DatasetSpec spec = DatasetSpec.explicit(tmp.resolve("tr_img"), tmp.resolve("tr_msk"), tmp.resolve("va_img"), tmp.resolve("va_msk"))
                .withClasses(cs).withMaskFormat(MaskFormat.INDEX);
        List<String> log = new ArrayList<>();
        Datasets.Opened o = Datasets.open(spec, log::add);
        assertEquals(Datasets.Layout.EXPLICIT, o.layout());
        assertEquals(7, o.classes().ignoreIndex());
        LabelMap m0 = o.train().load(0).mask();
        assertArrayEquals(written.get(0), m0.labels());
        LabelMap m1 = o.train().load(1).mask();
        assertEquals(1, m1.unknownPixels());
        assertEquals(5, m1.firstUnknown());
        int[] expected = written.get(1).clone();
        expected[5] = 7;
        assertArrayEquals(expected, m1.labels());
        assertEquals(1, o.train().unknownPixels());
        assertEquals(1, log.stream().filter(l -> l.startsWith("warning: train:") && l.contains("unknown id 5")).count(), log.toString());
        o.train().load(1); // reported once per dataset
        assertEquals(1, log.stream().filter(l -> l.startsWith("warning:")).count());
        // the classes.json next to the train images folder is the default class set
        Datasets.Opened dflt = Datasets.open(spec.withClasses(null), null);
        assertEquals(List.of("a", "b", "c"), dflt.classes().names());
    }

    @Test
    void rgbAndIndexVersionsOfTheSameMasksGiveIdenticalLabels(@TempDir Path tmp) throws Exception {
        ClassSet voc = ClassSet.voc();
        Random r = new Random(42);
        for (int t = 0; t < 5; t++) {
            int w = 7 + r.nextInt(30), h = 5 + r.nextInt(30);
            int[] ids = new int[w * h];
            for (int i = 0; i < ids.length; i++) ids[i] = r.nextInt(10) == 0 ? 255 : r.nextInt(21);
            Path rgb = tmp.resolve("rgb" + t + ".png"), pal = tmp.resolve("pal" + t + ".png"), grey = tmp.resolve("grey" + t + ".png");
            MaskIO.writeRgbPng(rgb.toFile(), ids, w, h, voc.palette());
            MaskIO.writeIndexPng(pal.toFile(), ids, w, h, voc.palette());
            MaskIO.writeGreyPng(grey.toFile(), ids, w, h);
            LabelMap a = MaskIO.read(rgb, voc, MaskFormat.RGB);
            LabelMap b = MaskIO.read(pal, voc, MaskFormat.INDEX);
            LabelMap c = MaskIO.read(grey, voc, MaskFormat.AUTO);
            LabelMap d = MaskIO.read(pal, voc, MaskFormat.RGB);
            LabelMap e = MaskIO.read(rgb, voc, MaskFormat.AUTO);
            assertArrayEquals(ids, a.labels());
            assertArrayEquals(a.labels(), b.labels());
            assertArrayEquals(a.labels(), c.labels());
            assertArrayEquals(a.labels(), d.labels());
            assertArrayEquals(a.labels(), e.labels());
            assertEquals(MaskFormat.INDEX, c.format());
            assertEquals(MaskFormat.RGB, e.format());
        }
    }

    @Test
    void writeIndexPngIsPalettizedWithTheRawIdAsPixelValue(@TempDir Path tmp) throws Exception {
        int[] ids = {0, 1, 2, 255, 20, 3};
        Path f = tmp.resolve("m.png");
        MaskIO.writeIndexPng(f.toFile(), ids, 3, 2, Palette.voc());
        BufferedImage img = ImageIO.read(f.toFile());
        assertInstanceOf(IndexColorModel.class, img.getColorModel());
        assertArrayEquals(ids, img.getRaster().getSamples(0, 0, 3, 2, 0, new int[6]));
        assertEquals(0xFF000000 | (128 << 16), img.getRGB(1, 0));
        assertThrows(IllegalArgumentException.class, () -> MaskIO.writeIndexPng(f.toFile(), new int[] {300}, 1, 1, Palette.voc()));
    }

    @Test
    void unknownColoursAreCountedNotTurnedIntoBackground(@TempDir Path tmp) throws Exception {
        BufferedImage m = new BufferedImage(4, 1, BufferedImage.TYPE_INT_RGB);
        m.setRGB(0, 0, 0);
        m.setRGB(1, 0, 128 << 16);
        m.setRGB(2, 0, 0x123456);
        m.setRGB(3, 0, Palette.VOC_BOUNDARY_RGB);
        Path f = tmp.resolve("m.png");
        Fixtures.writePng(m, f);
        LabelMap l = MaskIO.read(f, ClassSet.voc(), MaskFormat.RGB);
        assertArrayEquals(new int[] {0, 1, 255, 255}, l.labels());
        assertEquals(1, l.unknownPixels());
        assertEquals("colour (18,52,86)", l.describeUnknown());
    }

    @Test
    void missingAndUnrecognisedFoldersFailWithOneLine(@TempDir Path tmp) throws Exception {
        Path nope = tmp.resolve("nope");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Datasets.open(DatasetSpec.ofDir(nope), null));
        assertEquals(nope + ": folder does not exist", e.getMessage());
        Files.createDirectories(tmp.resolve("empty"));
        e = assertThrows(IllegalArgumentException.class, () -> Datasets.open(DatasetSpec.ofDir(tmp.resolve("empty")), null));
        assertTrue(e.getMessage().startsWith(tmp.resolve("empty") + ": not a dataset folder"), e.getMessage());
        Path ds = Fixtures.rgbTree(tmp.resolve("ds"), ClassSet.voc(), 1, 1, 8, 8, 1, null);
        try (var s = Files.list(ds.resolve("valid_labels"))) {
            for (Path p : s.toList()) Files.delete(p);
        }
        Files.delete(ds.resolve("valid_labels"));
        e = assertThrows(IllegalArgumentException.class, () -> Datasets.open(DatasetSpec.ofDir(ds), null));
        assertEquals(ds.resolve("valid_labels") + ": folder does not exist", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Datasets.open(DatasetSpec.explicit(ds.resolve("train_images"), ds.resolve("train_labels"), ds.resolve("valid_images"), tmp.resolve("vm")), null));
        assertEquals(tmp.resolve("vm") + ": folder does not exist", e.getMessage());
    }

    @Test
    void trainingRefusesBadPairsUnlessSkipBad(@TempDir Path tmp) throws Exception {
        Path ds = Fixtures.rgbTree(tmp.resolve("ds"), ClassSet.voc(), 3, 1, 16, 16, 2, null);
        Path bad = ds.resolve("train_images/train1.jpg");
        Files.write(bad, new byte[0]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Datasets.openValidated(DatasetSpec.ofDir(ds), null));
        assertTrue(e.getMessage().startsWith(bad + ": empty file (0 bytes)"), e.getMessage());
        assertTrue(e.getMessage().endsWith("pass --skip-bad"), e.getMessage());
        List<String> log = new ArrayList<>();
        Datasets.Opened o = Datasets.openValidated(DatasetSpec.ofDir(ds).withSkipBad(true), log::add);
        assertEquals(2, o.train().size());
        assertTrue(log.contains("skipped: " + bad + ": empty file (0 bytes)"), log.toString());
        // a JPEG cut short keeps a readable header: validation decodes it fully and refuses it too
        Path cut = ds.resolve("train_images/train2.jpg");
        byte[] bytes = Files.readAllBytes(cut);
        Files.write(cut, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        e = assertThrows(IllegalArgumentException.class, () -> Datasets.openValidated(DatasetSpec.ofDir(ds), null));
        assertTrue(e.getMessage().contains("(and 1 more bad pairs in train)"), e.getMessage());
        log.clear();
        assertEquals(1, Datasets.openValidated(DatasetSpec.ofDir(ds).withSkipBad(true), log::add).train().size());
        assertTrue(log.stream().anyMatch(l -> l.startsWith("skipped: " + cut + ": corrupt")), log.toString());
        // a decode-time failure names the file in one line
        e = assertThrows(IllegalArgumentException.class, () -> Datasets.open(DatasetSpec.ofDir(ds), null).train().load(1));
        assertEquals(bad + ": empty file (0 bytes)", e.getMessage());
    }
}
