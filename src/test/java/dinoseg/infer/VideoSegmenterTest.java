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

    /**
     * A YUV4MPEG2 (.y4m, 4:4:4) video of a grey picture, written by hand: the one simple container that
     * keeps any width and height, odd ones too (JavaCV's recorder rounds sizes up to even). Returns
     * the picture as packed RGB.
     */
    private static int[] writeY4m(Path file, int w, int h, int frames) throws Exception {
        int[] px = new int[w * h];
        byte[] y = new byte[w * h], uv = new byte[w * h];
        java.util.Arrays.fill(uv, (byte) 128);
        for (int j = 0; j < h; j++)
            for (int i = 0; i < w; i++) {
                int v = (i * 255 / Math.max(1, w - 1) + ((j / 8) % 2) * 60) % 256;
                px[j * w + i] = (v << 16) | (v << 8) | v;
                y[j * w + i] = (byte) Math.round(16 + 219 * v / 255.0); // BT.601 limited range
            }
        try (var out = new java.io.BufferedOutputStream(Files.newOutputStream(file))) {
            out.write(("YUV4MPEG2 W" + w + " H" + h + " F10:1 Ip A1:1 C444\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            for (int f = 0; f < frames; f++) {
                out.write("FRAME\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                out.write(y);
                out.write(uv);
                out.write(uv);
            }
        }
        return px;
    }

    /** Frames of any size: narrow ones whose BGR24 rows FFmpeg pads (76, 96 px: stride 256, 320), odd ones, tiny ones. */
    @Test void framesOfAnySizeComeBackAsThemselves(@TempDir Path dir) throws Exception {
        int[][] sizes = {{76, 160}, {96, 160}, {33, 160}, {75, 161}, {17, 9}, {1, 1}};
        for (int[] wh : sizes) {
            int w = wh[0], h = wh[1];
            Path in = dir.resolve("v" + w + "x" + h + ".y4m"), out = dir.resolve("v" + w + "x" + h + ".mp4");
            int[] px = writeY4m(in, w, h, 3);
            try (FFmpegFrameGrabber g = new FFmpegFrameGrabber(in.toFile())) {
                g.setPixelFormat(avutil.AV_PIX_FMT_BGR24);
                g.start();
                assertEquals(w, g.getImageWidth(), "the input keeps its odd size");
                assertEquals(h, g.getImageHeight());
                int[] got = VideoSegmenter.packedRgb(g.grabImage(), in);
                int worst = 0;
                for (int i = 0; i < px.length; i++) worst = Math.max(worst, Math.abs((got[i] & 255) - (px[i] & 255)));
                assertTrue(worst <= 2, w + "x" + h + ": input decoded off by " + worst);
            }
            // one class everywhere: its name is written mid-frame (rows ~70-80 of 150), clear of the compared band
            SegModel oneClass = new SegModel() {
                @Override public int numClasses() { return 3; }

                @Override public int patch() { return 14; }

                @Override public dinoseg.tensor.Tensor logits(dinoseg.tensor.Tensor images, int outH, int outW) {
                    int b = images.dim(0);
                    float[] l = new float[b * 3 * outH * outW];
                    java.util.Arrays.fill(l, 0, b * outH * outW, 1f);
                    return be.fromFloats(l, dinoseg.tensor.Shape.of(b, 3, outH, outW));
                }
            };
            Predictor p = new Predictor(be, oneClass, Predictor.Options.plain(28, 28));
            VideoSegmenter.Result r = new VideoSegmenter(p, threeLabels(), 0f).run(in, out, new PrintWriter(new StringWriter()));
            assertEquals(3, r.frames(), w + "x" + h);
            int ow = Math.max(16, w & ~1), oh = Math.max(16, h & ~1);
            try (FFmpegFrameGrabber g = new FFmpegFrameGrabber(out.toFile())) {
                g.setPixelFormat(avutil.AV_PIX_FMT_BGR24);
                g.start();
                assertEquals(ow, g.getImageWidth(), w + "x" + h + ": even width, the odd column left out, at least 16 (OpenH264)");
                assertEquals(oh, g.getImageHeight());
                int n = 0;
                Frame f;
                while ((f = g.grabImage()) != null) {
                    n++;
                    if (h < 160) continue; // the FPS text sits in the bottom ~15 rows
                    // alpha 0: rows 100..144, clear of the legend (top) and the FPS text (bottom), are the input's pixels
                    int[] got = VideoSegmenter.packedRgb(f, out);
                    double sum = 0;
                    int cnt = 0;
                    for (int y = 100; y < 145; y++)
                        for (int x = 0; x < ow; x++)
                            for (int sh = 0; sh < 24; sh += 8) {
                                sum += Math.abs(((got[y * ow + x] >> sh) & 255) - ((px[y * w + x] >> sh) & 255));
                                cnt++;
                            }
                    assertTrue(sum / cnt < 5, w + "x" + h + ": output frame off the input by " + sum / cnt + " on average");
                }
                assertEquals(3, n, w + "x" + h);
            }
        }
    }

    /** A padded line stride is honoured, whatever channel count JavaCV derives from it (stride / width). */
    @Test void paddedStridesAreReadRowByRow() {
        int w = 5, h = 3, stride = 64;
        Frame f = new Frame(w, h, Frame.DEPTH_UBYTE, 3, stride);
        java.nio.ByteBuffer b = (java.nio.ByteBuffer) f.image[0];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                b.put(y * stride + 3 * x, (byte) (10 * x));      // B
                b.put(y * stride + 3 * x + 1, (byte) (50 * y)); // G
                b.put(y * stride + 3 * x + 2, (byte) 200);      // R
            }
        f.imageChannels = stride / w; // what JavaCV's grabber sets for such frames
        int[] px = VideoSegmenter.packedRgb(f, Path.of("v.mp4"));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) assertEquals((200 << 16) | ((50 * y) << 8) | (10 * x), px[y * w + x], "pixel " + x + "," + y);
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
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertFalse(Files.exists(out));
        try (var s = Files.list(dir)) { assertEquals(1, s.count(), "temporary output left behind"); }
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> v.run(dir.resolve("nope.mp4"), out, new PrintWriter(new StringWriter())));
        assertTrue(missing.getMessage().contains("nope.mp4"));
    }
}
