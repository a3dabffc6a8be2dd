package dinoseg.infer;

import dinoseg.data.ClassSet;
import dinoseg.io.ProgressBar;
import dinoseg.io.Stop;
import org.bytedeco.ffmpeg.global.avcodec;
import org.bytedeco.ffmpeg.global.avutil;
import org.bytedeco.javacv.FFmpegFrameGrabber;
import org.bytedeco.javacv.FFmpegFrameRecorder;
import org.bytedeco.javacv.FFmpegLogCallback;
import org.bytedeco.javacv.Frame;
import org.bytedeco.javacv.FrameGrabber;
import org.bytedeco.javacv.FrameRecorder;

import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Segments every frame of a video and writes the overlays as an H.264 MP4 (yuv420p) with the
 * input's frame count and frame rate. Decoding and encoding go through FFmpeg (JavaCV); the
 * FPS of the model step is written on each frame. Audio is not copied.
 *
 * <p>Why FFmpeg through JavaCV rather than JCodec: the videos people have are mostly H.264 High
 * profile (phones, cameras, screen recorders), HEVC or VP9; FFmpeg decodes all of them (and AV1,
 * MPEG-4, MJPEG, FFV1...), while JCodec's pure-Java decoder is reliable only for baseline/main
 * H.264. The encoder here is OpenH264 (built into the bytedeco FFmpeg), which writes Constrained
 * Baseline H.264 in yuv420p: the most widely playable kind. Only the linux-x86_64 natives are
 * bundled (about 25 MB of the jar), not the all-platform packages.
 */
public final class VideoSegmenter {

    /** What a run did: frames written, their rate, and the mean speed of the model step. */
    public record Result(int frames, double frameRate, double averageFps, double seconds) { }

    private final Predictor predictor;
    private final ClassSet labels;
    private final float alpha;
    private Stop stop = Stop.process();

    public VideoSegmenter(Predictor predictor, ClassSet labels, float alpha) {
        this.predictor = predictor;
        this.labels = labels;
        this.alpha = alpha;
    }

    static {
        // FFmpeg prints banners and stream dumps at INFO; keep stderr for our progress bar and errors.
        avutil.av_log_set_level(avutil.AV_LOG_ERROR);
    }

    /**
     * Where the run polls for a stop between frames (default: {@link Stop#process()}, set by the CLI's
     * signal handlers); a stop deletes the unfinished temporary file and leaves {@code output} as it was.
     */
    public VideoSegmenter stopOn(Stop stop) {
        this.stop = stop;
        return this;
    }

