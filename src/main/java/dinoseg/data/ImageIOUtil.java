package dinoseg.data;

import boofcv.struct.image.GrayF32;
import boofcv.struct.image.Planar;
import org.w3c.dom.Node;

import javax.imageio.ImageIO;
import javax.imageio.ImageReadParam;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataFormatImpl;
import javax.imageio.stream.ImageInputStream;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * The project's one image reader: every command (train, eval, data check, infer, features) decodes
 * image and mask files here, so a picture reaches the model with the same colours everywhere and a
 * bad file fails with the same one line ({@code "path: problem"}) everywhere.
 *
 * <p>Decoding goes through javax ImageIO with TwelveMonkeys' JPEG reader registered (it reads CMYK,
 * YCCK and Adobe JPEGs, JPEGs with broken ICC profiles, and the EXIF orientation). Pictures
 * ({@link #readPicture}) are then 8-bit RGB with the values PIL's {@code Image.open(f).convert("RGB")}
 * gives (libjpeg's decode), which is what models trained with PyTorch tooling saw:
 * <ul>
 * <li>an embedded ICC profile is not applied (PIL does not colour-manage): the stored samples are kept;</li>
 * <li>grey images (with or without alpha) are replicated to R=G=B from their stored values, not passed
 *     through Java2D's linear-grey colour space (which brightens grey 128 to 188);</li>
 * <li>16-bit samples keep their high byte ({@code v >> 8}, as PIL's 48-bit RGB and OpenCV's
 *     IMREAD_COLOR); alpha is dropped without compositing (as {@code convert("RGB")});</li>
 * <li>palettized images take their palette colours; CMYK/YCCK JPEGs are converted by TwelveMonkeys
 *     (naive CMYK to RGB when the file has no CMYK profile, as PIL's {@code cmyk2rgb});</li>
 * <li>the EXIF orientation is applied, so the picture is upright as every viewer (and OpenCV's
 *     imread) shows it. Masks ({@link #read}) are read as stored, as mmseg/PIL read annotations.</li>
 * </ul>
 * Truncated or corrupt files (including a JPEG the decoder completes with grey rows after a
 * "premature end" warning) fail with one line naming the file.
 */
public final class ImageIOUtil {
    private ImageIOUtil() {}

    static {
        ImageIO.setUseCache(false); // decode in memory, no temp files from worker threads
        ImageIO.scanForPlugins();   // TwelveMonkeys' readers, even when the context class loader differs
    }

    /** Decoder warnings that mean the pixels are incomplete or damaged (libjpeg's and TwelveMonkeys' words). */
    private static final java.util.regex.Pattern CORRUPTION =
            java.util.regex.Pattern.compile("(?i)truncat|premature end|corrupt|bad huffman|resync|missing eoi");

    /** An image as a CHW float array (channels 3, values 0..255). */
    public record FloatImage(float[] chw, int channels, int width, int height) {}

    /**
     * A decoded picture, upright and 8-bit RGB.
     *
     * @param rgb          width*height packed 0xRRGGBB pixels, row-major, as displayed (orientation applied)
     * @param width        displayed width
     * @param height       displayed height
     * @param orientation  the EXIF orientation tag (1..8; 1 when absent) that was applied
     */
    public record Picture(int[] rgb, int width, int height, int orientation) {
        /** The stored (pre-orientation) width: the height for orientations 5..8. */
        public int storedWidth() { return Orientation.swapsAxes(orientation) ? height : width; }

        /** The stored (pre-orientation) height. */
        public int storedHeight() { return Orientation.swapsAxes(orientation) ? width : height; }
    }

    /**
     * What a file's header says, without decoding pixels.
     *
     * @param width       stored width
     * @param height      stored height
     * @param orientation EXIF orientation (1..8; 1 when absent or unreadable)
     * @param bytesPerPixel bytes a pixel of the decoded image takes (3 for 8-bit RGB, 8 for 16-bit RGBA...)
     */
    public record Header(int width, int height, int orientation, int bytesPerPixel) {
        /** Width as displayed (after the orientation). */
        public int uprightWidth() { return Orientation.swapsAxes(orientation) ? height : width; }

        /** Height as displayed. */
        public int uprightHeight() { return Orientation.swapsAxes(orientation) ? width : height; }
    }

    /** A decoding: the image as the reader gives it and the orientation tag. */
    private record Decoded(BufferedImage image, int orientation) {}

    /**
     * Decodes an image file as stored (no orientation applied, colour model as the reader gives it):
     * what masks are read with. Zero-byte, missing, unrecognised, truncated or corrupt files fail with
     * one line ({@code "path: problem"}).
     */
    public static BufferedImage read(Path file) {
        return decode(file, false).image();
    }

    /**
     * Decodes an image file as stored, like {@link #read}, and reports its EXIF orientation too (what
     * the pair checks use to explain a size mismatch that only the orientation causes).
     */
    public static Stored readStored(Path file) {
        Decoded d = decode(file, true, false);
        return new Stored(d.image(), d.orientation());
    }

    /**
     * An image as stored and its orientation tag.
     *
     * @param image       the decoding, not turned upright
     * @param orientation EXIF orientation 1..8 (1 when absent)
     */
    public record Stored(BufferedImage image, int orientation) {
        /** Width as displayed (after the orientation). */
        public int uprightWidth() { return Orientation.swapsAxes(orientation) ? image.getHeight() : image.getWidth(); }

        /** Height as displayed. */
        public int uprightHeight() { return Orientation.swapsAxes(orientation) ? image.getWidth() : image.getHeight(); }
    }

    /** Decodes an image file into an upright 8-bit RGB picture (see the class notes); errors as {@link #read}. */
    public static Picture readPicture(Path file) {
        Decoded d = decode(file, true);
        BufferedImage img = d.image();
        int[] rgb;
        try {
            rgb = packedRgb(img);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(file + ": unsupported pixel layout (" + oneLine(e) + ")");
        }
        int w = img.getWidth(), h = img.getHeight();
        if (d.orientation() == 1) return new Picture(rgb, w, h, 1);
        img = null; // let the stored copy go before the rotated one is made
        int[] up = Orientation.apply(rgb, w, h, d.orientation());
        boolean swap = Orientation.swapsAxes(d.orientation());
        return new Picture(up, swap ? h : w, swap ? w : h, d.orientation());
    }

    private static void checkFile(Path file) {
        if (Files.isDirectory(file)) throw new IllegalArgumentException(file + ": is a directory, not an image file");
        long size;
        try {
            size = Files.size(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": file does not exist");
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read (" + oneLine(e) + ")");
        }
        if (size == 0) throw new IllegalArgumentException(file + ": empty file (0 bytes)");
    }

    /** The formats the installed ImageIO readers decode, e.g. "BMP, GIF, JPEG, PNG, TIFF, WBMP" (for error lines). */
    static final String KNOWN_FORMATS = String.join(", ", new java.util.TreeSet<>(java.util.Arrays.stream(ImageIO.getReaderFormatNames())
            .map(f -> f.toUpperCase(java.util.Locale.ROOT)).map(f -> f.equals("JPG") ? "JPEG" : f.equals("TIF") ? "TIFF" : f).toList()));

    private static Decoded decode(Path file, boolean picture) {
        return decode(file, picture, picture);
    }

    /** @param withOrientation read the EXIF orientation; @param rawColours keep an embedded profile's samples */
    private static Decoded decode(Path file, boolean withOrientation, boolean rawColours) {
        checkFile(file);
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            Iterator<ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
            if (readers == null || !readers.hasNext())
                throw new IllegalArgumentException(file + ": not an image in a known format (" + KNOWN_FORMATS + ")");
            ImageReader r = readers.next();
            try {
                List<String> warnings = new ArrayList<>(1);
                r.addIIOReadWarningListener((source, warning) -> warnings.add(warning));
                r.setInput(in, true, false);
                int orientation = withOrientation ? orientation(r) : 1;
                ImageReadParam param = r.getDefaultReadParam();
                if (rawColours) {
                    ImageTypeSpecifier raw = embeddedProfileType(r);
                    if (raw != null) param.setDestinationType(raw);
                }
                BufferedImage img = r.read(0, param);
                // a truncated or damaged JPEG decodes with a warning ("Premature end of JPEG file", "Truncated File")
                // and grey rows: corrupt, as PIL's "image file is truncated". Notices (no CMYK profile, extraneous
                // bytes before a marker, which PIL reads past too) are not.
                for (String w : warnings)
                    if (CORRUPTION.matcher(w).find() && !w.contains("extraneous"))
                        throw new IllegalArgumentException(file + ": corrupt image (" + oneLine(w) + ")");
                if (img.getWidth() < 1 || img.getHeight() < 1) throw new IllegalArgumentException(file + ": image has no pixels");
                return new Decoded(img, orientation);
            } finally {
                r.dispose();
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof IllegalArgumentException iae && iae.getMessage() != null && iae.getMessage().startsWith(file.toString()))
                throw iae;
            throw new IllegalArgumentException(file + ": corrupt or unreadable image (" + oneLine(e) + ")");
        }
    }

    /**
     * The destination type that keeps an RGB JPEG's stored samples when it embeds a non-sRGB ICC
     * profile (TwelveMonkeys would otherwise convert to sRGB, which PIL does not), or null.
     */
    private static ImageTypeSpecifier embeddedProfileType(ImageReader r) throws IOException {
        Iterator<ImageTypeSpecifier> types = r.getImageTypes(0);
        while (types.hasNext()) {
            ImageTypeSpecifier t = types.next();
            ColorSpace cs = t.getColorModel().getColorSpace();
            if (cs.getType() == ColorSpace.TYPE_RGB && !cs.isCS_sRGB() && t.getNumBands() == 3) return t;
        }
        return null;
    }

    /** The EXIF orientation (1..8) from the reader's standard metadata tree; 1 when absent or unreadable. */
    private static int orientation(ImageReader r) {
        try {
            IIOMetadata md = r.getImageMetadata(0);
            if (md == null || !md.isStandardMetadataFormatSupported()) return 1;
            Node root = md.getAsTree(IIOMetadataFormatImpl.standardMetadataFormatName);
            for (Node n = root.getFirstChild(); n != null; n = n.getNextSibling()) {
                if (!"Dimension".equals(n.getNodeName())) continue;
                for (Node c = n.getFirstChild(); c != null; c = c.getNextSibling()) {
                    if (!"ImageOrientation".equals(c.getNodeName())) continue;
                    Node v = c.getAttributes() == null ? null : c.getAttributes().getNamedItem("value");
                    return v == null ? 1 : Orientation.fromStandardName(v.getNodeValue());
                }
            }
            return 1;
        } catch (IOException | RuntimeException e) {
            return 1; // unreadable metadata never makes a picture unreadable (PIL ignores it too)
        }
    }

    /** Stored width, height and EXIF orientation from the file header, without decoding the pixels. */
    public static Header header(Path file) {
        checkFile(file);
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            Iterator<ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
            if (readers == null || !readers.hasNext())
                throw new IllegalArgumentException(file + ": not an image in a known format (" + KNOWN_FORMATS + ")");
            ImageReader r = readers.next();
            try {
                r.setInput(in, true, false);
                return new Header(r.getWidth(0), r.getHeight(0), orientation(r), decodedBytesPerPixel(r));
            } finally {
                r.dispose();
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof IllegalArgumentException iae && iae.getMessage() != null && iae.getMessage().startsWith(file.toString()))
                throw iae;
            throw new IllegalArgumentException(file + ": corrupt or unreadable image (" + oneLine(e) + ")");
        }
    }

    /** Bytes a pixel of the reader's default decoding takes (4 when the header does not say). */
    private static int decodedBytesPerPixel(ImageReader r) {
        try {
            Iterator<ImageTypeSpecifier> t = r.getImageTypes(0);
            if (t == null || !t.hasNext()) return 4;
            java.awt.image.SampleModel sm = t.next().getSampleModel();
            int bits = 0;
            for (int b = 0; b < sm.getNumBands(); b++) bits += sm.getSampleSize(b);
            return Math.max(1, (bits + 7) / 8);
        } catch (IOException | RuntimeException e) {
            return 4;
        }
    }

    /** Stored width and height from the file header, without decoding the pixels. */
    public static int[] size(Path file) {
        Header h = header(file);
        return new int[] {h.width(), h.height()};
    }

    /**
     * Packed 0xRRGGBB pixels of a decoded image from its stored samples (see the class notes): palette
     * colours, grey replicated, 16-bit reduced to the high byte, alpha dropped; images in other colour
     * spaces (CMYK after TwelveMonkeys' conversion is already sRGB) go through Java2D's conversion.
     */
    static int[] packedRgb(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        ColorModel cm = img.getColorModel();
        int type = cm.getColorSpace().getType();
        boolean grey = type == ColorSpace.TYPE_GRAY, rgbSpace = type == ColorSpace.TYPE_RGB;
        if (cm instanceof IndexColorModel || !(grey || rgbSpace) || cm.isAlphaPremultiplied())
            return img.getRGB(0, 0, w, h, null, 0, w);
        Raster raster = img.getRaster();
        int bands = raster.getNumBands();
        int colourBands = grey ? 1 : 3;
        if (bands < colourBands) return img.getRGB(0, 0, w, h, null, 0, w);
        int[] shift = new int[colourBands];
        int[] max = new int[colourBands];
        for (int b = 0; b < colourBands; b++) {
            int bits = raster.getSampleModel().getSampleSize(b);
            shift[b] = Math.max(0, bits - 8);
            max[b] = bits < 8 ? (1 << bits) - 1 : 0;
        }
        int[] out = new int[w * h];
        int[] row = new int[w * bands];
        for (int y = 0; y < h; y++) {
            raster.getPixels(raster.getMinX(), raster.getMinY() + y, w, 1, row);
            int o = y * w;
            for (int x = 0, i = 0; x < w; x++, i += bands) {
                if (grey) {
                    int v = to8(row[i], shift[0], max[0]);
                    out[o + x] = (v << 16) | (v << 8) | v;
                } else {
                    out[o + x] = (to8(row[i], shift[0], max[0]) << 16) | (to8(row[i + 1], shift[1], max[1]) << 8)
                            | to8(row[i + 2], shift[2], max[2]);
                }
            }
        }
        return out;
    }

    private static int to8(int v, int shift, int max) {
        if (max > 0) return (v * 255 + max / 2) / max; // 1/2/4-bit samples stretched to 0..255, as PIL's "L;4" etc.
        return (v >>> shift) & 255;
    }

    /** Loads an image as 3-band RGB planar floats 0..255, upright (see {@link #readPicture}). */
    public static Planar<GrayF32> loadPlanar(Path file) {
        Picture p = readPicture(file);
        return toPlanar(p.rgb(), p.width(), p.height());
    }

    /** Packed 0xRRGGBB pixels (row-major w*h) as 3-band planar floats 0..255. */
    public static Planar<GrayF32> toPlanar(int[] rgb, int w, int h) {
        if (rgb.length != w * h) throw new IllegalArgumentException("toPlanar: " + rgb.length + " pixels for " + w + "x" + h);
        Planar<GrayF32> p = new Planar<>(GrayF32.class, w, h, 3);
        for (int c = 0; c < 3; c++) {
            GrayF32 b = p.getBand(c);
            int shift = 16 - 8 * c;
            for (int y = 0; y < h; y++) {
                int o = b.startIndex + y * b.stride, s = y * w;
                for (int x = 0; x < w; x++) b.data[o + x] = (rgb[s + x] >>> shift) & 255;
            }
        }
        return p;
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
     * ImageNet normalisation ({@link ImageNetNorm}), as a CHW array of 3*outH*outW floats: the input
     * feature extraction ({@code infer.FeatureExtractor}) gives the backbone.
     */
    public static float[] resizeNormalise(Planar<GrayF32> img, int outW, int outH) {
        float[] out = new float[3 * outW * outH];
        Planar<GrayF32> resized = Warp.resize(img.width, img.height, outW, outH).applyImage(img, outW, outH, null);
        ImageNetNorm.normalise(resized, out, 0);
        return out;
    }

    /** {@link #resizeNormalise(Planar, int, int)} for a CHW image. */
    public static float[] resizeNormalise(FloatImage img, int outW, int outH) {
        return resizeNormalise(toPlanar(img), outW, outH);
    }

    /** A throwable's message as one line (its first), or its class name when it has none. */
    public static String oneLine(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) m = e.getClass().getSimpleName();
        return oneLine(m);
    }

    static String oneLine(String m) {
        int nl = m.indexOf('\n');
        return (nl < 0 ? m : m.substring(0, nl)).strip();
    }
}
