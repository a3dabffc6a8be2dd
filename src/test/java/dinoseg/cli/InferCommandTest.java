package dinoseg.cli;

import static dinoseg.cli.CliRun.run;

import dinoseg.cli.CliRun.Run;

import dinoseg.backend.Backends;
import dinoseg.data.ClassSet;
import dinoseg.checkpoint.ModelCheckpoint;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.SegmentationHead;
import org.bytedeco.javacv.FFmpegFrameGrabber;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** End to end: a tiny random checkpoint written by ModelCheckpoint, run through the command line. */
class InferCommandTest {
    static final ClassSet CLASSES = new ClassSet(List.of("background", "circle", "square"), null, 255);

    @TempDir static Path shared;
    static Path checkpoint;

    @BeforeAll static void writeCheckpoint() throws Exception { checkpoint = tinyCheckpoint(shared); }

    /** A random tiny model (3 classes, 28x28) saved as DIR/tiny.safetensors, the checkpoint these tests infer with. */
    static Path tinyCheckpoint(Path dir) throws Exception {
        BackboneConfig tiny = new BackboneConfig("tiny", 24, 2, 2, 0, false, 14, 2.0, 4, 1f);
        Dinov2Segmentation m = Dinov2Segmentation.create(Backends.cpu(), tiny, SegmentationHead.Kind.LINEAR, 3, null, 7);
        Path f = dir.resolve("tiny.safetensors");
        ModelCheckpoint.save(f, m, CLASSES, 42, 28, null, false);
        return f;
    }


    static void image(Path f, int w, int h, long seed) throws Exception {
        java.util.Random r = new java.util.Random(seed);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.setRGB(x, y, r.nextInt(1 << 24));
        assertTrue(ImageIO.write(img, "png", f.toFile()));
    }

    @Test void aFolderWithAnOddSizedImageAndACorruptFile(@TempDir Path dir) throws Exception {
        Path in = Files.createDirectories(dir.resolve("in")), out = dir.resolve("out");
        image(in.resolve("odd.png"), 37, 23, 1);
        Files.write(in.resolve("corrupt.jpg"), new byte[] {(byte) 0xFF, (byte) 0xD8, (byte) 0xFF, (byte) 0xE0, 0, 16, 'J', 'F'});
        Run r = run("infer", "--checkpoint", checkpoint.toString(), "--input", in.toString(), "--out-dir", out.toString(),
                "--device", "cpu", "--tta", "1.0,1.25", "--flip", "--alpha", "0.6");
        assertEquals(1, r.code(), r.err());
        List<String> errors = r.err().lines().filter(l -> l.startsWith("error:")).toList();
        assertEquals(1, errors.size(), r.err());
        assertTrue(errors.get(0).contains("corrupt.jpg"), errors.get(0));
        assertTrue(r.out().contains("odd.png") && r.out().contains("1 image segmented") && r.out().contains("1 failed"), r.out());
        for (String suffix : new String[] {"_mask.png", "_overlay.png"}) {
            BufferedImage img = ImageIO.read(out.resolve("odd" + suffix).toFile());
            assertEquals(37, img.getWidth(), suffix);
            assertEquals(23, img.getHeight(), suffix);
        }
        int[] ids = ImageIO.read(out.resolve("odd_mask.png").toFile()).getRaster().getPixels(0, 0, 37, 23, (int[]) null);
        for (int v : ids) assertTrue(v >= 0 && v < 3, "class id " + v);
        assertFalse(Files.exists(out.resolve("corrupt_mask.png")));
    }

