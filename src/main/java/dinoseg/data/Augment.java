package dinoseg.data;

import boofcv.struct.image.GrayF32;
import boofcv.struct.image.Planar;

import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Training-time augmentation, seeded: every random draw comes from the {@link SplittableRandom} the
 * caller passes (the loader derives it from seed, epoch and sample index).
 *
 * <ul>
 * <li>{@link Mode#TUTORIAL}: resize to the target; horizontal flip p=0.5; brightness/contrast p=0.2
 *     (each ±0.2, brightness relative to the maximum value); rotation ±25° with p=0.5 (albumentations'
 *     Rotate default), the uncovered area black in the image and ignored in the mask.</li>
 * <li>{@link Mode#OFFICIAL} (mmsegmentation's recipe): random rescale by 0.5–2.0 of the size that makes
 *     the short side fit the target, random crop to the target where no class covers more than 75% of
 *     the labelled pixels (up to 10 tries), flip p=0.5, photometric distortion (brightness ±32,
 *     contrast 0.5–1.5, saturation 0.5–1.5, hue ±18°, each p=0.5), padding ignored.</li>
 * <li>{@link Mode#NONE}: resize to the target only (what validation always uses).</li>
 * </ul>
 * Geometry is one {@link Warp} for image and mask alike, so the two stay aligned.
 */
public final class Augment {

    /** The augmentation recipes. */
    public enum Mode {
        TUTORIAL, OFFICIAL, NONE;

        /** Parses {@code tutorial|official|none} (any case). */
        public static Mode parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--augment: '" + s + "' is not one of tutorial, official, none");
            }
        }
    }

    /** What to do to one sample: the geometry and the photometric change (applied to 0..255 pixels). */
    public record Plan(Warp warp, Photometric photometric) {}

    /** A photometric change of an RGB image with values 0..255. */
    public interface Photometric {
        /** Applies the change in place. */
        void apply(Planar<GrayF32> img);

        /** No change. */
        Photometric NONE = img -> { };
    }

    private final Mode mode;

    private Augment(Mode mode) {
        this.mode = mode;
    }

    /** The augmentation for a mode. */
    public static Augment of(Mode mode) {
        return new Augment(mode);
    }

    /** No augmentation: resize only. */
    public static Augment none() {
        return new Augment(Mode.NONE);
    }

    /** The mode. */
    public Mode mode() {
        return mode;
    }

    /**
     * Draws the plan for one sample of size inW x inH going to outW x outH. {@code labels} (the
     * sample's mask, may be null) and {@code ignore} serve the official crop's category ratio test.
     */
    public Plan plan(int inW, int inH, int outW, int outH, int[] labels, int ignore, SplittableRandom rng) {
        return switch (mode) {
            case NONE -> new Plan(Warp.resize(inW, inH, outW, outH), Photometric.NONE);
            case TUTORIAL -> tutorial(inW, inH, outW, outH, rng);
            case OFFICIAL -> official(inW, inH, outW, outH, labels, ignore, rng);
        };
    }

    private static Plan tutorial(int inW, int inH, int outW, int outH, SplittableRandom rng) {
        Warp w = Warp.resize(inW, inH, outW, outH);
        if (rng.nextDouble() < 0.5) w = w.then(Warp.flipX(outW));
        Photometric photo = Photometric.NONE;
        if (rng.nextDouble() < 0.2) {
            float alpha = (float) (1 + rng.nextDouble(-0.2, 0.2));
            float beta = (float) (255 * rng.nextDouble(-0.2, 0.2));
            photo = img -> affinePixels(img, alpha, beta);
        }
        if (rng.nextDouble() < 0.5) w = w.then(Warp.rotate(rng.nextDouble(-25, 25), outW, outH));
        return new Plan(w, photo);
    }

    private static Plan official(int inW, int inH, int outW, int outH, int[] labels, int ignore, SplittableRandom rng) {
        double ratio = rng.nextDouble(0.5, 2.0);
        double s = ratio * Math.max((double) outW / inW, (double) outH / inH);
        int rw = Math.max(1, (int) Math.round(inW * s)), rh = Math.max(1, (int) Math.round(inH * s));
        Warp rescale = Warp.resize(inW, inH, rw, rh);
        int maxX = Math.max(0, rw - outW), maxY = Math.max(0, rh - outH);
        int cx = 0, cy = 0;
        for (int attempt = 0; attempt < 10; attempt++) {
            cx = maxX == 0 ? 0 : rng.nextInt(maxX + 1);
            cy = maxY == 0 ? 0 : rng.nextInt(maxY + 1);
            if (labels == null || categoryRatioOk(rescale.then(Warp.shift(cx, cy)), labels, inW, inH, outW, outH, ignore, 0.75))
                break;
        }
        Warp w = rescale.then(Warp.shift(cx, cy));
        if (rng.nextDouble() < 0.5) {
            int cropW = Math.min(outW, rw - cx); // flip the crop, the padding stays right/bottom
            w = w.then(Warp.flipX(cropW));
        }
        return new Plan(w, photometricDistortion(rng));
    }

    /** mmseg's test: more than one class in the crop and the largest under maxRatio (sampled on a grid). */
    private static boolean categoryRatioOk(Warp w, int[] labels, int inW, int inH, int outW, int outH, int ignore, double maxRatio) {
        int step = Math.max(1, (int) Math.sqrt((double) outW * outH / 16384));
        java.util.HashMap<Integer, Integer> counts = new java.util.HashMap<>();
        int total = 0;
        for (int y = 0; y < outH; y += step)
            for (int x = 0; x < outW; x += step) {
                int ix = (int) Math.floor(w.mapX(x, y) + 0.5), iy = (int) Math.floor(w.mapY(x, y) + 0.5);
                if (ix < 0 || iy < 0 || ix >= inW || iy >= inH) continue;
                int l = labels[iy * inW + ix];
                if (l == ignore) continue;
                counts.merge(l, 1, Integer::sum);
                total++;
            }
        if (counts.size() <= 1) return false;
        int max = counts.values().stream().mapToInt(Integer::intValue).max().orElse(0);
        return max < maxRatio * total;
    }

    private static Photometric photometricDistortion(SplittableRandom rng) {
        boolean brightness = rng.nextDouble() < 0.5;
        float delta = (float) rng.nextDouble(-32, 32);
        boolean contrastFirst = rng.nextInt(2) == 1;
        boolean contrast = rng.nextDouble() < 0.5;
        float alpha = (float) rng.nextDouble(0.5, 1.5);
        boolean saturation = rng.nextDouble() < 0.5;
        float sat = (float) rng.nextDouble(0.5, 1.5);
        boolean hue = rng.nextDouble() < 0.5;
        float hueShift = (float) rng.nextDouble(-18, 18);
        if (!brightness && !contrast && !saturation && !hue) return Photometric.NONE;
        return img -> {
            if (brightness) affinePixels(img, 1f, delta);
            if (contrast && contrastFirst) affinePixels(img, alpha, 0f);
            if (saturation || hue) hsv(img, saturation ? sat : 1f, hue ? hueShift : 0f);
            if (contrast && !contrastFirst) affinePixels(img, alpha, 0f);
        };
    }

    /** v = clamp(v * alpha + beta, 0, 255) on every band. */
    static void affinePixels(Planar<GrayF32> img, float alpha, float beta) {
        for (int band = 0; band < img.getNumBands(); band++) {
            GrayF32 g = img.getBand(band);
            for (int y = 0; y < g.height; y++) {
                int i = g.startIndex + y * g.stride;
                for (int x = 0; x < g.width; x++, i++) {
                    float v = g.data[i] * alpha + beta;
                    g.data[i] = v < 0 ? 0 : (v > 255 ? 255 : v);
                }
            }
        }
    }

    /** Scales saturation and shifts hue (degrees) through HSV, per pixel. */
    static void hsv(Planar<GrayF32> img, float satScale, float hueShiftDeg) {
        GrayF32 rb = img.getBand(0), gb = img.getBand(1), bb = img.getBand(2);
        for (int y = 0; y < rb.height; y++) {
            int i = rb.startIndex + y * rb.stride;
            for (int x = 0; x < rb.width; x++, i++) {
                float r = rb.data[i], g = gb.data[i], b = bb.data[i];
                float max = Math.max(r, Math.max(g, b)), min = Math.min(r, Math.min(g, b));
                float v = max, d = max - min;
                float s = max <= 0 ? 0 : d / max;
                float h;
                if (d <= 0) h = 0;
                else if (max == r) h = 60 * ((g - b) / d);
                else if (max == g) h = 60 * ((b - r) / d + 2);
                else h = 60 * ((r - g) / d + 4);
                h += hueShiftDeg;
                h = ((h % 360) + 360) % 360;
                s = Math.min(1f, s * satScale);
                float c = v * s, hp = h / 60f, xx = c * (1 - Math.abs(hp % 2 - 1)), m = v - c;
                float r1, g1, b1;
                if (hp < 1) { r1 = c; g1 = xx; b1 = 0; }
                else if (hp < 2) { r1 = xx; g1 = c; b1 = 0; }
                else if (hp < 3) { r1 = 0; g1 = c; b1 = xx; }
                else if (hp < 4) { r1 = 0; g1 = xx; b1 = c; }
                else if (hp < 5) { r1 = xx; g1 = 0; b1 = c; }
                else { r1 = c; g1 = 0; b1 = xx; }
                rb.data[i] = Math.min(255f, r1 + m);
                gb.data[i] = Math.min(255f, g1 + m);
                bb.data[i] = Math.min(255f, b1 + m);
            }
        }
    }
}
