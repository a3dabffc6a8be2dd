package dinoseg.train;

import com.google.gson.JsonObject;
import dinoseg.data.Augment;
import dinoseg.model.SegmentationHead;
import dinoseg.data.ClassSet;
import dinoseg.data.MaskIO;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

/** A tiny dataset for training tests: a red rectangle (class 1) and a blue disc (class 2) on noise, grey index masks. */
final class TinyData {
    private TinyData() { }

    static final ClassSet CLASSES = new ClassSet(List.of("background", "box", "disc"), null, 255);

    /** Writes {@code train} and {@code valid} images of size×size (tutorial layout) and classes.json. */
    static Path write(Path root, int train, int valid, int size, long seed) throws IOException {
        return write(root, train, valid, size, seed, false);
    }

    /**
     * @param aligned shapes are opposite quadrants (class 1 and class 2), on the patch grid, and the
     *                validation split repeats the training images: what a model can fit exactly
     */
    static Path write(Path root, int train, int valid, int size, long seed, boolean aligned) throws IOException {
        for (String split : List.of("train", "valid")) {
            Path im = Files.createDirectories(root.resolve(split + "_images"));
            Path lb = Files.createDirectories(root.resolve(split + "_labels"));
            int n = split.equals("train") ? train : valid;
            for (int i = 0; i < n; i++) {
                SplittableRandom r = new SplittableRandom(seed * 1000 + (split.equals("train") || aligned ? 0 : 500) + i);
                BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
                int[] mask = new int[size * size];
                int bx = r.nextInt(size / 2), by = r.nextInt(size / 2), bw = size / 4 + r.nextInt(size / 4), bh = size / 4 + r.nextInt(size / 4);
                int cx = r.nextInt(size / 4, 3 * size / 4), cy = r.nextInt(size / 4, 3 * size / 4), rad = size / 8 + r.nextInt(size / 8);
                for (int y = 0; y < size; y++) {
                    for (int x = 0; x < size; x++) {
                        int g = 90 + r.nextInt(60);
                        int dx = x - cx, dy = y - cy;
                        boolean box = aligned ? inQuadrant(x, y, size, i + 2) : x >= bx && x < bx + bw && y >= by && y < by + bh;
                        boolean disc = aligned ? inQuadrant(x, y, size, i) : dx * dx + dy * dy <= rad * rad;
                        int rgb = (g << 16) | (g << 8) | g, cls = 0;
                        if (box) { rgb = ((200 + r.nextInt(40)) << 16) | (30 << 8) | 30; cls = 1; }
                        if (disc) { rgb = (30 << 16) | (40 << 8) | (200 + r.nextInt(40)); cls = 2; }
                        img.setRGB(x, y, rgb);
                        mask[y * size + x] = cls;
                    }
                }
                String stem = String.format("%s_%02d", split, i);
                ImageIO.write(img, "png", im.resolve(stem + ".png").toFile());
                MaskIO.writeGreyPng(lb.resolve(stem + ".png").toFile(), mask, size, size);
            }
        }
        CLASSES.write(root.resolve("classes.json"));
        return root;
    }

    /** Quadrant k mod 4 of the image (patch-aligned when size is a multiple of 28). */
    private static boolean inQuadrant(int x, int y, int size, int k) {
        int q = k % 4, half = size / 2;
        return x / half == q % 2 && y / half == q / 2;
    }

    /** A training config for a tiny model (32 dim, 2 blocks, 2 heads) on {@code data} at size×size. */
    static TrainConfig.Builder config(Path data, Path out, int size) {
        JsonObject dataset = new JsonObject();
        dataset.addProperty("data", data.toString());
        JsonObject backbone = new JsonObject();
        backbone.addProperty("name", "tiny");
        backbone.addProperty("embed_dim", 32);
        backbone.addProperty("depth", 2);
        backbone.addProperty("heads", 2);
        backbone.addProperty("pos_grid", 4);
        return TrainConfig.builder().dataset(dataset).backbone("tiny").backboneConfig(backbone).head(SegmentationHead.Kind.LINEAR)
                .epochs(2).imgSize(size, size).batch(2).lr(1e-3).device("cpu").workers(1).seed(7).outDir(out.toString());
    }

    /** {@link #config} for two epochs of fine-tuning with a batch-norm head, a cosine schedule and augmentation: every kind of training state. */
    static TrainConfig.Builder fineTuneConfig(Path data, Path out) {
        return config(data, out, 56).epochs(2).fineTune(true).head(SegmentationHead.Kind.BN).scheduler(LrSchedule.Kind.COSINE)
                .augment(Augment.Mode.TUTORIAL);
    }
}