    @Test void aSingleImageWithASlidingWindowSucceeds(@TempDir Path dir) throws Exception {
        Path img = dir.resolve("big.png");
        image(img, 90, 61, 2);
        Run r = run("infer", "--checkpoint", checkpoint.toString(), "--input", img.toString(), "--out-dir", dir.resolve("o").toString(),
                "--device", "cpu", "--imgsz", "70", "50", "--slide", "28", "20", "--classes", classFile(dir, CLASSES));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("sliding window 28 stride 20"), r.err());
        assertEquals(90, ImageIO.read(dir.resolve("o/big_overlay.png").toFile()).getWidth());
    }

    static String classFile(Path dir, ClassSet c) throws Exception {
        Path f = dir.resolve("classes-" + c.size() + ".json");
        c.write(f);
        return f.toString();
    }

    @Test void classesThatDoNotMatchTheCheckpointAreAClearError(@TempDir Path dir) throws Exception {
        Path img = dir.resolve("a.png");
        image(img, 20, 20, 3);
        Run r = run("infer", "--checkpoint", checkpoint.toString(), "--input", img.toString(), "--out-dir", dir.toString(),
                "--device", "cpu", "--classes", "voc");
        assertEquals(1, r.code());
        String line = r.err().lines().filter(l -> l.startsWith("error:")).findFirst().orElse("");
        assertTrue(line.contains(checkpoint.toString()) && line.contains("--classes") && line.contains("21 classes"), r.err());
    }

    @Test void aFileThatIsNotOurCheckpointIsAClearError(@TempDir Path dir) throws Exception {
        Path img = dir.resolve("a.png");
        image(img, 20, 20, 4);
        Path junk = dir.resolve("model.pth");
        Files.write(junk, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
        Run r = run("infer", "--checkpoint", junk.toString(), "--input", img.toString(), "--out-dir", dir.toString(), "--device", "cpu");
        assertEquals(1, r.code());
        List<String> lines = r.err().lines().filter(l -> l.startsWith("error:")).toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.get(0).contains(junk.toString()) && lines.get(0).contains("checkpoint"), lines.get(0));
        Run missing = run("infer", "--checkpoint", dir.resolve("nope.safetensors").toString(), "--input", img.toString(),
                "--out-dir", dir.toString(), "--device", "cpu");
        assertEquals(1, missing.code());
        assertTrue(missing.err().contains("nope.safetensors"), missing.err());
    }

    @Test void badFlagsAreRejected(@TempDir Path dir) throws Exception {
        Path img = dir.resolve("a.png");
        image(img, 20, 20, 5);
        // bad flag values are usage errors: one line naming the flag, the usage hint, exit status 2 (as the README says)
        String[][] bad = {{"--alpha", "2"}, {"--slide", "10", "20"}, {"--slide", "0", "0"}, {"--tta", "0"}, {"--imgsz", "0"},
                {"--precision", "fp16"}, {"--device", "gpu"}, {"--imgsz", "28", "--imgsz", "56"}};
        for (String command : new String[] {"infer", "infer-video"}) {
            for (String[] flags : bad) {
                List<String> args = new java.util.ArrayList<>(List.of(command, "--checkpoint", checkpoint.toString(), "--input", img.toString(),
                        command.equals("infer") ? "--out-dir" : "--out", dir.resolve(command.equals("infer") ? "o" : "o.mp4").toString()));
                args.addAll(List.of(flags));
                Run r = run(args.toArray(String[]::new));
                assertEquals(2, r.code(), args + ": " + r.err());
                List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
                assertEquals(1, lines.size(), r.err());
                assertTrue(lines.get(0).startsWith("error: " + flags[0]) && lines.get(0).endsWith(command + " --help')"), lines.get(0));
            }
        }
        Run noInput = run("infer", "--checkpoint", checkpoint.toString(), "--input", dir.resolve("none").toString(), "--out-dir", dir.toString());
        assertEquals(1, noInput.code());
        assertTrue(noInput.err().contains("none"), noInput.err());
        // an output folder that is a file: the file and the problem, not the bare path
        Path file = Files.writeString(dir.resolve("README.md"), "text");
        Run intoFile = run("infer", "--checkpoint", checkpoint.toString(), "--input", img.toString(), "--out-dir", file.toString(), "--device", "cpu");
        assertEquals(1, intoFile.code(), "a folder that cannot be made is a run-time problem (README), as in train; checked before the work");
        assertFalse(intoFile.out().contains("segmented"), "nothing was segmented");
        List<String> errors = intoFile.err().lines().filter(l -> l.startsWith("error:")).toList();
        assertEquals(1, errors.size(), intoFile.err());
        assertTrue(errors.get(0).contains("README.md") && errors.get(0).contains("is a file, not a folder"), errors.get(0));
    }

    @Test void inferVideoKeepsFrameCountAndRate(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("clip.mp4"), out = dir.resolve("seg.mp4");
        dinoseg.infer.VideoSegmenterTest.writeTestVideo(in, 64, 48, 12, 10);
        Run r = run("infer-video", "--checkpoint", checkpoint.toString(), "--input", in.toString(), "--out", out.toString(),
                "--device", "cpu", "--imgsz", "56", "42");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("12 frames") && r.out().contains("average model FPS"), r.out());
        assertTrue(r.err().contains("12/12"), r.err());
        try (FFmpegFrameGrabber g = new FFmpegFrameGrabber(out.toFile())) {
            g.start();
            assertEquals(10.0, g.getVideoFrameRate(), 1e-6);
            int n = 0;
            while (g.grabImage() != null) n++;
            assertEquals(12, n);
        }
        Path notVideo = dir.resolve("x.mp4");
        Files.writeString(notVideo, "hello");
        Run bad = run("infer-video", "--checkpoint", checkpoint.toString(), "--input", notVideo.toString(), "--out", dir.resolve("y.mp4").toString(),
                "--device", "cpu");
        assertEquals(1, bad.code());
        String line = bad.err().lines().filter(l -> l.startsWith("error:")).findFirst().orElseThrow();
        assertTrue(line.contains("x.mp4: not a video FFmpeg can read (") && !line.contains("setFormat") && !line.contains("FFmpegLogCallback"), line);
        // the writer makes MP4: another extension is refused before any work, not written as MP4 data under that name
        Run avi = run("infer-video", "--checkpoint", checkpoint.toString(), "--input", in.toString(), "--out", dir.resolve("y.avi").toString(),
                "--device", "cpu");
        assertEquals(2, avi.code(), avi.err());
        assertTrue(avi.err().contains("y.avi: the output is an H.264 MP4 video; give a name ending in .mp4"), avi.err());
        assertFalse(Files.exists(dir.resolve("y.avi")));
    }
}
