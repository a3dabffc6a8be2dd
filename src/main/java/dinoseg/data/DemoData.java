package dinoseg.data;

import dinoseg.io.AtomicFiles;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A small procedural dataset in the tutorial layout (layout 1), the data the training demo and the
 * tests use: textured, noisy backgrounds with circles, squares and triangles of varied size, position,
 * rotation and colour (each class within its own hue family, so a tiny model learns it in minutes).
 * Masks are RGB PNGs colour-coded with the VOC palette; {@code classes.json} names the four classes.
 * Every image holds at least one shape of each class. The same seed gives the same files, byte for byte.
 */
public final class DemoData {
    private DemoData() {}

    /** Image side in pixels (a multiple of the patch size 14). */
    public static final int SIZE = 112;
    /** Training images. */
    public static final int TRAIN = 64;
    /** Validation images. */
    public static final int VALID = 16;
    /** The classes: background, circle, square, triangle, coloured by the VOC palette. */
    public static final List<String> CLASS_NAMES = List.of("background", "circle", "square", "triangle");

    /** The demo class set (VOC palette colours 0..3, ignore index 255). */
    public static ClassSet classes() {
        int[] colors = new int[CLASS_NAMES.size()];
        for (int i = 0; i < colors.length; i++) colors[i] = Palette.vocColor(i);
        return new ClassSet(CLASS_NAMES, colors, 255);
    }

    /** What was written. */
    public record Summary(Path root, int train, int valid, int size, ClassSet classes) {}

    /**
     * Writes {@code out/{train_images,train_labels,valid_images,valid_labels}} (JPEG images, RGB PNG
     * masks) and {@code out/classes.json}; existing files of the same names are replaced.
     */
    public static Summary generate(Path out, long seed) throws IOException {
        return generate(out, seed, TRAIN, VALID);
    }

    /**
     * As {@link #generate(Path, long)} with other image counts; image i of a split is the same whatever
     * the counts (each image has its own random stream from seed, split and index).
     */
    public static Summary generate(Path out, long seed, int train, int valid) throws IOException {
        ClassSet classes = classes();
        Palette palette = classes.palette();
        for (String split : List.of("train", "valid")) {
            Path images = out.resolve(split + "_images"), labels = out.resolve(split + "_labels");
            Files.createDirectories(images);
            Files.createDirectories(labels);
            int count = split.equals("train") ? train : valid;
            for (int i = 0; i < count; i++) {
                SplittableRandom rng = new SplittableRandom(DataLoader.mix(seed, split.equals("train") ? 1 : 2, i));
                int[] rgb = new int[SIZE * SIZE];
                int[] mask = new int[SIZE * SIZE];
                render(rng, rgb, mask);
                BufferedImage img = new BufferedImage(SIZE, SIZE, BufferedImage.TYPE_INT_RGB);
                img.setRGB(0, 0, SIZE, SIZE, rgb, 0, SIZE);
                String stem = String.format("%s_%03d", split, i);
                writeJpeg(img, images.resolve(stem + ".jpg"), 0.95f);
                MaskIO.writeRgbPng(labels.resolve(stem + ".png").toFile(), mask, SIZE, SIZE, palette);
            }
        }
        classes.write(out.resolve("classes.json"));
        return new Summary(out, train, valid, SIZE, classes);
    }

    /** Draws one image and its mask: a textured background, then one shape per class plus 0-2 extras. */
    static void render(SplittableRandom rng, int[] rgb, int[] mask) {
        int n = SIZE;
        for (int attempt = 0; ; attempt++) {
            background(rng, rgb);
            java.util.Arrays.fill(mask, 0);
            int extras = rng.nextInt(3);
            int[] order = new int[3 + extras];
            for (int k = 0; k < 3; k++) order[k] = k + 1;
            for (int k = 3; k < order.length; k++) order[k] = 1 + rng.nextInt(3);
            for (int k = order.length - 1; k > 0; k--) { // random painting order
                int j = rng.nextInt(k + 1);
                int t = order[k]; order[k] = order[j]; order[j] = t;
            }
            double[][] centres = new double[order.length][];
            for (int k = 0; k < order.length; k++) {
                double r = rng.nextDouble(11, 24);
                double cx = 0, cy = 0;
                for (int tries = 0; tries < 30; tries++) { // keep shapes mostly apart
                    cx = rng.nextDouble(r * 0.6, n - r * 0.6);
                    cy = rng.nextDouble(r * 0.6, n - r * 0.6);
                    boolean ok = true;
                    for (int q = 0; q < k; q++)
                        if (Math.hypot(cx - centres[q][0], cy - centres[q][1]) < (r + centres[q][2]) * 0.8) ok = false;
                    if (ok) break;
                }
                centres[k] = new double[] {cx, cy, r};
                drawShape(rng, order[k], cx, cy, r, rgb, mask);
            }
            int[] count = new int[4];
            for (int m : mask) count[m]++;
            if ((count[1] >= 60 && count[2] >= 60 && count[3] >= 60) || attempt >= 20) return;
        }
    }

