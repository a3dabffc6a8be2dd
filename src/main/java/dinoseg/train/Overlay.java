package dinoseg.train;

import dinoseg.data.ImageNetNorm;
import dinoseg.data.Palette;
import dinoseg.io.AtomicFiles;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The per-epoch preview of a training run: the validation image, its ground truth and the
 * prediction, side by side, each mask blended over the image with the class colours. Ignored
 * pixels of the ground truth are left as the plain image.
 */
public final class Overlay {
    private Overlay() { }

    /**
     * Builds image | truth | prediction for one normalised CHW image of h×w pixels.
     *
     * @param chw     normalised image, 3*h*w floats from {@code offset}
     * @param truth   labels h*w (ignored ones: anything outside [0, colours))
     * @param pred    predicted classes h*w
     * @param colours packed RGB per class
     * @param alpha   weight of the class colour in the blend
     */
    public static BufferedImage triptych(float[] chw, int offset, int[] truth, int[] pred, int h, int w, int[] colours, double alpha) {
        BufferedImage out = new BufferedImage(3 * w, h, BufferedImage.TYPE_INT_RGB);
        int n = h * w;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = y * w + x;
                int[] rgb = new int[3];
                for (int c = 0; c < 3; c++) {
                    float v = ImageNetNorm.pixel(c, chw[offset + c * n + i]);
                    rgb[c] = Math.max(0, Math.min(255, Math.round(v)));
                }
                int plain = (rgb[0] << 16) | (rgb[1] << 8) | rgb[2];
                out.setRGB(x, y, plain);
                out.setRGB(w + x, y, blend(plain, truth[i], colours, alpha));
                out.setRGB(2 * w + x, y, blend(plain, pred[i], colours, alpha));
            }
        }
        return out;
    }

    static int blend(int rgb, int cls, int[] colours, double alpha) {
        if (cls < 0 || cls >= colours.length) return rgb;
        int col = colours[cls];
        int r = mix((rgb >> 16) & 255, (col >> 16) & 255, alpha);
        int g = mix((rgb >> 8) & 255, (col >> 8) & 255, alpha);
        int b = mix(rgb & 255, col & 255, alpha);
        return (r << 16) | (g << 8) | b;
    }

    private static int mix(int a, int b, double alpha) {
        return (int) Math.round(a * (1 - alpha) + b * alpha);
    }

    /** Writes a PNG atomically. */
    public static void writePng(BufferedImage img, Path file) throws IOException {
        AtomicFiles.write(file, out -> {
            if (!ImageIO.write(img, "png", out)) throw new IOException(file + ": no PNG writer available");
        });
    }
}
