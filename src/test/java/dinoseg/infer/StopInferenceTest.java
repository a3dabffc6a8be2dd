package dinoseg.infer;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.data.ClassSet;
import dinoseg.io.Stop;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A stop (SIGINT/SIGTERM in the CLI) during {@code infer} on a folder or {@code infer-video}: the
 * image or frame in progress ends, every output file that exists is whole, no temporary file stays,
 * and the one line says which images were done.
 */
class StopInferenceTest {
    private static final ClassSet THREE = new ClassSet(List.of("a", "b", "c"), null, 255);
    private final Backend be = Backends.cpu();

    /** The pixel model, which asks {@code stop} to stop while it computes its {@code at}-th prediction. */
    private SegModel stoppingAt(int at, Stop stop) {
        FakeModels.PixelModel m = new FakeModels.PixelModel(be);
        return new SegModel() {
            int calls;

            @Override public int numClasses() { return m.numClasses(); }

            @Override public int patch() { return m.patch(); }

            @Override public Tensor logits(Tensor images, int outH, int outW) {
                if (++calls == at) stop.request("TERM", 143);
                return m.logits(images, outH, outW);
            }
        };
    }

    private static List<String> names(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test void aFolderRunStopsAfterTheImageInProgressAndSaysWhichAreDone(@TempDir Path dir) throws Exception {
        Path in = Files.createDirectories(dir.resolve("in")), out = dir.resolve("out");
        for (String n : List.of("a", "b", "c", "d", "e")) ImageInferenceTest.writeImage(in.resolve(n + ".png"), "png", 30, 20, n.hashCode());
        Stop stop = new Stop();
        Predictor p = new Predictor(be, stoppingAt(2, stop), Predictor.Options.plain(28, 28));
        StringWriter o = new StringWriter();
        Stop.Stopped e = assertThrows(Stop.Stopped.class, () -> new ImageInference(p, ImageInferenceTest.LABELS, 0.5f).stopOn(stop)
                .run(in, out, new PrintWriter(o), new PrintWriter(new StringWriter())));
        assertEquals(143, e.exitCode());
        assertEquals("stopped by SIGTERM after b.png: 2 of 5 images done (a.png to b.png in name order; outputs in " + out
                + "); not done: c.png and 2 more", e.getMessage());
        assertEquals(List.of("a_mask.png", "a_overlay.png", "b_mask.png", "b_overlay.png"), names(out), "whole outputs of a and b only");
        for (String n : names(out)) assertNotNull(dinoseg.data.ImageIOUtil.read(out.resolve(n)), n);
        assertEquals(2, o.toString().lines().filter(l -> l.contains("_overlay.png")).count(), o.toString());
    }

    @Test void aStoppedVideoLeavesNoOutputAndNoTemporaryFile(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("in.mp4"), out = dir.resolve("out.mp4");
        VideoSegmenterTest.writeTestVideo(in, 42, 28, 8, 10);
        Stop stop = new Stop();
        Predictor p = new Predictor(be, stoppingAt(3, stop), Predictor.Options.plain(42, 28));
        Stop.Stopped e = assertThrows(Stop.Stopped.class, () -> new VideoSegmenter(p, THREE, 0.5f).stopOn(stop)
                .run(in, out, new PrintWriter(new StringWriter())));
        assertEquals(143, e.exitCode());
        assertTrue(e.getMessage().startsWith("stopped by SIGTERM at frame 3"), e.getMessage());
        assertTrue(e.getMessage().endsWith(out + " not written"), e.getMessage());
        assertEquals(List.of("in.mp4"), names(dir), "no output and no temporary file");
    }
}