    /**
     * Reads {@code input}, writes {@code output} (atomically: a temporary sibling renamed at the end),
     * drawing a progress bar on {@code progress}. Failures are one line naming the file.
     */
    public Result run(Path input, Path output, PrintWriter progress) throws IOException {
        dinoseg.io.FileKinds.requireFile(input, "video file");
        if (Files.isDirectory(output)) throw new IllegalArgumentException(output + ": is a directory; give a file name for the video");
        FFmpegLogCallback.setLevel(avutil.AV_LOG_ERROR);
        Path dir = output.toAbsolutePath().getParent();
        if (dir != null) Files.createDirectories(dir);
        // a fresh sibling name that FFmpeg creates itself (ordinary permissions, unlike createTempFile's 0600)
        Path tmp = dir.resolve("." + output.getFileName() + "." + Long.toHexString(System.nanoTime())
                + Integer.toHexString(java.util.concurrent.ThreadLocalRandom.current().nextInt()) + ".tmp.mp4");
        long t0 = System.nanoTime();
        int frames = 0;
        double modelSeconds = 0;
        double rate;
        try (FFmpegFrameGrabber grabber = new FFmpegFrameGrabber(input.toFile())) {
            grabber.setPixelFormat(avutil.AV_PIX_FMT_BGR24);
            try {
                grabber.start();
            } catch (FrameGrabber.Exception | RuntimeException e) {
                throw new IllegalArgumentException(input + ": not a video FFmpeg can read (" + firstLine(e) + ")");
            }
            if (grabber.getVideoStream() < 0 || grabber.getImageWidth() <= 0 || grabber.getImageHeight() <= 0)
                throw new IllegalArgumentException(input + ": has no video stream");
            int w = grabber.getImageWidth(), h = grabber.getImageHeight();
            rate = grabber.getVideoFrameRate() > 0 ? grabber.getVideoFrameRate() : grabber.getFrameRate();
            if (!(rate > 0)) rate = 25;
            long total = grabber.getLengthInVideoFrames();
            // H.264 in yuv420p needs even sizes, and OpenH264 at least 16 pixels a side: an odd last column/row is
            // left out, a side under 16 pixels is extended by repeating its last column/row
            int ow = outputSide(w), oh = outputSide(h);
            ProgressBar bar = new ProgressBar(progress, input.getFileName().toString(), total > 0 ? total : ProgressBar.UNKNOWN);
            try (FFmpegFrameRecorder rec = new FFmpegFrameRecorder(tmp.toFile(), ow, oh, 0)) {
                rec.setFormat("mp4");
                rec.setVideoCodec(avcodec.AV_CODEC_ID_H264);
                rec.setPixelFormat(avutil.AV_PIX_FMT_YUV420P);
                rec.setFrameRate(rate);
                rec.setVideoBitrate((int) Math.min(20_000_000, Math.max(400_000, (long) (0.15 * ow * oh * rate))));
                rec.setGopSize((int) Math.max(1, Math.round(rate * 2)));
                try {
                    rec.start();
                } catch (FrameRecorder.Exception e) {
                    throw new IOException(output + ": cannot start the H.264 encoder (" + firstLine(e) + ")");
                }
                Frame f;
                while ((f = grabImage(grabber, input)) != null) {
                    // a signal: the unfinished temporary file is deleted below, the output is left as it was
                    if (stop.requested())
                        throw stop.stopped("at frame " + frames + (total > 0 ? " of " + total : "") + ": " + output + " not written");
                    int[] rgb = packedRgb(f, input);
                    if (rgb == null) continue;
                    int fw = f.imageWidth, fh = f.imageHeight;
                    long m0 = System.nanoTime();
                    int[] mask = predictor.predict(rgb, fw, fh);
                    double dt = (System.nanoTime() - m0) / 1e9;
                    modelSeconds += dt;
                    BufferedImage ov = Overlay.render(rgb, fw, fh, mask, labels, alpha);
                    writeFps(ov, 1.0 / dt);
                    try {
                        rec.recordImage(ow, oh, Frame.DEPTH_UBYTE, 3, ow * 3, avutil.AV_PIX_FMT_BGR24, ByteBuffer.wrap(bgr(ov, ow, oh)));
                    } catch (FrameRecorder.Exception e) {
                        throw new IOException(output + ": cannot encode frame " + (frames + 1) + " (" + firstLine(e) + ")");
                    }
                    frames++;
                    bar.step(String.format(Locale.ROOT, "%.1f FPS", frames / modelSeconds));
                }
                rec.stop();
            }
            bar.finish(frames, String.format(Locale.ROOT, "%.1f FPS", frames == 0 ? 0 : frames / modelSeconds));
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        if (frames == 0) {
            Files.deleteIfExists(tmp);
            throw new IllegalArgumentException(input + ": no video frames could be decoded");
        }
        try {
            dinoseg.io.AtomicFiles.publish(tmp, output);
        } finally {
            Files.deleteIfExists(tmp);
        }
        return new Result(frames, rate, frames / modelSeconds, (System.nanoTime() - t0) / 1e9);
    }

    private static Frame grabImage(FFmpegFrameGrabber g, Path input) {
        try {
            return g.grabImage();
        } catch (FrameGrabber.Exception e) {
            throw new IllegalArgumentException(input + ": cannot decode a frame (" + firstLine(e) + ")");
        }
    }

    /** Writes "model N.N FPS" in the bottom-left corner. */
    static void writeFps(BufferedImage img, double fps) {
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            Font font = new Font(Font.SANS_SERIF, Font.BOLD, Overlay.fontSize(img.getWidth(), img.getHeight()));
            String text = String.format(Locale.ROOT, "model %.1f FPS", fps);
            int descent = g.getFontMetrics(font).getDescent();
            Overlay.drawOutlined(g, text, font, 4, img.getHeight() - descent - 3, Color.YELLOW, Color.BLACK);
        } finally {
            g.dispose();
        }
    }

