package dinoseg.data;

import boofcv.struct.image.GrayF32;
import boofcv.struct.image.Planar;

import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Turns a decoded sample into network input at a fixed target size: augmentation geometry and
 * photometrics ({@link Augment}), then ImageNet normalisation ({@link ImageNetNorm}) into a CHW float
 * block and the mask into an int block (nearest neighbour, ignored pixels = the ignore index).
 *
 * <p>Target sizes are multiples of the patch size 14; {@link #of} rounds a requested size up and says so
 * in one line through the logger.
 */
public final class Preprocess {
    /** The DINOv2 patch size that input sizes must be multiples of. */
    public static final int PATCH = 14;

    private final int width, height;

    /** Per-thread warp output, reused across samples (loader workers would otherwise allocate 3*H*W floats each). */
    private static final ThreadLocal<Planar<GrayF32>> SCRATCH = new ThreadLocal<>();

    private Preprocess(int width, int height) {
        this.width = width;
        this.height = height;
    }

    /**
     * A target of width x height, each rounded up to a multiple of 14; when rounding changes the size,
     * one notice line goes to {@code log} (may be null).
     */
    public static Preprocess of(int width, int height, Consumer<String> log) {
        if (width <= 0 || height <= 0) throw new IllegalArgumentException("image size " + width + "x" + height + " must be positive");
        int w = roundUp(width), h = roundUp(height);
        if ((w != width || h != height) && log != null)
            log.accept("note: image size " + width + "x" + height + " rounded up to " + w + "x" + h + " (multiple of patch size 14)");
        return new Preprocess(w, h);
    }

    /** Square target: {@code of(size, size, log)}. */
    public static Preprocess of(int size, Consumer<String> log) {
        return of(size, size, log);
    }

    /** {@code v} rounded up to a multiple of 14. */
    public static int roundUp(int v) {
        return (v + PATCH - 1) / PATCH * PATCH;
    }

    /** Target width (a multiple of 14). */
    public int width() { return width; }

    /** Target height (a multiple of 14). */
    public int height() { return height; }

    /**
     * Processes one sample into the batch arrays: image (0..255 RGB) and mask are warped with the
     * augmentation's plan, photometrics applied, the image normalised into
     * {@code images[imageOffset .. +3*H*W)} and the labels written to {@code labels[labelOffset .. +H*W)}.
     *
     * @param image   RGB planar image, values 0..255 (not modified)
     * @param mask    class ids of the same size as the image
     * @param ignore  label for ignored and uncovered pixels
     * @param rng     the sample's random source
     */
    public void apply(Planar<GrayF32> image, int[] mask, int ignore, Augment augment, SplittableRandom rng,
                      float[] images, int imageOffset, int[] labels, int labelOffset) {
        int inW = image.width, inH = image.height;
        if (mask.length != inW * inH)
            throw new IllegalArgumentException("Preprocess.apply: mask of " + mask.length + " pixels for a " + inW + "x" + inH + " image");
        Augment.Plan plan = augment.plan(inW, inH, width, height, mask, ignore, rng);
        Planar<GrayF32> out = plan.warp().applyImage(image, width, height, SCRATCH.get());
        SCRATCH.set(out);
        if (plan.photometric() != Augment.Photometric.NONE) {
            plan.photometric().apply(out);
            plan.warp().zeroOutside(out, inW, inH);
        }
        ImageNetNorm.normalise(out, images, imageOffset);
        plan.warp().applyLabels(mask, inW, inH, labels, labelOffset, width, height, ignore);
    }
}
