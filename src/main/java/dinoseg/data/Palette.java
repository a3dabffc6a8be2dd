package dinoseg.data;

import java.awt.image.IndexColorModel;
import java.util.Arrays;

/**
 * A 256-entry colour table, id to RGB, used to colour-code masks (display, palettized PNG output).
 * Entries are packed {@code 0xRRGGBB}. The standard Pascal VOC palette derives class k's colour from
 * the bits of k; its entry 255 is the boundary colour (224,224,192).
 */
public final class Palette {
    /** The colour VOC uses for "boundary / don't care" pixels, packed RGB. */
    public static final int VOC_BOUNDARY_RGB = (224 << 16) | (224 << 8) | 192;

    private final int[] rgb;

    private Palette(int[] rgb) {
        this.rgb = rgb;
    }

    /** A palette from 256 packed RGB entries (copied). */
    public static Palette of(int[] packedRgb) {
        if (packedRgb.length != 256)
            throw new IllegalArgumentException("palette: expected 256 entries, got " + packedRgb.length);
        int[] c = new int[256];
        for (int i = 0; i < 256; i++) c[i] = packedRgb[i] & 0xFFFFFF;
        return new Palette(c);
    }

    /** The standard Pascal VOC palette (0 black, 1 (128,0,0), 2 (0,128,0), ..., 255 (224,224,192)). */
    public static Palette voc() {
        int[] c = new int[256];
        for (int i = 0; i < 256; i++) c[i] = vocColor(i);
        return new Palette(c);
    }

    /** Colour of id k in the VOC palette, packed RGB: bits of k spread over the three channels, high bits first. */
    public static int vocColor(int k) {
        int r = 0, g = 0, b = 0, c = k;
        for (int j = 0; j < 8; j++) {
            r |= ((c) & 1) << (7 - j);
            g |= ((c >> 1) & 1) << (7 - j);
            b |= ((c >> 2) & 1) << (7 - j);
            c >>= 3;
        }
        return (r << 16) | (g << 8) | b;
    }

    /**
     * A class colour laid over a pixel, the one blend of every overlay (inference overlays, video
     * frames, the training previews): per channel {@code round((1 - alpha) * pixel + alpha * colour)}
     * in float, capped at 255.
     *
     * @param rgb    the pixel, packed 0xRRGGBB (bits above 24 ignored)
     * @param colour the class colour, packed 0xRRGGBB
     * @param alpha  weight of the colour, 0 (the pixel unchanged) .. 1 (the colour); not checked here
     * @return the blended pixel, packed 0xRRGGBB
     */
    public static int blend(int rgb, int colour, float alpha) {
        int r = 0;
        for (int shift = 16; shift >= 0; shift -= 8) {
            float v = (1 - alpha) * ((rgb >>> shift) & 255) + alpha * ((colour >>> shift) & 255);
            r |= Math.min(255, Math.round(v)) << shift;
        }
        return r;
    }

    /** Packed RGB of entry {@code id} (0..255). */
    public int rgb(int id) {
        if (id < 0 || id > 255) throw new IllegalArgumentException("palette: id " + id + " outside 0..255");
        return rgb[id];
    }

    /** Entry {@code id} as {r, g, b}. */
    public int[] triplet(int id) {
        int c = rgb(id);
        return new int[] {(c >> 16) & 255, (c >> 8) & 255, c & 255};
    }

    /** An 8-bit {@link IndexColorModel} of this palette, for writing palettized PNGs. */
    public IndexColorModel colorModel() {
        byte[] r = new byte[256], g = new byte[256], b = new byte[256];
        for (int i = 0; i < 256; i++) {
            r[i] = (byte) (rgb[i] >> 16);
            g[i] = (byte) (rgb[i] >> 8);
            b[i] = (byte) rgb[i];
        }
        return new IndexColorModel(8, 256, r, g, b);
    }

    /** The packed entries (a copy). */
    public int[] toArray() {
        return rgb.clone();
    }

    @Override public boolean equals(Object o) {
        return o instanceof Palette p && Arrays.equals(rgb, p.rgb);
    }

    @Override public int hashCode() {
        return Arrays.hashCode(rgb);
    }

    /** "(r,g,b)" for a packed colour, as messages print it. */
    public static String format(int packedRgb) {
        return "(" + ((packedRgb >> 16) & 255) + "," + ((packedRgb >> 8) & 255) + "," + (packedRgb & 255) + ")";
    }
}
