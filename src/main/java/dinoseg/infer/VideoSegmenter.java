package dinoseg.infer;

import dinoseg.data.ClassSet;
import dinoseg.io.Stop;
import org.bytedeco.ffmpeg.global.avcodec;
import org.bytedeco.ffmpeg.global.avutil;
import org.bytedeco.javacv.FFmpegFrameGrabber;
import org.bytedeco.javacv.FFmpegFrameRecorder;
import org.bytedeco.javacv.FFmpegLogCallback;
import org.bytedeco.javacv.Frame;
import org.bytedeco.javacv.FrameGrabber;
import org.bytedeco.javacv.FrameRecorder;
import org.bytedeco.javacv.Java2DFrameConverter;

import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
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
        if (!Files.isRegularFile(input)) throw new IllegalArgumentException(input + ": video file does not exist");
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
            try {
                grabber.start();
            } catch (FrameGrabber.Exception | RuntimeException e) {
                throw new IllegalArgumentException(input + ": cannot open as a video (" + firstLine(e) + ")");
            }
            if (grabber.getVideoStream() < 0 || grabber.getImageWidth() <= 0 || grabber.getImageHeight() <= 0)
                throw new IllegalArgumentException(input + ": has no video stream");
            int w = grabber.getImageWidth(), h = grabber.getImageHeight();
            rate = grabber.getVideoFrameRate() > 0 ? grabber.getVideoFrameRate() : grabber.getFrameRate();
            if (!(rate > 0)) rate = 25;
            long total = grabber.getLengthInVideoFrames();
            // H.264 in yuv420p needs even sizes; FFmpeg scales the odd pixel away.
            int ow = Math.max(2, w & ~1), oh = Math.max(2, h & ~1);
            ProgressBar bar = new ProgressBar(progress, input.getFileName().toString(), total);
            Java2DFrameConverter in = new Java2DFrameConverter(), out = new Java2DFrameConverter();
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
                    BufferedImage img = in.getBufferedImage(f);
                    if (img == null) continue;
                    long m0 = System.nanoTime();
                    int[] rgb = Images.rgb(img);
                    int[] mask = predictor.predict(Images.normalisedChw(rgb, w, h), w, h);
                    double dt = (System.nanoTime() - m0) / 1e9;
                    modelSeconds += dt;
                    BufferedImage ov = Overlay.render(rgb, w, h, mask, labels, alpha);
                    writeFps(ov, 1.0 / dt);
                    rec.record(out.convert(toBgr(ov)));
                    frames++;
                    bar.update(frames, String.format(Locale.ROOT, "%.1f FPS", frames / modelSeconds), false);
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
            Files.move(tmp, output, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (java.nio.file.AtomicMoveNotSupportedException e) {
            Files.move(tmp, output, StandardCopyOption.REPLACE_EXISTING);
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

    private static BufferedImage toBgr(BufferedImage img) {
        BufferedImage bgr = new BufferedImage(img.getWidth(), img.getHeight(), BufferedImage.TYPE_3BYTE_BGR);
        Graphics2D g = bgr.createGraphics();
        g.drawImage(img, 0, 0, null);
        g.dispose();
        return bgr;
    }

    private static String firstLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }
}
