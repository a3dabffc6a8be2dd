package dinoseg.data;

import boofcv.struct.image.GrayF32;
import boofcv.struct.image.Planar;

/**
 * ImageNet normalisation, the project's one place for its constants and its arithmetic. A sample
 * {@code v} (0..255) of channel {@code c} (0 R, 1 G, 2 B) becomes {@code (v / 255 - mean[c]) / std[c]}
 * in float32, in that order: what torchvision's {@code ToTensor()} followed by
 * {@code Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))} computes, the transform
 * DINOv2's training and evaluation pipelines apply. Training ({@link Preprocess}), evaluation,
 * inference and feature extraction all normalise through {@link #normalise(int, float)}, so a picture
 * reaches the model with the same numbers on every path.
 */
public final class ImageNetNorm {
    private ImageNetNorm() { }

    private static final float[] MEAN = {0.485f, 0.456f, 0.406f};
    private static final float[] STD = {0.229f, 0.224f, 0.225f};

    /** The ImageNet mean of channel c (0 R, 1 G, 2 B) on 0..1 values. */
    public static float mean(int c) { return MEAN[c]; }

    /** The ImageNet standard deviation of channel c (0 R, 1 G, 2 B) on 0..1 values. */
    public static float std(int c) { return STD[c]; }

    /** Sample {@code v} (0..255) of channel {@code c} normalised: {@code (v / 255 - mean[c]) / std[c]}. */
    public static float normalise(int c, float v) {
        return (v / 255f - MEAN[c]) / STD[c];
    }

    /** The inverse of {@link #normalise(int, float)}: the 0..255 sample (unrounded, unclamped) of a normalised value. */
    public static float pixel(int c, float normalised) {
        return (normalised * STD[c] + MEAN[c]) * 255f;
    }

    /**
     * Writes an RGB image (3 bands, values 0..255) normalised into {@code out[offset .. offset + 3*h*w)}
     * as CHW (channel planes, rows top to bottom).
     *
     * @throws IllegalArgumentException when the image does not have 3 bands or {@code out} is too small
     */
    public static void normalise(Planar<GrayF32> img, float[] out, int offset) {
        int w = img.width, h = img.height, n = w * h;
        if (img.getNumBands() != 3) throw new IllegalArgumentException("normalise: expected 3 bands, got " + img.getNumBands());
        if (offset < 0 || out.length - offset < 3L * n)
            throw new IllegalArgumentException("normalise: output of " + out.length + " floats too small for 3x" + h + "x" + w + " at " + offset);
        for (int c = 0; c < 3; c++) {
            GrayF32 b = img.getBand(c);
            int o = offset + c * n;
            for (int y = 0; y < h; y++) {
                int i = b.startIndex + y * b.stride;
                for (int x = 0; x < w; x++) out[o++] = normalise(c, b.data[i++]);
            }
        }
    }

    /**
     * Packed 0xRRGGBB pixels (row-major, {@code w*h}; bits above 24 ignored) normalised into a new
     * CHW array of {@code 3*h*w} floats.
     *
     * @throws IllegalArgumentException when {@code rgb.length != w*h}
     */
    public static float[] normalise(int[] rgb, int w, int h) {
        int n = w * h;
        if (rgb.length != n) throw new IllegalArgumentException("normalise: " + rgb.length + " pixels for " + w + "x" + h);
        float[] out = new float[3 * n];
        for (int c = 0; c < 3; c++) {
            int shift = 16 - 8 * c, off = c * n;
            for (int i = 0; i < n; i++) out[off + i] = normalise(c, (rgb[i] >>> shift) & 255);
        }
        return out;
    }
}
