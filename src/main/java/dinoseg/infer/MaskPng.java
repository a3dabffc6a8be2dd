package dinoseg.infer;

import dinoseg.io.AtomicFiles;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.awt.image.IndexColorModel;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Class masks as palettized 8-bit PNGs, VOC style: the pixel value is the class id, the palette
 * holds the class colours (VOC colours for unused entries, (224,224,192) for 255), so the file
 * shows in colour and reads back as ids.
 */
public final class MaskPng {
    private MaskPng() { }

    /** Pascal VOC's colour of index k: the bits of k spread over the high bits of R, G, B. */
    public static int vocColor(int k) {
        int r = 0, g = 0, b = 0;
        for (int i = 0, c = k; i < 8; i++, c >>= 3) {
            r |= ((c) & 1) << (7 - i);
            g |= ((c >> 1) & 1) << (7 - i);
            b |= ((c >> 2) & 1) << (7 - i);
        }
        return (r << 16) | (g << 8) | b;
    }

    /** The 256-entry palette: the given class colours first, VOC colours after, 255 the VOC boundary colour. */
    public static IndexColorModel palette(int[] classColors) {
        byte[] r = new byte[256], g = new byte[256], b = new byte[256];
        for (int i = 0; i < 256; i++) {
            int c = i < classColors.length ? classColors[i] : i == 255 ? 0xE0E0C0 : vocColor(i);
            r[i] = (byte) (c >> 16);
            g[i] = (byte) (c >> 8);
            b[i] = (byte) c;
        }
        return new IndexColorModel(8, 256, r, g, b);
    }

    /** The mask as an 8-bit indexed image. Ids must be in [0, 255]. */
    public static BufferedImage image(int[] mask, int w, int h, int[] classColors) {
        if (mask.length != w * h) throw new IllegalArgumentException("mask has " + mask.length + " pixels, expected " + w + "x" + h);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_INDEXED, palette(classColors));
        byte[] data = ((DataBufferByte) img.getRaster().getDataBuffer()).getData();
        for (int i = 0; i < mask.length; i++) {
            int v = mask[i];
            if (v < 0 || v > 255) throw new IllegalArgumentException("mask value " + v + " does not fit a palettized PNG");
            data[i] = (byte) v;
        }
        return img;
    }

    /** Writes the mask atomically as a palettized PNG. */
    public static void write(Path file, int[] mask, int w, int h, int[] classColors) throws IOException {
        BufferedImage img = image(mask, w, h, classColors);
        AtomicFiles.write(file, out -> {
            if (!ImageIO.write(img, "png", out)) throw new IOException(file + ": no PNG writer");
        });
    }

    /** Writes an RGB image atomically as PNG. */
    public static void writeRgb(Path file, BufferedImage img) throws IOException {
        AtomicFiles.write(file, out -> {
            if (!ImageIO.write(img, "png", out)) throw new IOException(file + ": no PNG writer");
        });
    }
}
