package dinoseg.data;

import boofcv.struct.image.GrayF32;
import boofcv.struct.image.Planar;
import dinoseg.tensor.Shape;

import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Turns a decoded sample into network input at a fixed target size: augmentation geometry and
 * photometrics ({@link Augment}), then ImageNet normalisation ({@link ImageNetNorm}) into a CHW float
 * block and the mask into an int block (nearest neighbour, ignored pixels = the ignore index).
 *
 * <p>Target sizes are multiples of the model's patch size (14 for every DINOv2 preset, from
 * {@code BackboneConfig.patch()}); {@link #of} rounds a requested size up and says so in one line
 * through the logger.
 */
public final class Preprocess {
    private final int width, height;

    /** Per-thread warp output, reused across samples (loader workers would otherwise allocate 3*H*W floats each). */
    private static final ThreadLocal<Planar<GrayF32>> SCRATCH = new ThreadLocal<>();

    private Preprocess(int width, int height) {
        this.width = width;
        this.height = height;
    }

    /**
     * A target of width x height pixels, each rounded up to a multiple of {@code patch}
     * ({@link Shape#roundUp}); when rounding changes the size, one notice line goes to {@code log}
     * (may be null): {@code "note: image size 640x480 rounded up to 644x490 (multiple of patch size 14)"}.
     *
     * @param patch the model's patch size in pixels ({@code BackboneConfig.patch()})
     * @throws IllegalArgumentException when a size or the patch size is not positive
     */
    public static Preprocess of(int width, int height, int patch, Consumer<String> log) {
        if (width <= 0 || height <= 0) throw new IllegalArgumentException("image size " + width + "x" + height + " must be positive");
        if (patch <= 0) throw new IllegalArgumentException("patch size must be positive, got " + patch);
        int w = Shape.roundUp(width, patch), h = Shape.roundUp(height, patch);
        if ((w != width || h != height) && log != null)
            log.accept("note: image size " + width + "x" + height + " rounded up to " + w + "x" + h + " (multiple of patch size " + patch + ")");
        return new Preprocess(w, h);
    }

    /** Square target: {@code of(size, size, patch, log)}. */
    public static Preprocess of(int size, int patch, Consumer<String> log) {
        return of(size, size, patch, log);
    }

    /** Target width in pixels (a multiple of the patch size). */
    public int width() { return width; }

    /** Target height in pixels (a multiple of the patch size). */
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
