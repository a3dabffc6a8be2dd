package dinoseg.data;

import dinoseg.io.AtomicFiles;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.File;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Reading masks into class-id maps and writing them as palettized (index) or colour-coded (RGB) PNGs.
 *
 * <p>Palettized PNGs are read through javax ImageIO's {@link IndexColorModel} raster, so the raw
 * palette index is the class id in index mode, and the palette colour is looked up in rgb mode. With
 * {@code auto}, a palettized mask is judged by its palette (over the indices it uses): VOC's own
 * palette (index k has the colour of k's bits, as VOC's SegmentationClass PNGs), a grey ramp, or the
 * class colours in class order mean the indices are class ids; a palette whose colours are all class
 * colours (or VOC's boundary colour) in another order is read by colour; anything else is refused
 * with one line, since either reading would be a guess.
 */
public final class MaskIO {
    private MaskIO() {}

    /** The format {@code auto} picks from a decoded mask's PNG type alone: palettized or grey means index, colour means rgb. */
    public static MaskFormat detect(BufferedImage img) {
        if (img.getColorModel() instanceof IndexColorModel) return MaskFormat.INDEX;
        return img.getRaster().getNumBands() <= 2 ? MaskFormat.INDEX : MaskFormat.RGB;
    }

    /** Short description of a mask's PNG type ("palettized", "grey", "RGB"), for notices. */
    public static String describeType(BufferedImage img) {
        if (img.getColorModel() instanceof IndexColorModel) return "palettized";
        return img.getRaster().getNumBands() <= 2 ? "grey" : "RGB";
    }

    /** Reads and decodes a mask file; see {@link #decode}. */
    public static LabelMap read(Path file, ClassSet classes, MaskFormat format) {
        return decode(ImageIOUtil.read(file), file, classes, format);
    }

    /** How auto reads a palettized mask: the format and, when it reads by colour, a note saying so. */
    private record PaletteReading(MaskFormat format, String note) {}

    /**
     * Decides how {@code auto} reads a palettized mask from the palette entries its pixels use (see
     * the class notes); throws one line naming the file when neither reading fits.
     */
    private static PaletteReading paletteReading(IndexColorModel icm, int[] idx, Path file, ClassSet classes) {
        boolean[] used = new boolean[icm.getMapSize()];
        for (int v : idx) if (v >= 0 && v < used.length) used[v] = true;
        int k = classes.size(), ignore = classes.ignoreIndex();
        boolean voc = true, grey = true, classOrder = true;
        int firstNotVoc = -1, firstNoClass = -1;
        for (int i = 0; i < used.length; i++) {
            if (!used[i]) continue;
            int c = icm.getRGB(i) & 0xFFFFFF;
            if (c != Palette.vocColor(i)) {
                voc = false;
                if (firstNotVoc < 0) firstNotVoc = i;
            }
            if (c != ((i << 16) | (i << 8) | i)) grey = false;
            if (i < k ? c != classes.color(i) : !(i == ignore && c == Palette.VOC_BOUNDARY_RGB)) classOrder = false;
            if (classes.classOfColor(c) < 0 && c != Palette.VOC_BOUNDARY_RGB && firstNoClass < 0) firstNoClass = i;
        }
        if (voc || grey || classOrder) return new PaletteReading(MaskFormat.INDEX, null);
        String notVoc = "palette index " + firstNotVoc + " is " + Palette.format(icm.getRGB(firstNotVoc)) + ", VOC's is "
                + Palette.format(Palette.vocColor(firstNotVoc));
        if (firstNoClass < 0)
            return new PaletteReading(MaskFormat.RGB, "palettized masks whose palette is not in class order (e.g. " + file.getFileName()
                    + ": " + notVoc + ") are read by colour through the class colours, as --mask-format rgb");
        throw new IllegalArgumentException(file + ": palettized mask fits neither reading: its palette is not VOC's (" + notVoc
                + ") and index " + firstNoClass + "'s colour " + Palette.format(icm.getRGB(firstNoClass))
                + " is no class colour; pass --mask-format index (indices are class ids) or --mask-format rgb with matching --classes");
    }

    /**
     * Decodes a mask into class ids. Ignored pixels (the ignore index, VOC's boundary colour, colours
     * no class has, ids outside 0..K-1) become {@code classes.ignoreIndex()}; unknown colours and
     * out-of-range ids are counted in the result. A class set with {@link ClassSet#reduceZeroLabel} (ADE20K) reads an
     * id mask as MMSegmentation does: 0 is ignored, v is class v - 1. With {@code auto}, palettized masks are judged by
     * their palette (class notes); a palette that fits neither reading fails with one line naming the file.
     */
    public static LabelMap decode(BufferedImage img, Path file, ClassSet classes, MaskFormat format) {
        int w = img.getWidth(), h = img.getHeight(), n = w * h;
        Raster raster = img.getRaster();
        boolean indexed = img.getColorModel() instanceof IndexColorModel;
        int[] v = indexed || raster.getNumBands() <= 2 ? raster.getSamples(raster.getMinX(), raster.getMinY(), w, h, 0, new int[n]) : null;
        MaskFormat f = format;
        String note = null;
        if (format == MaskFormat.AUTO) {
            if (indexed) {
                PaletteReading pr = paletteReading((IndexColorModel) img.getColorModel(), v, file, classes);
                f = pr.format();
                note = pr.note();
            } else {
                f = detect(img);
            }
        }
        int[] out = new int[n];
        int k = classes.size(), ignore = classes.ignoreIndex();
        long unknown = 0;
        int firstUnknown = -1;
        if (f == MaskFormat.INDEX) {
            if (v == null) v = greyFromRgb(img, file);
            boolean reduce = classes.reduceZeroLabel();   // ADE20K: 0 is "other" (ignored), v is class v - 1
            for (int i = 0; i < n; i++) {
                int id = v[i];
                if (reduce) id = id == 0 || id == ignore ? ignore : id - 1;
                if (id == ignore) {
                    out[i] = ignore;
                } else if (id >= 0 && id < k) {
                    out[i] = id;
                } else {
                    out[i] = ignore;
                    if (unknown++ == 0) firstUnknown = id;
                }
            }
        } else {
            int[] rgb = img.getRGB(0, 0, w, h, null, 0, w);
            int lastColor = -1, lastId = ignore;
            boolean lastUnknown = false;
            for (int i = 0; i < n; i++) {
                int c = rgb[i] & 0xFFFFFF;
                if (c != lastColor) {
                    lastColor = c;
                    int id = classes.classOfColor(c);
                    if (id >= 0) {
                        lastId = id;
                        lastUnknown = false;
                    } else {
                        lastId = ignore;
                        lastUnknown = c != Palette.VOC_BOUNDARY_RGB;
                    }
                }
                out[i] = lastId;
                if (lastUnknown && unknown++ == 0) firstUnknown = c;
            }
        }
        return new LabelMap(out, w, h, f, unknown, firstUnknown, note);
    }

    private static int[] greyFromRgb(BufferedImage img, Path file) {
        int w = img.getWidth(), h = img.getHeight();
        int[] rgb = img.getRGB(0, 0, w, h, null, 0, w);
        int[] v = new int[rgb.length];
        for (int i = 0; i < rgb.length; i++) {
            int r = (rgb[i] >> 16) & 255, g = (rgb[i] >> 8) & 255, b = rgb[i] & 255;
            if (r != g || g != b)
                throw new IllegalArgumentException(file + ": colour mask read with --mask-format index (pixel "
                        + (i % w) + "," + (i / w) + " is " + Palette.format(rgb[i]) + "); use --mask-format rgb or auto");
            v[i] = r;
        }
        return v;
    }

    /**
     * Writes class ids as an 8-bit palettized PNG (the pixel value is the id, the palette gives the
     * colours), atomically (temp file, then rename). Ids must be 0..255.
     */
    public static void writeIndexPng(File file, int[] ids, int w, int h, Palette palette) throws IOException {
        checkSize("writeIndexPng", ids, w, h);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_INDEXED, palette.colorModel());
        WritableRaster r = img.getRaster();
        for (int i = 0; i < ids.length; i++)
            if (ids[i] < 0 || ids[i] > 255)
                throw new IllegalArgumentException(file + ": class id " + ids[i] + " does not fit an 8-bit palettized PNG");
        r.setSamples(0, 0, w, h, 0, ids);
        writePng(img, file);
    }

    /** Writes class ids as a colour-coded RGB PNG through the palette, atomically. */
    public static void writeRgbPng(File file, int[] ids, int w, int h, Palette palette) throws IOException {
        checkSize("writeRgbPng", ids, w, h);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        int[] rgb = new int[ids.length];
        for (int i = 0; i < ids.length; i++) rgb[i] = palette.rgb(ids[i]);
        img.setRGB(0, 0, w, h, rgb, 0, w);
        writePng(img, file);
    }

    /** Writes a grey 8-bit PNG whose pixel value is the id (ids 0..255), atomically. */
    public static void writeGreyPng(File file, int[] ids, int w, int h) throws IOException {
        checkSize("writeGreyPng", ids, w, h);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        for (int i = 0; i < ids.length; i++)
            if (ids[i] < 0 || ids[i] > 255)
                throw new IllegalArgumentException(file + ": class id " + ids[i] + " does not fit an 8-bit grey PNG");
        img.getRaster().setSamples(0, 0, w, h, 0, ids);
        writePng(img, file);
    }

    /** Writes any image as PNG atomically ({@link AtomicFiles}: a temp file in the same folder, fsync, then a rename). */
    public static void writePng(BufferedImage img, File file) throws IOException {
        writeAtomic(img, "png", file);
    }

    static void writeAtomic(BufferedImage img, String format, File file) throws IOException {
        AtomicFiles.write(file.toPath(), out -> {
            if (!ImageIO.write(img, format, out))
                throw new IOException(file + ": no ImageIO writer for " + format);
        });
    }

    private static void checkSize(String op, int[] ids, int w, int h) {
        if (w <= 0 || h <= 0 || ids.length != w * h)
            throw new IllegalArgumentException(op + ": " + ids.length + " ids for a " + w + "x" + h + " mask");
    }
}
