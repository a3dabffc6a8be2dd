package dinoseg.infer;

import java.awt.image.BufferedImage;

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

    /** Normalised CHW floats of an image. */
    public static float[] normalisedChw(BufferedImage img) {
        return normalisedChw(rgb(img), img.getWidth(), img.getHeight());
    }

    /** A TYPE_INT_RGB image of packed pixels. */
    public static BufferedImage fromRgb(int[] rgb, int w, int h) {
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        out.setRGB(0, 0, w, h, rgb, 0, w);
        return out;
    }
}
