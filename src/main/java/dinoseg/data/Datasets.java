package dinoseg.data;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Resolves a {@link DatasetSpec} into train and validation {@link SegDataset}s.
 *
 * <ol>
 * <li>Tutorial layout: {@code DIR/{train_images,train_labels,valid_images,valid_labels}}.</li>
 * <li>VOCdevkit: {@code VOC2012/{JPEGImages,SegmentationClass,ImageSets/Segmentation/{train,val}.txt}};
 *     DIR may be the VOCdevkit folder or VOC2012 itself.</li>
 * <li>Explicit folders (train images/masks, valid images/masks).</li>
 * </ol>
 * Images (.jpg/.jpeg/.png) and masks (.png) pair by file stem; unpaired files are listed in
 * {@link Opened#unpaired()} (one line each, naming the file).
 */
public final class Datasets {
    private Datasets() {}

    /** The recognised layouts. */
    public enum Layout {
        /** {@code train_images/train_labels/valid_images/valid_labels}. */
        TUTORIAL,
        /** VOCdevkit / VOC2012 with split lists. */
        VOC,
        /** Four folders given one by one. */
        EXPLICIT
    }

    /**
     * An opened dataset.
     *
     * @param layout   the layout recognised
     * @param root     the dataset root (layouts 1, 2) or the train images folder's parent (layout 3)
     * @param classes  the class set in use
     * @param train    training split
     * @param valid    validation split
     * @param unpaired one line per file without a partner (or listed in a split file but missing)
     */
    public record Opened(Layout layout, Path root, ClassSet classes, SegDataset train, SegDataset valid, List<String> unpaired) {
        /** One-line description: layout, root, pair counts. */
        public String describe() {
            return "dataset " + root + " (" + layout.name().toLowerCase(Locale.ROOT) + " layout): " + train.size() + " train / "
                    + valid.size() + " valid pairs, " + classes.size() + " classes";
        }
    }

    /** File extensions accepted for images. */
    public static final List<String> IMAGE_EXTENSIONS = List.of("jpg", "jpeg", "png");

    /** Opens without validating the files (see {@link #openValidated}); {@code log} gets notices (may be null). */
    public static Opened open(DatasetSpec spec, Consumer<String> log) {
        Consumer<String> out = log == null ? s -> { } : log;
        if (spec.data() != null) {
            boolean anyExplicit = spec.trainImages() != null || spec.trainMasks() != null || spec.validImages() != null || spec.validMasks() != null;
            if (anyExplicit)
                throw new IllegalArgumentException("give either --data or the four --train-images/--train-masks/--valid-images/--valid-masks folders, not both");
            Path dir = spec.data();
            dinoseg.io.FileKinds.requireFolder(dir);
            if (Files.isDirectory(dir.resolve("train_images")) || Files.isDirectory(dir.resolve("train_labels")))
                return tutorial(dir, spec, out);
            Path voc = vocRoot(dir);
            if (voc != null) return voc(voc, spec, out);
            throw new IllegalArgumentException(dir + ": not a dataset folder (expected train_images, train_labels, valid_images, "
                    + "valid_labels, or VOCdevkit/VOC2012 with JPEGImages and SegmentationClass)");
        }
        Path[] folders = {spec.trainImages(), spec.trainMasks(), spec.validImages(), spec.validMasks()};
        String[] flags = {"--train-images", "--train-masks", "--valid-images", "--valid-masks"};
        for (int i = 0; i < 4; i++)
            if (folders[i] == null)
                throw new IllegalArgumentException("no dataset: give --data DIR or all of --train-images, --train-masks, --valid-images, --valid-masks (" + flags[i] + " missing)");
        for (Path p : folders) requireDir(p);
        Path root = spec.trainImages().toAbsolutePath().getParent();
        ClassSet classes = classes(spec, root, out);
        List<String> unpaired = new ArrayList<>();
        SegDataset train = new SegDataset("train", pairFolders(spec.trainImages(), spec.trainMasks(), unpaired), classes, spec.maskFormat(), out);
        SegDataset valid = new SegDataset("valid", pairFolders(spec.validImages(), spec.validMasks(), unpaired), classes, spec.maskFormat(), out);
        return new Opened(Layout.EXPLICIT, root, classes, train, valid, List.copyOf(unpaired));
    }

    /**
     * Opens and checks every pair's headers (what training does): bad pairs make it fail with one line
     * naming the file, unless {@code spec.skipBad()}, which drops and lists them. Also fails when the
     * training or the validation split is empty (training validates every epoch), with the words
     * {@code data check} uses.
     */
    public static Opened openValidated(DatasetSpec spec, Consumer<String> log) {
        Opened o = open(spec, log);
        if (o.train().size() == 0) throw new IllegalArgumentException(SegDataset.emptySplit(o.root(), "train"));
        if (o.valid().size() == 0) throw new IllegalArgumentException(SegDataset.emptySplit(o.root(), "valid"));
        for (String u : o.unpaired()) if (log != null) log.accept("warning: " + u);
        SegDataset train = o.train().validated(spec.skipBad(), log);
        SegDataset valid = o.valid().validated(spec.skipBad(), log);
        return new Opened(o.layout(), o.root(), o.classes(), train, valid, o.unpaired());
    }

    private static Opened tutorial(Path dir, DatasetSpec spec, Consumer<String> log) {
        Path ti = dir.resolve("train_images"), tl = dir.resolve("train_labels"), vi = dir.resolve("valid_images"), vl = dir.resolve("valid_labels");
        for (Path p : List.of(ti, tl, vi, vl)) requireDir(p);
        ClassSet classes = classes(spec, dir, log);
        List<String> unpaired = new ArrayList<>();
        SegDataset train = new SegDataset("train", pairFolders(ti, tl, unpaired), classes, spec.maskFormat(), log);
        SegDataset valid = new SegDataset("valid", pairFolders(vi, vl, unpaired), classes, spec.maskFormat(), log);
        return new Opened(Layout.TUTORIAL, dir, classes, train, valid, List.copyOf(unpaired));
    }

    /** VOC2012 folder under dir (dir itself, dir/VOC2012 or dir/VOCdevkit/VOC2012), or null. */
    private static Path vocRoot(Path dir) {
        for (Path p : List.of(dir, dir.resolve("VOC2012"), dir.resolve("VOCdevkit").resolve("VOC2012")))
            if (Files.isDirectory(p.resolve("JPEGImages")) || Files.isDirectory(p.resolve("SegmentationClass"))) return p;
        return null;
    }

    private static Opened voc(Path root, DatasetSpec spec, Consumer<String> log) {
        Path images = root.resolve("JPEGImages"), masks = root.resolve("SegmentationClass");
        Path lists = root.resolve("ImageSets").resolve("Segmentation");
        requireDir(images);
        requireDir(masks);
        requireDir(lists);
        ClassSet classes = classes(spec, root, log);
        List<String> unpaired = new ArrayList<>();
        SegDataset train = new SegDataset("train", vocSplit(images, masks, lists.resolve("train.txt"), unpaired), classes, spec.maskFormat(), log);
        SegDataset valid = new SegDataset("valid", vocSplit(images, masks, lists.resolve("val.txt"), unpaired), classes, spec.maskFormat(), log);
        return new Opened(Layout.VOC, root, classes, train, valid, List.copyOf(unpaired));
    }

    private static List<SegDataset.Sample> vocSplit(Path images, Path masks, Path list, List<String> unpaired) {
        dinoseg.io.FileKinds.requireFile(list, "split list");
        List<String> ids;
        try {
            ids = Files.readAllLines(list, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException(list + ": cannot read split list (" + e.getMessage() + ")");
        }
        List<SegDataset.Sample> out = new ArrayList<>();
        for (String raw : ids) {
            String id = raw.trim();
            if (id.isEmpty()) continue;
            Path img = null;
            for (String ext : IMAGE_EXTENSIONS) {
                Path p = images.resolve(id + "." + ext);
                if (Files.isRegularFile(p)) { img = p; break; }
            }
            Path mask = masks.resolve(id + ".png");
            boolean hasMask = Files.isRegularFile(mask);
            if (img == null && !hasMask) unpaired.add(list + ": '" + id + "' has neither an image in " + images + " nor a mask in " + masks);
            else if (img == null) unpaired.add(mask + ": mask has no image " + id + ".jpg in " + images);
            else if (!hasMask) unpaired.add(img + ": image has no mask " + id + ".png in " + masks);
            else out.add(new SegDataset.Sample(id, img, mask));
        }
        return out;
    }

    /** Pairs images and masks of two folders by stem, sorted by stem; extra files go to {@code unpaired}. */
    public static List<SegDataset.Sample> pairFolders(Path imagesDir, Path masksDir, List<String> unpaired) {
        Map<String, Path> images = listByStem(imagesDir, IMAGE_EXTENSIONS, unpaired);
        Map<String, Path> masks = listByStem(masksDir, List.of("png"), unpaired);
        List<SegDataset.Sample> out = new ArrayList<>();
        for (Map.Entry<String, Path> e : images.entrySet()) {
            Path m = masks.get(e.getKey());
            if (m == null) unpaired.add(e.getValue() + ": image has no mask " + e.getKey() + ".png in " + masksDir);
            else out.add(new SegDataset.Sample(e.getKey(), e.getValue(), m));
        }
        for (Map.Entry<String, Path> e : masks.entrySet())
            if (!images.containsKey(e.getKey())) unpaired.add(e.getValue() + ": mask has no image in " + imagesDir);
        return out;
    }

    private static Map<String, Path> listByStem(Path dir, List<String> exts, List<String> problems) {
        Map<String, Path> out = new TreeMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s.sorted()::iterator) {
                if (!Files.isRegularFile(p)) continue;
                String f = p.getFileName().toString();
                int dot = f.lastIndexOf('.');
                if (dot <= 0) continue;
                String ext = f.substring(dot + 1).toLowerCase(Locale.ROOT);
                if (!exts.contains(ext)) continue;
                String stem = f.substring(0, dot);
                Path prev = out.putIfAbsent(stem, p);
                if (prev != null) problems.add(p + ": same stem as " + prev.getFileName() + " (ambiguous pairing; " + prev.getFileName() + " is used)");
            }
        } catch (IOException e) {
            throw new IllegalArgumentException(dir + ": cannot list folder (" + e.getMessage() + ")");
        }
        return out;
    }

    private static void requireDir(Path p) {
        dinoseg.io.FileKinds.requireFolder(p);
    }

    private static ClassSet classes(DatasetSpec spec, Path root, Consumer<String> log) {
        if (spec.classes() != null) return spec.classes();
        Path json = root.resolve("classes.json");
        if (Files.isRegularFile(json)) {
            log.accept("classes: " + json + " (found beside the data; --classes overrides)");
            return ClassSet.load(json);
        }
        return ClassSet.voc();
    }
}