    /**
     * Packed 0xRRGGBB pixels of a decoded BGR24 frame (3 bytes a pixel, B G R), read with the
     * frame's own line stride ({@code imageStride} bytes a row, which FFmpeg pads, e.g. to a multiple
     * of 64: it is not width x 3); null for a frame without pixels.
     */
    static int[] packedRgb(Frame f, Path input) {
        if (f.image == null || f.image.length == 0 || f.image[0] == null || f.imageWidth <= 0 || f.imageHeight <= 0) return null;
        // the grabber was asked for BGR24: 3 bytes a pixel. (JavaCV sets imageChannels to stride / width, which a padded
        // stride makes 4 or 5 for narrow frames: it is not used.)
        if (f.imageDepth != Frame.DEPTH_UBYTE || !(f.image[0] instanceof ByteBuffer))
            throw new IllegalArgumentException(input + ": decoder gave frames of depth " + f.imageDepth + ", expected 8-bit BGR24");
        ByteBuffer b = (ByteBuffer) f.image[0];
        int w = f.imageWidth, h = f.imageHeight, stride = f.imageStride;
        if (stride < w * 3 || (long) stride * (h - 1) + 3L * w > b.limit())
            throw new IllegalArgumentException(input + ": decoded frame " + w + "x" + h + " has a line stride of " + stride
                    + " bytes for a " + b.limit() + "-byte buffer");
        int[] out = new int[w * h];
        byte[] row = new byte[w * 3];
        for (int y = 0; y < h; y++) {
            b.get(y * stride, row, 0, row.length);
            for (int x = 0, i = 0; x < w; x++, i += 3)
                out[y * w + x] = ((row[i + 2] & 255) << 16) | ((row[i + 1] & 255) << 8) | (row[i] & 255);
        }
        return out;
    }

    /** The output video's side for an input side n: n rounded down to even, at least 16 (OpenH264's minimum). */
    static int outputSide(int n) {
        return Math.max(16, n & ~1);
    }

    /**
     * BGR24 bytes (rows of ow*3, no padding) of an image cut or extended to ow x oh: pixel (x, y)
     * is the image's (min(x, w-1), min(y, h-1)), so an odd last column/row is left out and a
     * short side is extended with its last column/row.
     */
    static byte[] bgr(BufferedImage img, int ow, int oh) {
        int w = img.getWidth(), h = img.getHeight();
        int[] px = img.getRGB(0, 0, w, h, null, 0, w);
        byte[] out = new byte[ow * oh * 3];
        for (int y = 0; y < oh; y++) {
            int sy = Math.min(y, h - 1);
            for (int x = 0; x < ow; x++) {
                int c = px[sy * w + Math.min(x, w - 1)], o = (y * ow + x) * 3;
                out[o] = (byte) c;
                out[o + 1] = (byte) (c >> 8);
                out[o + 2] = (byte) (c >> 16);
            }
        }
        return out;
    }

    /**
     * JavaCV's message in short: its first line, FFmpeg's error number ("avformat_open_input() error
     * -1094995529: Could not open input ...") replaced by FFmpeg's text for the number (av_strerror: "Invalid data
     * found when processing input"), and without JavaCV's hints to programmers ("(Has setFormat() been
     * called?)", "(For more details, make sure FFmpegLogCallback.set() has been called.)").
     */
    static String firstLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        int nl = m.indexOf('\n');
        m = (nl < 0 ? m : m.substring(0, nl))
                .replace("(Has setFormat() been called?)", "")
                .replace("(For more details, make sure FFmpegLogCallback.set() has been called.)", "")
                .strip();
        java.util.regex.Matcher code = java.util.regex.Pattern.compile("error (-\\d+)").matcher(m);
        if (code.find()) {
            String text = errorText(Integer.parseInt(code.group(1)));
            if (text != null) return text;
        }
        return m;
    }

    /** FFmpeg's text for an error number (av_strerror), or null when it has none. */
    private static String errorText(int errnum) {
        try (org.bytedeco.javacpp.BytePointer buf = new org.bytedeco.javacpp.BytePointer(256)) {
            buf.zero();   // the text ends at the first NUL whatever FFmpeg wrote
            if (avutil.av_strerror(errnum, buf, 255) != 0) return null;
            String t = buf.getString();
            int cut = 0;
            while (cut < t.length() && t.charAt(cut) >= ' ') cut++;   // one line of printable text
            t = t.substring(0, cut).strip();
            return t.isEmpty() ? null : t;
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }
}
