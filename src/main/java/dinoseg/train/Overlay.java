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
     * Builds image | truth | prediction for one normalised CHW image of h×w pixels: the image is the
     * normalisation undone ({@link ImageNetNorm#pixel}, rounded, clamped to 0..255), each mask is
     * blended over it with {@link Palette#blend}.
     *
     * @param chw     normalised image, 3*h*w floats from {@code offset}
     * @param truth   labels h*w (ignored ones: anything outside [0, colours))
     * @param pred    predicted classes h*w
     * @param colours packed RGB per class
     * @param alpha   weight of the class colour in the blend (used as a float, as inference overlays use it)
     * @return a TYPE_INT_RGB image of 3w x h pixels
     */
    public static BufferedImage triptych(float[] chw, int offset, int[] truth, int[] pred, int h, int w, int[] colours, double alpha) {
        BufferedImage out = new BufferedImage(3 * w, h, BufferedImage.TYPE_INT_RGB);
        float a = (float) alpha;
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
                out.setRGB(w + x, y, blend(plain, truth[i], colours, a));
                out.setRGB(2 * w + x, y, blend(plain, pred[i], colours, a));
            }
        }
        return out;
    }

    /** The pixel with class {@code cls}'s colour blended over it; a class outside [0, colours) (ignored) leaves it plain. */
    private static int blend(int rgb, int cls, int[] colours, float alpha) {
        return cls < 0 || cls >= colours.length ? rgb : Palette.blend(rgb, colours[cls], alpha);
    }

    /** Writes a PNG atomically. */
    public static void writePng(BufferedImage img, Path file) throws IOException {
        AtomicFiles.write(file, out -> {
            if (!ImageIO.write(img, "png", out)) throw new IOException(file + ": no PNG writer available");
        });
    }
}
