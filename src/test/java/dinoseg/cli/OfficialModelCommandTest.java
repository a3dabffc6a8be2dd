package dinoseg.cli;

import static dinoseg.cli.CliRun.run;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dinoseg.checkpoint.OfficialModels;
import dinoseg.checkpoint.OfficialModelsTest;
import dinoseg.cli.CliRun.Run;
import dinoseg.data.MaskIO;
import dinoseg.data.Palette;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --model NAME|FILE} on infer and eval, with the fetch function pointed at the tiny fixtures
 * of tools/gen_official_head_golden.py (registered as dinov2_tiny14_*; their "published" settings
 * are short side 28, scales 1.0 and 1.5, flips, 28/14 windows).
 */
class OfficialModelCommandTest {
    @TempDir static Path shared;
    static Function<String, Path> saved;

    @BeforeAll static void setUp() {
        OfficialModelsTest.registerTiny();
        saved = OfficialModels.fetcher;
        OfficialModels.fetcher = OfficialModelsTest.local();
    }

    @AfterAll static void restore() { OfficialModels.fetcher = saved; }

    static Path image(Path dir, String name, int w, int h, long seed) throws Exception {
        Path f = dir.resolve(name);
        InferCommandTest.image(f, w, h, seed);
        return f;
    }

    @Test void inferWithAnOfficialNameUsesItsPublishedSettingsAndWritesMasks(@TempDir Path dir) throws Exception {
        Path img = image(dir, "street.png", 61, 40, 5), out = dir.resolve("out");
        Run r = run("infer", "--model", "dinov2_tiny14_voc2012_ms", "--input", img.toString(), "--out-dir", out.toString(), "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("21 classes [background, aeroplane"), r.err());
        assertTrue(r.err().contains("inference at short side 28, scales [1.0, 1.5], + flips, sliding window 28 stride 14"), r.err());
        BufferedImage mask = ImageIO.read(out.resolve("street_mask.png").toFile());
        assertEquals(61, mask.getWidth());
        assertEquals(40, mask.getHeight());
        int[] ids = mask.getRaster().getPixels(0, 0, 61, 40, (int[]) null);
        for (int v : ids) assertTrue(v >= 0 && v < 21, "class id " + v);
        assertTrue(java.util.Arrays.stream(ids).distinct().count() > 1, "a random model on a random picture predicts several classes");
        assertTrue(Files.size(out.resolve("street_overlay.png")) > 0);
    }

    @Test void flagsOverrideThePublishedSettingsOneByOne(@TempDir Path dir) throws Exception {
        Path img = image(dir, "a.png", 30, 30, 6);
        Run r = run("infer", "--model", "DINOV2_TINY14_VOC2012_MS", "--input", img.toString(), "--out-dir", dir.resolve("o").toString(),
                "--device", "cpu", "--no-flip", "--tta", "1.0", "--slide", "42", "42", "--imgsz", "56", "42");
        assertEquals(0, r.code(), r.err());
        String line = r.err().lines().filter(l -> l.contains("inference at")).findFirst().orElse("");
        assertTrue(line.endsWith("inference at 56x42, scales [1.0], sliding window 42 stride 42"), r.err());
        Run lin = run("infer", "--model", "dinov2_tiny14_ade20k_linear", "--input", img.toString(), "--out-dir", dir.resolve("l").toString(),
                "--device", "cpu", "--no-flip");
        assertEquals(0, lin.code(), lin.err());
        assertTrue(lin.err().contains("150 classes [wall, building, sky"), lin.err());
        assertTrue(lin.err().contains("inference at short side 28, scales [1.0, 1.5], sliding window 28 stride 14"), lin.err());
    }

    @Test void modelAlsoTakesOurCheckpointFile(@TempDir Path dir) throws Exception {
        Path ck = InferCommandTest.tinyCheckpoint(dir), img = image(dir, "b.png", 20, 20, 7);
        Run r = run("infer", "--model", ck.toString(), "--input", img.toString(), "--out-dir", dir.resolve("o").toString(), "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("3 classes [background, circle, square]; inference at 42x28"), r.err());
    }

    @Test void exactlyOneModelFlagAndKnownNames(@TempDir Path dir) throws Exception {
        Path img = image(dir, "c.png", 20, 20, 8), ck = InferCommandTest.tinyCheckpoint(dir);
        assertUsage(run("infer", "--input", img.toString(), "--out-dir", dir.toString()), "give the model: --model NAME");
        assertUsage(run("infer", "--model", "dinov2_tiny14_voc2012_ms", "--checkpoint", ck.toString(), "--input", img.toString(),
                "--out-dir", dir.toString()), "give --model or --checkpoint, not both");
        assertUsage(run("infer", "--model", "dinov2_vits14_voc2012_lineer", "--input", img.toString(), "--out-dir", dir.toString()),
                "--model dinov2_vits14_voc2012_lineer: neither an official model name");
        assertUsage(run("eval", "--model", "nothing_here", "--data", dir.toString()), "--model nothing_here: neither an official model name");
    }

    /**
     * The real path: {@code --model NAME} through the weights cache ({@link OfficialModels#fetcher}'s default)
     * from a local server laid out as dl.fbaipublicfiles.com/dinov2: first run downloads backbone and head, the
     * second runs from the cache with the server gone; offline with an empty cache is one line that names the
     * file and how to get it, and sends no request.
     */
    @Test void namesDownloadThroughTheCacheFromALocalServer(@TempDir Path dir) throws Exception {
        Path img = image(dir, "d.png", 30, 20, 9);
        Function<String, Path> f = OfficialModels.fetcher;
        String[] props = {"DINOSEG_DINOV2_URL", "DINOSEG_CACHE", "DINOSEG_OFFLINE"};
        java.util.Map<String, String> old = new java.util.HashMap<>();
        for (String p : props) old.put(p, System.getProperty(p));
        OfficialModels.fetcher = dinoseg.checkpoint.WeightsHub::fetchOfficial;
        try (dinoseg.checkpoint.LocalHub hub = new dinoseg.checkpoint.LocalHub()) {
            for (String rel : List.of("dinov2_tiny14/dinov2_tiny14_pretrain.pth", "dinov2_tiny14/dinov2_tiny14_voc2012_linear_head.pth"))
                hub.file("/dinov2/" + rel, java.nio.file.Files.readAllBytes(OfficialModelsTest.local().apply(rel)), -1, java.util.Map.of());
            System.setProperty("DINOSEG_DINOV2_URL", hub.base() + "/dinov2");
            System.setProperty("DINOSEG_CACHE", dir.resolve("cache").toString());
            Run first = run("infer", "--model", "dinov2_tiny14_voc2012_linear", "--input", img.toString(), "--out-dir", dir.resolve("o1").toString(),
                    "--device", "cpu");
            assertEquals(0, first.code(), first.err());
            assertEquals(2, hub.log.size(), hub.log.toString());
            hub.close();
            Run second = run("infer", "--model", "dinov2_tiny14_voc2012_linear", "--input", img.toString(), "--out-dir", dir.resolve("o2").toString(),
                    "--device", "cpu");
            assertEquals(0, second.code(), second.err());
            assertArrayEquals(java.nio.file.Files.readAllBytes(dir.resolve("o1/d_mask.png")), java.nio.file.Files.readAllBytes(dir.resolve("o2/d_mask.png")));
            System.setProperty("DINOSEG_CACHE", dir.resolve("empty").toString());
            System.setProperty("DINOSEG_OFFLINE", "1");
            Run off = run("infer", "--model", "dinov2_tiny14_voc2012_linear", "--input", img.toString(), "--out-dir", dir.resolve("o3").toString(),
                    "--device", "cpu");
            assertEquals(1, off.code(), off.err());
            List<String> lines = off.err().lines().filter(l -> l.startsWith("error:")).toList();
            assertEquals(1, lines.size(), off.err());
            assertTrue(lines.get(0).contains("dinov2_tiny14_pretrain.pth") && lines.get(0).contains("DINOSEG_OFFLINE"), off.err());
        } finally {
            OfficialModels.fetcher = f;
            for (String p : props) {
                if (old.get(p) == null) System.clearProperty(p);
                else System.setProperty(p, old.get(p));
            }
        }
    }

    static void assertUsage(Run r, String contains) {
        assertEquals(2, r.code(), r.err());
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.get(0).startsWith("error: ") && lines.get(0).contains(contains), lines.get(0));
        assertFalse(r.err().contains("\tat "), r.err());
    }

    /** A two-image VOC tree (JPEGImages, SegmentationClass with VOC palette PNGs, ImageSets/Segmentation). */
    static Path vocTree(Path root) throws Exception {
        Path voc = root.resolve("VOCdevkit/VOC2012");
        Path jpg = Files.createDirectories(voc.resolve("JPEGImages")), seg = Files.createDirectories(voc.resolve("SegmentationClass"));
        Path sets = Files.createDirectories(voc.resolve("ImageSets/Segmentation"));
        for (int i = 0; i < 2; i++) {
            String id = "2007_00000" + i;
            int w = 33 + 7 * i, h = 29;
            BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
            java.util.Random r = new java.util.Random(i);
            int[] ids = new int[w * h];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    img.setRGB(x, y, r.nextInt(1 << 24));
                    ids[y * w + x] = x < w / 2 ? 0 : y < h / 2 ? 15 : 255;
                }
            assertTrue(ImageIO.write(img, "jpg", jpg.resolve(id + ".jpg").toFile()));
            MaskIO.writeIndexPng(seg.resolve(id + ".png").toFile(), ids, w, h, Palette.voc());
        }
        Files.writeString(sets.resolve("train.txt"), "2007_000000\n");
        Files.writeString(sets.resolve("val.txt"), "2007_000000\n2007_000001\n");
        return root.resolve("VOCdevkit");
    }

    @Test void evalWithAnOfficialNameScoresWithThePublishedSettings(@TempDir Path dir) throws Exception {
        Path data = vocTree(dir), json = dir.resolve("eval.json");
        Run r = run("eval", "--model", "dinov2_tiny14_voc2012_ms", "--data", data.toString(), "--device", "cpu", "--out", json.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("dinov2_tiny14_voc2012_ms: inference at short side 28, scales [1.0, 1.5], + flips, sliding window 28 stride 14 (published test settings)"),
                r.err());
        JsonObject j = JsonParser.parseString(Files.readString(json)).getAsJsonObject();
        assertEquals(21, j.getAsJsonObject("per_class_iou").size());
        double loss = j.get("loss").getAsDouble();   // with several views: mean -ln p(true class)
        assertTrue(Double.isFinite(loss) && loss > 0, j.toString());
        assertTrue(Files.exists(dir.resolve("eval_confusion.png")));
        // without dataset flags an official model has no training data to fall back on
        Run none = run("eval", "--model", "dinov2_tiny14_voc2012_ms", "--device", "cpu");
        assertTrue(none.code() != 0, none.err());
        assertFalse(none.err().contains("\tat "), none.err());
    }
}