    private static void background(SplittableRandom rng, int[] rgb) {
        int n = SIZE;
        double hue = rng.nextDouble(0, 360), sat = rng.nextDouble(0.0, 0.25), val = rng.nextDouble(0.25, 0.8);
        double[] base = hsvToRgb(hue, sat, val);
        int waves = 3;
        double[][] w = new double[waves][];
        for (int k = 0; k < waves; k++)
            w[k] = new double[] {rng.nextDouble(0.03, 0.3), rng.nextDouble(0, Math.PI), rng.nextDouble(0, 2 * Math.PI), rng.nextDouble(8, 28)};
        double noise = rng.nextDouble(6, 22);
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) {
                double t = 0;
                for (double[] q : w) t += q[3] * Math.sin(q[0] * (x * Math.cos(q[1]) + y * Math.sin(q[1])) + q[2]);
                int[] c = new int[3];
                for (int ch = 0; ch < 3; ch++) c[ch] = clamp(base[ch] * 255 + t + rng.nextDouble(-noise, noise));
                rgb[y * n + x] = (c[0] << 16) | (c[1] << 8) | c[2];
            }
    }

    private static void drawShape(SplittableRandom rng, int cls, double cx, double cy, double r, int[] rgb, int[] mask) {
        int n = SIZE;
        double hueCentre = switch (cls) { case 1 -> 0; case 2 -> 120; default -> 230; };
        double hue = (hueCentre + rng.nextDouble(-28, 28) + 360) % 360;
        double[] col = hsvToRgb(hue, rng.nextDouble(0.45, 1.0), rng.nextDouble(0.5, 1.0));
        double angle = rng.nextDouble(0, 2 * Math.PI), cos = Math.cos(angle), sin = Math.sin(angle);
        double gx = rng.nextDouble(-1.2, 1.2), gy = rng.nextDouble(-1.2, 1.2), noise = rng.nextDouble(3, 12);
        double side = r * 0.85; // square half-side
        double[][] tri = new double[3][];
        for (int v = 0; v < 3; v++) {
            double a = angle + v * 2 * Math.PI / 3;
            tri[v] = new double[] {cx + 1.45 * r * Math.cos(a), cy + 1.45 * r * Math.sin(a)};
        }
        int x0 = Math.max(0, (int) (cx - 1.5 * r)), x1 = Math.min(n - 1, (int) (cx + 1.5 * r) + 1);
        int y0 = Math.max(0, (int) (cy - 1.5 * r)), y1 = Math.min(n - 1, (int) (cy + 1.5 * r) + 1);
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++) {
                double dx = x - cx, dy = y - cy;
                boolean in = switch (cls) {
                    case 1 -> dx * dx + dy * dy <= r * r;
                    case 2 -> Math.abs(dx * cos + dy * sin) <= side && Math.abs(-dx * sin + dy * cos) <= side;
                    default -> inTriangle(x, y, tri);
                };
                if (!in) continue;
                double shade = gx * dx + gy * dy;
                int c0 = clamp(col[0] * 255 + shade + rng.nextDouble(-noise, noise));
                int c1 = clamp(col[1] * 255 + shade + rng.nextDouble(-noise, noise));
                int c2 = clamp(col[2] * 255 + shade + rng.nextDouble(-noise, noise));
                rgb[y * n + x] = (c0 << 16) | (c1 << 8) | c2;
                mask[y * n + x] = cls;
            }
    }

    private static boolean inTriangle(double x, double y, double[][] t) {
        double d1 = cross(x, y, t[0], t[1]), d2 = cross(x, y, t[1], t[2]), d3 = cross(x, y, t[2], t[0]);
        boolean neg = d1 < 0 || d2 < 0 || d3 < 0, pos = d1 > 0 || d2 > 0 || d3 > 0;
        return !(neg && pos);
    }

    private static double cross(double x, double y, double[] a, double[] b) {
        return (x - b[0]) * (a[1] - b[1]) - (a[0] - b[0]) * (y - b[1]);
    }

    private static double[] hsvToRgb(double h, double s, double v) {
        double c = v * s, hp = h / 60, x = c * (1 - Math.abs(hp % 2 - 1)), m = v - c;
        double r, g, b;
        if (hp < 1) { r = c; g = x; b = 0; } else if (hp < 2) { r = x; g = c; b = 0; } else if (hp < 3) { r = 0; g = c; b = x; }
        else if (hp < 4) { r = 0; g = x; b = c; } else if (hp < 5) { r = x; g = 0; b = c; } else { r = c; g = 0; b = x; }
        return new double[] {r + m, g + m, b + m};
    }

    private static int clamp(double v) {
        return v < 0 ? 0 : (v > 255 ? 255 : (int) Math.round(v));
    }

    /** Writes a JPEG of the given quality atomically ({@link AtomicFiles}: temp file, fsync, rename). */
    static void writeJpeg(BufferedImage img, Path file, float quality) throws IOException {
        AtomicFiles.write(file, out -> {
            ImageWriter w = ImageIO.getImageWritersByFormatName("jpeg").next();
            // closing the image stream flushes it into out and leaves out open (AtomicFiles forces and closes it)
            try (ImageOutputStream os = ImageIO.createImageOutputStream(out)) {
                ImageWriteParam p = w.getDefaultWriteParam();
                p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
                p.setCompressionQuality(quality);
                w.setOutput(os);
                w.write(null, new IIOImage(img, null, null), p);
            } finally {
                w.dispose();
            }
        });
    }
}
