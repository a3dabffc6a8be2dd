package dinoseg.data;

import boofcv.io.image.ConvertBufferedImage;
import boofcv.struct.image.GrayF32;
import boofcv.struct.image.Planar;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * Reading images: checked decoding with one-line errors naming the file, RGB images as BoofCV planar
 * floats or CHW float arrays, and resize + ImageNet normalisation for inference.
 *
 * <p>Pixel values stay in 0..255 until {@link Preprocess#normalise} maps them to (v/255 - mean)/std.
 */
public final class ImageIOUtil {
    private ImageIOUtil() {}

    static {
        ImageIO.setUseCache(false); // decode in memory, no temp files from worker threads
    }

    /** An image as a CHW float array (channels 3, values 0..255). */
    public record FloatImage(float[] chw, int channels, int width, int height) {}

    /**
     * Decodes an image file; zero-byte, missing, unrecognised or corrupt files fail with one line
     * ({@code "path: problem"}).
     */
    public static BufferedImage read(Path file) {
        long size;
        try {
            size = Files.size(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": file does not exist");
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read (" + e.getMessage() + ")");
        }
        if (size == 0) throw new IllegalArgumentException(file + ": empty file (0 bytes)");
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            Iterator<ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
            if (readers == null || !readers.hasNext())
                throw new IllegalArgumentException(file + ": not an image in a known format (PNG, JPEG)");
            ImageReader r = readers.next();
            try {
                List<String> warnings = new ArrayList<>(1);
                r.addIIOReadWarningListener((source, warning) -> warnings.add(warning));
                r.setInput(in, true, true);
                BufferedImage img = r.read(0);
                // a truncated JPEG decodes with a warning ("Premature end of JPEG file") and grey rows: corrupt
                if (!warnings.isEmpty())
                    throw new IllegalArgumentException(file + ": corrupt image (" + warnings.get(0) + ")");
                return img;
            } finally {
                r.dispose();
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof IllegalArgumentException iae && iae.getMessage() != null && iae.getMessage().startsWith(file.toString()))
                throw iae;
            throw new IllegalArgumentException(file + ": corrupt or unreadable image (" + oneLine(e) + ")");
        }
    }

    /** Width and height from the file header, without decoding the pixels. */
    public static int[] size(Path file) {
        try {
            if (Files.size(file) == 0) throw new IllegalArgumentException(file + ": empty file (0 bytes)");
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": file does not exist");
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read (" + e.getMessage() + ")");
        }
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            Iterator<ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
            if (readers == null || !readers.hasNext())
                throw new IllegalArgumentException(file + ": not an image in a known format (PNG, JPEG)");
            ImageReader r = readers.next();
            try {
                r.setInput(in);
                return new int[] {r.getWidth(0), r.getHeight(0)};
            } finally {
                r.dispose();
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof IllegalArgumentException iae && iae.getMessage() != null && iae.getMessage().startsWith(file.toString()))
                throw iae;
            throw new IllegalArgumentException(file + ": corrupt or unreadable image (" + oneLine(e) + ")");
        }
    }

    /** Loads an image as 3-band RGB planar floats 0..255 (grey is replicated, alpha dropped). */
    public static Planar<GrayF32> loadPlanar(Path file) {
        return toPlanar(read(file));
    }

    /** Converts a decoded image to 3-band RGB planar floats 0..255 through BoofCV. */
    public static Planar<GrayF32> toPlanar(BufferedImage img) {
        Planar<GrayF32> p = ConvertBufferedImage.convertFromPlanar(img, null, true, GrayF32.class);
        if (p.getNumBands() == 3) return p;
        Planar<GrayF32> rgb = new Planar<>(GrayF32.class, p.width, p.height, 3);
        if (p.getNumBands() >= 3) {
            for (int c = 0; c < 3; c++) rgb.getBand(c).setTo(p.getBand(c));
        } else {
            for (int c = 0; c < 3; c++) rgb.getBand(c).setTo(p.getBand(0));
        }
        return rgb;
    }

    /** Loads an RGB image as a CHW float array, values 0..255. */
    public static FloatImage loadChw(Path file) {
        return toChw(loadPlanar(file));
    }

    /** Copies planar floats into a CHW array. */
    public static FloatImage toChw(Planar<GrayF32> img) {
        int w = img.width, h = img.height, n = w * h;
        float[] out = new float[3 * n];
        for (int c = 0; c < 3; c++) {
            GrayF32 b = img.getBand(c);
            for (int y = 0; y < h; y++) System.arraycopy(b.data, b.startIndex + y * b.stride, out, c * n + y * w, w);
        }
        return new FloatImage(out, 3, w, h);
    }

    /** Wraps a CHW float array (3 channels) as BoofCV planar floats (copied). */
    public static Planar<GrayF32> toPlanar(FloatImage img) {
        if (img.channels() != 3) throw new IllegalArgumentException("toPlanar: expected 3 channels, got " + img.channels());
        int w = img.width(), h = img.height(), n = w * h;
        Planar<GrayF32> p = new Planar<>(GrayF32.class, w, h, 3);
        for (int c = 0; c < 3; c++) {
            GrayF32 b = p.getBand(c);
            for (int y = 0; y < h; y++) System.arraycopy(img.chw(), c * n + y * w, b.data, b.startIndex + y * b.stride, w);
        }
        return p;
    }

    /**
     * Bilinear resize (pixel-centre aligned, like PyTorch's align_corners=False) to outW x outH, then
     * ImageNet normalisation, as a CHW array of 3*outH*outW floats: the inference input.
     */
    public static float[] resizeNormalise(Planar<GrayF32> img, int outW, int outH) {
        float[] out = new float[3 * outW * outH];
        Planar<GrayF32> resized = Warp.resize(img.width, img.height, outW, outH).applyImage(img, outW, outH, null);
        Preprocess.normalise(resized, out, 0);
        return out;
    }

    /** {@link #resizeNormalise(Planar, int, int)} for a CHW image. */
    public static float[] resizeNormalise(FloatImage img, int outW, int outH) {
        return resizeNormalise(toPlanar(img), outW, outH);
    }

    static String oneLine(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) m = e.getClass().getSimpleName();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }
}
