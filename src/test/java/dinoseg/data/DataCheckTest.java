package dinoseg.data;

import dinoseg.cli.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@code dinoseg data check}: output and exit status on good and bad trees. */
class DataCheckTest {

    record Result(int exit, String out, String err) {
        List<String> outLines() { return Arrays.asList(out.split("\\R")); }
    }

    static Result check(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        String[] full = new String[args.length + 2];
        full[0] = "data";
        full[1] = "check";
        System.arraycopy(args, 0, full, 2, args.length);
        int exit = cl.execute(full);
        return new Result(exit, out.toString(), err.toString());
    }

    private static void assertNoStackTrace(Result r) {
        for (String s : List.of(r.out(), r.err())) {
            assertFalse(s.contains("\tat "), s);
            assertFalse(s.contains("Exception"), s);
        }
    }

    private static Path goodTree(Path tmp) throws Exception {
        return Fixtures.rgbTree(tmp.resolve("ds"), ClassSet.voc(), 4, 2, 24, 16, 3, null);
    }

    @Test
    void goodTreeReportsCountsAndSharesAndExitsZero(@TempDir Path tmp) throws Exception {
        Path ds = goodTree(tmp);
        Result r = check("--data", ds.toString(), "--threads", "2");
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().startsWith("dataset " + ds + " (tutorial layout): 4 train / 2 valid pairs, 21 classes"), r.out());
        assertTrue(r.out().contains("train: 4 pairs (0 bad), masks read as rgb (RGB)"), r.out());
        assertTrue(r.out().contains("valid: 2 pairs (0 bad)"), r.out());
        assertTrue(r.out().contains("pixel share per class:"), r.out());
        assertTrue(r.out().contains("0 background"), r.out());
        assertTrue(r.out().contains("20 tvmonitor"), r.out());
        assertTrue(r.out().contains("(ignored)"), r.out());
        assertTrue(r.out().contains("result: ok"), r.out());
        assertNoStackTrace(r);
        // the class shares add up to 100%
        DatasetCheck.Report rep = DatasetCheck.run(DatasetSpec.ofDir(ds), 1, null);
        DatasetCheck.SplitStats s = rep.splits().get(0);
        assertEquals(4L * 24 * 16, s.labelledPixels() + s.ignoredPixels());
        assertTrue(s.ignoredPixels() > 0); // block boundaries in the boundary colour
    }

    @Test
    void vocTreeChecksClean(@TempDir Path tmp) throws Exception {
        Path devkit = Fixtures.vocTree(tmp, 2, 2, 20, 20, 8);
        Result r = check("--data", devkit.toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("(voc layout): 2 train / 2 valid pairs"), r.out());
        assertTrue(r.out().contains("masks read as index (palettized)"), r.out());
    }

    @Test
    void zeroByteAndCorruptImagesAreErrorsNamingTheFile(@TempDir Path tmp) throws Exception {
        Path ds = goodTree(tmp);
        Path empty = ds.resolve("train_images/train0.jpg"), junk = ds.resolve("valid_images/valid1.jpg");
        Files.write(empty, new byte[0]);
        Fixtures.corrupt(junk);
        Result r = check("--data", ds.toString());
        assertEquals(1, r.exit(), r.out());
        assertTrue(r.outLines().contains("error: " + empty + ": empty file (0 bytes)"), r.out());
        assertTrue(r.outLines().stream().anyMatch(l -> l.startsWith("error: " + junk + ": ")), r.out());
        assertTrue(r.out().contains("train: 4 pairs (1 bad)"), r.out());
        assertTrue(r.out().contains("result: the dataset cannot be trained on (2 errors"), r.out());
        assertNoStackTrace(r);
        // --skip-bad turns them into warnings: training would skip them
        Result skip = check("--data", ds.toString(), "--skip-bad");
        assertEquals(0, skip.exit(), skip.out());
        // the words train and eval use for a skipped pair
        assertTrue(skip.outLines().contains("warning: skipped: " + empty + ": empty file (0 bytes)"), skip.out());
        assertTrue(skip.outLines().contains("warning: train: skipped 1 bad pair (1 unreadable), 3 left"), skip.out());
    }

    @Test
    void truncatedJpegIsCorrupt(@TempDir Path tmp) throws Exception {
        Path ds = goodTree(tmp);
        Path img = ds.resolve("train_images/train3.jpg");
        byte[] bytes = Files.readAllBytes(img);
        Files.write(img, Arrays.copyOf(bytes, bytes.length / 2));
        Result r = check("--data", ds.toString());
        assertEquals(1, r.exit(), r.out());
        assertTrue(r.outLines().stream().anyMatch(l -> l.startsWith("error: " + img + ": corrupt")), r.out());
    }

    @Test
    void sizeMismatchIsAnErrorNamingTheMask(@TempDir Path tmp) throws Exception {
        Path ds = goodTree(tmp);
        Path mask = ds.resolve("train_labels/train2.png");
        MaskIO.writeRgbPng(mask.toFile(), new int[10 * 10], 10, 10, Palette.voc());
        Result r = check("--data", ds.toString());
        assertEquals(1, r.exit());
        assertTrue(r.outLines().contains("error: " + mask + ": mask is 10x10 but its image train2.jpg is 24x16"), r.out());
        assertNoStackTrace(r);
    }

    @Test
    void missingFolderIsOneLineOnStderr(@TempDir Path tmp) throws Exception {
        Result r = check("--data", tmp.resolve("nowhere").toString());
        assertEquals(1, r.exit());
        assertEquals("error: " + tmp.resolve("nowhere") + ": folder does not exist", r.err().strip());
        Path ds = goodTree(tmp);
        r = check("--train-images", ds.resolve("train_images").toString(), "--train-masks", ds.resolve("train_labels").toString(),
                "--valid-images", ds.resolve("valid_images").toString(), "--valid-masks", ds.resolve("missing").toString());
        assertEquals(1, r.exit());
        assertEquals("error: " + ds.resolve("missing") + ": folder does not exist", r.err().strip());
        assertNoStackTrace(r);
    }

    @Test
    void unknownColoursAreWarnedPerFileAndCounted(@TempDir Path tmp) throws Exception {
        Path ds = goodTree(tmp);
        Path mask = ds.resolve("train_labels/train1.png");
        BufferedImage m = javax.imageio.ImageIO.read(mask.toFile());
        for (int x = 0; x < 5; x++) m.setRGB(x, 3, 0x0A0B0C);
        MaskIO.writePng(m, mask.toFile());
        Result r = check("--data", ds.toString());
        assertEquals(0, r.exit(), r.out()); // ignored, so still trainable
        Result voc = check("--data", ds.toString(), "--classes", "voc");
        assertTrue(voc.out().contains("21 classes; ignore index 255"), voc.out());
        assertTrue(r.outLines().contains("warning: " + mask + ": 5 pixels of unknown colours (first colour (10,11,12)), ignored"), r.out());
        assertTrue(r.out().contains("5 unknown-colour/id pixels in 1 files"), r.out());
        // with a class set that knows none of the colours nothing can be learnt
        Path cls = tmp.resolve("c.json");
        Files.writeString(cls, "{\"classes\": [{\"name\": \"x\", \"color\": [1,1,1]}, {\"name\": \"y\", \"color\": [2,2,2]}]}");
        Result none = check("--data", ds.toString(), "--classes", cls.toString());
        assertEquals(1, none.exit(), none.out());
        assertTrue(none.out().contains("no pixel of a known class"), none.out());
    }

    @Test
    void unpairedFilesAreWarnings(@TempDir Path tmp) throws Exception {
        Path ds = goodTree(tmp);
        Path lonely = ds.resolve("valid_labels/extra.png");
        MaskIO.writeRgbPng(lonely.toFile(), new int[4], 2, 2, Palette.voc());
        Result r = check("--data", ds.toString(), "--mask-format", "rgb");
        assertEquals(0, r.exit(), r.out());
        assertTrue(r.outLines().contains("warning: " + lonely + ": mask has no image in " + ds.resolve("valid_images")), r.out());
        Result bad = check("--data", ds.toString(), "--mask-format", "colour");
        assertEquals(2, bad.exit(), "a bad flag value is a usage error");
        assertEquals("error: --mask-format: 'colour' is not one of rgb, index, auto (see 'dinoseg data check --help')", bad.err().strip());
    }
}
