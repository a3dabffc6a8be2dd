package dinoseg.infer;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferInt;
import java.awt.image.DirectColorModel;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;

/** Conversions between {@link BufferedImage}s and the CHW float arrays the predictor takes. */
public final class Images {
    private Images() { }

    /** ImageNet channel means and standard deviations (RGB, on 0..1 values). */
    public static final float[] MEAN = {0.485f, 0.456f, 0.406f};
    public static final float[] STD = {0.229f, 0.224f, 0.225f};

    /** The image as packed 0xRRGGBB ints, row-major (alpha dropped, grey and indexed images expanded). */
    public static int[] rgb(BufferedImage img) {
        return img.getRGB(0, 0, img.getWidth(), img.getHeight(), null, 0, img.getWidth());
    }

    /** ImageNet-normalised CHW floats [3*h*w] of packed RGB pixels: (v/255 - mean) / std. */
    public static float[] normalisedChw(int[] rgb, int w, int h) {
        int n = w * h;
        if (rgb.length != n) throw new IllegalArgumentException("normalisedChw: " + rgb.length + " pixels for " + w + "x" + h);
        float[] out = new float[3 * n];
        for (int c = 0; c < 3; c++) {
            int shift = 16 - 8 * c;
            float m = MEAN[c], s = 1f / STD[c];
            int off = c * n;
            for (int i = 0; i < n; i++) out[off + i] = (((rgb[i] >>> shift) & 255) / 255f - m) * s;
        }
        return out;
    }

    /**
     * ImageNet-normalised CHW floats [3*h*w] of packed pixels (w0 x h0) resized to w x h: bilinear
     * with pixel centres aligned (PyTorch's align_corners=False, no antialiasing), the weights the
     * backends' resizeBilinear uses, applied to the 0..255 values before normalising (the same
     * numbers as normalising first, within float rounding). Nothing of size w0 x h0 is allocated.
     */
    public static float[] resizedNormalisedChw(int[] rgb, int w0, int h0, int w, int h) {
        if (rgb.length != w0 * h0) throw new IllegalArgumentException("resizedNormalisedChw: " + rgb.length + " pixels for " + w0 + "x" + h0);
        int[] y0 = new int[h], y1 = new int[h], x0 = new int[w], x1 = new int[w];
        float[] wy0 = new float[h], wy1 = new float[h], wx0 = new float[w], wx1 = new float[w];
        dinoseg.backend.cpu.CpuResize.axisWeights(h0, h, y0, y1, wy0, wy1);
        dinoseg.backend.cpu.CpuResize.axisWeights(w0, w, x0, x1, wx0, wx1);
        int n = w * h;
        float[] out = new float[3 * n];
        for (int c = 0; c < 3; c++) {
            int shift = 16 - 8 * c;
            float m = MEAN[c], s = 1f / STD[c];
            for (int oy = 0; oy < h; oy++) {
                int r0 = y0[oy] * w0, r1 = y1[oy] * w0;
                for (int ox = 0; ox < w; ox++) {
                    int c0 = x0[ox], c1 = x1[ox];
                    float v = wy0[oy] * (wx0[ox] * ((rgb[r0 + c0] >>> shift) & 255) + wx1[ox] * ((rgb[r0 + c1] >>> shift) & 255))
                            + wy1[oy] * (wx0[ox] * ((rgb[r1 + c0] >>> shift) & 255) + wx1[ox] * ((rgb[r1 + c1] >>> shift) & 255));
                    out[c * n + oy * w + ox] = (v / 255f - m) * s;
                }
            }
        }
        return out;
    }

    /** Normalised CHW floats of an image. */
    public static float[] normalisedChw(BufferedImage img) {
        return normalisedChw(rgb(img), img.getWidth(), img.getHeight());
    }

    /** A TYPE_INT_RGB image over the packed pixels (the array itself is its pixel store, not copied). */
    public static BufferedImage fromRgb(int[] rgb, int w, int h) {
        if (rgb.length != w * h) throw new IllegalArgumentException("fromRgb: " + rgb.length + " pixels for " + w + "x" + h);
        WritableRaster r = Raster.createPackedRaster(new DataBufferInt(rgb, rgb.length), w, h, w,
                new int[] {0xFF0000, 0xFF00, 0xFF}, null);
        return new BufferedImage(new DirectColorModel(24, 0xFF0000, 0xFF00, 0xFF), r, false, null);
    }
}
