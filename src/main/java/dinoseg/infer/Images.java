package dinoseg.infer;

import dinoseg.data.ImageNetNorm;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferInt;
import java.awt.image.DirectColorModel;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;

/**
 * Packed-pixel helpers of the predictor: the large-picture path's resize-and-normalise and a
 * {@link BufferedImage} view of packed pixels. Pictures are read by {@link dinoseg.data.ImageIOUtil#readPicture}
 * and normalised by {@link ImageNetNorm}, as everywhere else.
 */
public final class Images {
    private Images() { }

    /**
     * ImageNet-normalised CHW floats [3*h*w] of packed pixels (w0 x h0) resized to w x h: bilinear
     * with pixel centres aligned (PyTorch's align_corners=False, no antialiasing), the weights the
     * backends' resizeBilinear uses, applied to the 0..255 values before normalising with
     * {@link ImageNetNorm#normalise(int, float)} (the same numbers as normalising first, within float
     * rounding). Nothing of size w0 x h0 is allocated.
     *
     * @throws IllegalArgumentException when {@code rgb.length != w0*h0}
     */
    public static float[] resizedNormalisedChw(int[] rgb, int w0, int h0, int w, int h) {
        if (rgb.length != w0 * h0) throw new IllegalArgumentException("resizedNormalisedChw: " + rgb.length + " pixels for " + w0 + "x" + h0);
        int[] y0 = new int[h], y1 = new int[h], x0 = new int[w], x1 = new int[w];
        float[] wy0 = new float[h], wy1 = new float[h], wx0 = new float[w], wx1 = new float[w];
        dinoseg.backend.Bilinear.axisWeights(h0, h, y0, y1, wy0, wy1);
        dinoseg.backend.Bilinear.axisWeights(w0, w, x0, x1, wx0, wx1);
        int n = w * h;
        float[] out = new float[3 * n];
        for (int c = 0; c < 3; c++) {
            int shift = 16 - 8 * c;
            for (int oy = 0; oy < h; oy++) {
                int r0 = y0[oy] * w0, r1 = y1[oy] * w0;
                for (int ox = 0; ox < w; ox++) {
                    int c0 = x0[ox], c1 = x1[ox];
                    float v = wy0[oy] * (wx0[ox] * ((rgb[r0 + c0] >>> shift) & 255) + wx1[ox] * ((rgb[r0 + c1] >>> shift) & 255))
                            + wy1[oy] * (wx0[ox] * ((rgb[r1 + c0] >>> shift) & 255) + wx1[ox] * ((rgb[r1 + c1] >>> shift) & 255));
                    out[c * n + oy * w + ox] = ImageNetNorm.normalise(c, v);
                }
            }
        }
        return out;
    }

    /** A TYPE_INT_RGB image over the packed pixels (the array itself is its pixel store, not copied). */
    public static BufferedImage fromRgb(int[] rgb, int w, int h) {
        if (rgb.length != w * h) throw new IllegalArgumentException("fromRgb: " + rgb.length + " pixels for " + w + "x" + h);
        WritableRaster r = Raster.createPackedRaster(new DataBufferInt(rgb, rgb.length), w, h, w,
                new int[] {0xFF0000, 0xFF00, 0xFF}, null);
        return new BufferedImage(new DirectColorModel(24, 0xFF0000, 0xFF00, 0xFF), r, false, null);
    }
}
