package dinoseg.data;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

/** Small dataset trees written by the tests themselves. */
final class Fixtures {
    private Fixtures() {}

    /** A random label map w*h over classes 0..k-1 in blocks, with a ring of {@code boundary} around each block when boundary >= 0. */
    static int[] blockLabels(Random r, int w, int h, int k, int boundary) {
        int[] ids = new int[w * h];
        int bw = 8;
        for (int by = 0; by < h; by += bw)
            for (int bx = 0; bx < w; bx += bw) {
                int c = r.nextInt(k);
                for (int y = by; y < Math.min(h, by + bw); y++)
                    for (int x = bx; x < Math.min(w, bx + bw); x++) {
                        boolean edge = boundary >= 0 && (x == bx || y == by);
                        ids[y * w + x] = edge ? boundary : c;
                    }
            }
        return ids;
    }

    /** An RGB image whose colour depends on the label (so images and masks are related) plus noise. */
    static BufferedImage imageFor(Random r, int[] ids, int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int i = 0; i < ids.length; i++) {
            int v = (ids[i] * 37) & 255;
            int c = Math.min(255, v + r.nextInt(10));
            img.setRGB(i % w, i / w, (c << 16) | ((255 - c) << 8) | (c / 2));
        }
        return img;
    }

    static void writeJpeg(BufferedImage img, Path file) throws IOException {
        Files.createDirectories(file.getParent());
        DemoData.writeJpeg(img, file, 0.9f);
    }

    static void writePng(BufferedImage img, Path file) throws IOException {
        Files.createDirectories(file.getParent());
        MaskIO.writePng(img, file.toFile());
    }

    /**
     * A VOCdevkit tree: {@code root/VOCdevkit/VOC2012/...} with palettized masks (VOC palette) over
     * 21 classes with 255 boundaries; nTrain + nValid images of w x h. Returns the VOCdevkit folder.
     */
    static Path vocTree(Path root, int nTrain, int nValid, int w, int h, long seed) throws IOException {
        Path voc = root.resolve("VOCdevkit").resolve("VOC2012");
        Path jpg = voc.resolve("JPEGImages"), seg = voc.resolve("SegmentationClass"), sets = voc.resolve("ImageSets").resolve("Segmentation");
        Files.createDirectories(jpg);
        Files.createDirectories(seg);
        Files.createDirectories(sets);
        Random r = new Random(seed);
        StringBuilder train = new StringBuilder(), val = new StringBuilder();
        for (int i = 0; i < nTrain + nValid; i++) {
            String id = String.format("2007_%06d", i);
            int[] ids = blockLabels(r, w, h, 21, 255);
            writeJpeg(imageFor(r, ids, w, h), jpg.resolve(id + ".jpg"));
            MaskIO.writeIndexPng(seg.resolve(id + ".png").toFile(), ids, w, h, Palette.voc());
            (i < nTrain ? train : val).append(id).append('\n');
        }
        // an image outside the segmentation lists, as in the real VOC
        writeJpeg(imageFor(r, new int[w * h], w, h), jpg.resolve("2008_999999.jpg"));
        Files.writeString(sets.resolve("train.txt"), train.toString());
        Files.writeString(sets.resolve("val.txt"), val.toString());
        return root.resolve("VOCdevkit");
    }

    /**
     * A tutorial-layout tree with RGB colour-coded masks (class colours of {@code classes}) and the
     * VOC boundary colour at block edges (label 255 in {@code labelsOut} order: train then valid).
     */
    static Path rgbTree(Path dir, ClassSet classes, int nTrain, int nValid, int w, int h, long seed, List<int[]> labelsOut) throws IOException {
        Random r = new Random(seed);
        for (String split : List.of("train", "valid")) {
            int n = split.equals("train") ? nTrain : nValid;
            for (int i = 0; i < n; i++) {
                int[] ids = blockLabels(r, w, h, classes.size(), 255);
                writeJpeg(imageFor(r, ids, w, h), dir.resolve(split + "_images").resolve(split + i + ".jpg"));
                BufferedImage m = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
                for (int p = 0; p < ids.length; p++)
                    m.setRGB(p % w, p / w, ids[p] == 255 ? Palette.VOC_BOUNDARY_RGB : classes.color(ids[p]));
                writePng(m, dir.resolve(split + "_labels").resolve(split + i + ".png"));
                if (labelsOut != null) labelsOut.add(ids);
            }
        }
        return dir;
    }

    /** Fills a file with bytes that are no image. */
    static void corrupt(Path file) throws IOException {
        byte[] junk = new byte[200];
        new Random(1).nextBytes(junk);
        Files.write(file, junk);
    }
}
