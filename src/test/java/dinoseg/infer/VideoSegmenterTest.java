package dinoseg.infer;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import org.bytedeco.ffmpeg.global.avcodec;
import org.bytedeco.ffmpeg.global.avutil;
import org.bytedeco.javacv.FFmpegFrameGrabber;
import org.bytedeco.javacv.FFmpegFrameRecorder;
import org.bytedeco.javacv.Frame;
import org.bytedeco.javacv.Java2DFrameConverter;
import dinoseg.data.ClassSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

public class VideoSegmenterTest {
    private final Backend be = Backends.cpu();

    /** Writes a small H.264 MP4: a bright square moving over a gradient. */
    public static void writeTestVideo(Path file, int w, int h, int frames, double fps) throws Exception {
        try (FFmpegFrameRecorder r = new FFmpegFrameRecorder(file.toFile(), w, h, 0)) {
            r.setFormat("mp4");
            r.setVideoCodec(avcodec.AV_CODEC_ID_H264);
            r.setPixelFormat(avutil.AV_PIX_FMT_YUV420P);
            r.setFrameRate(fps);
            r.start();
            Java2DFrameConverter conv = new Java2DFrameConverter();
            for (int i = 0; i < frames; i++) {
                BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) {
                        boolean sq = x >= 4 * i && x < 4 * i + 16 && y >= 12 && y < 28;
                        img.setRGB(x, y, sq ? 0x20E040 : ((x * 255 / w) << 16) | (y * 255 / h));
                    }
                r.record(conv.convert(img));
            }
            r.stop();
        }
    }

    @Test void aGeneratedVideoRoundTripsWithTheSameFrameCountAndRate(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("clip.mp4"), out = dir.resolve("out/seg.mp4");
        writeTestVideo(in, 64, 48, 12, 10);
        Predictor p = new Predictor(be, new FakeModels.PatchModel(be), Predictor.Options.plain(56, 42));
        StringWriter err = new StringWriter();
        VideoSegmenter.Result r = new VideoSegmenter(p, threeLabels(), 0.5f).run(in, out, new PrintWriter(err));
        assertEquals(12, r.frames());
        assertEquals(10.0, r.frameRate(), 1e-9);
        assertTrue(r.averageFps() > 0);
        String bar = err.toString();
        assertTrue(bar.contains("12/12"), "progress bar: " + bar);
        // no temporary file left beside the output
        try (var s = Files.list(out.getParent())) { assertEquals(1, s.count()); }

        try (FFmpegFrameGrabber g = new FFmpegFrameGrabber(out.toFile())) {
            g.start();
            assertEquals("h264", g.getVideoCodecName());
            assertEquals(avutil.AV_PIX_FMT_YUV420P, g.getFormatContext().streams(g.getVideoStream()).codecpar().format(), "stream pixel format");
            assertEquals(64, g.getImageWidth());
            assertEquals(48, g.getImageHeight());
            assertEquals(10.0, g.getVideoFrameRate(), 1e-6);
            int n = 0;
            Frame f;
            Java2DFrameConverter conv = new Java2DFrameConverter();
            BufferedImage last = null;
            while ((f = g.grabImage()) != null) {
                last = conv.getBufferedImage(f);
                n++;
            }
            assertEquals(12, n);
            // the overlay is there: the bottom-left has the FPS text (yellow with a black outline)
            int yellowish = 0;
            for (int y = 30; y < 48; y++)
                for (int x = 0; x < 40; x++) {
                    int c = last.getRGB(x, y);
                    if (((c >> 16) & 255) > 170 && ((c >> 8) & 255) > 170 && (c & 255) < 110) yellowish++;
                }
            assertTrue(yellowish > 3, "FPS text not found (" + yellowish + " yellow pixels)");
        }
    }

    @Test void anFfv1MatroskaInputBecomesAnH264Mp4WithItsFramesRateAndSize(@TempDir Path dir) throws Exception {
        Path in = dir.resolve("clip.mkv"), out = dir.resolve("clip.mp4");
        int inW, inH;
        try (FFmpegFrameRecorder r = new FFmpegFrameRecorder(in.toFile(), 63, 47, 0)) {
            r.setFormat("matroska");
            r.setVideoCodec(avcodec.AV_CODEC_ID_FFV1);
            r.setPixelFormat(avutil.AV_PIX_FMT_YUV444P);
            r.setFrameRate(12.5);
            r.start();
            Java2DFrameConverter conv = new Java2DFrameConverter();
            for (int i = 0; i < 7; i++) {
                BufferedImage img = new BufferedImage(63, 47, BufferedImage.TYPE_3BYTE_BGR);
                for (int y = 0; y < 47; y++) for (int x = 0; x < 63; x++) img.setRGB(x, y, ((x * 4) << 16) | ((y * 5) << 8) | (i * 30));
                r.record(conv.convert(img));
            }
            r.stop();
        }
        try (FFmpegFrameGrabber g = new FFmpegFrameGrabber(in.toFile())) {
            g.start();
            assertEquals("ffv1", g.getVideoCodecName());
            inW = g.getImageWidth(); // JavaCV's recorder rounds the size up to even
            inH = g.getImageHeight();
        }
        Predictor p = new Predictor(be, new FakeModels.PixelModel(be), Predictor.Options.plain(42, 28));
        VideoSegmenter.Result res = new VideoSegmenter(p, threeLabels(), 0.5f).run(in, out, new PrintWriter(new StringWriter()));
        assertEquals(7, res.frames());
        try (FFmpegFrameGrabber g = new FFmpegFrameGrabber(out.toFile())) {
            g.start();
            assertEquals("h264", g.getVideoCodecName());
            assertEquals(inW, g.getImageWidth());
            assertEquals(inH, g.getImageHeight());
            assertEquals(12.5, g.getVideoFrameRate(), 1e-6);
            int n = 0;
            while (g.grabImage() != null) n++;
            assertEquals(7, n);
        }
    }

    private static ClassSet threeLabels() {
        return new ClassSet(java.util.List.of("sky", "grass", "ball"), new int[] {0x800000, 0x008000, 0x808000}, 255);
    }

    @Test void aFileThatIsNotAVideoGivesOneLineNamingIt(@TempDir Path dir) throws Exception {
        Path bad = dir.resolve("notes.mp4");
        Files.writeString(bad, "this is not a video\n");
        Predictor p = new Predictor(be, new FakeModels.PixelModel(be), Predictor.Options.plain(28, 28));
        VideoSegmenter v = new VideoSegmenter(p, threeLabels(), 0.5f);
        Path out = dir.resolve("o.mp4");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> v.run(bad, out, new PrintWriter(new StringWriter())));
        assertTrue(e.getMessage().contains(bad.toString()), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        assertFalse(Files.exists(out));
        try (var s = Files.list(dir)) { assertEquals(1, s.count(), "temporary output left behind"); }
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> v.run(dir.resolve("nope.mp4"), out, new PrintWriter(new StringWriter())));
        assertTrue(missing.getMessage().contains("nope.mp4"));
    }
}
