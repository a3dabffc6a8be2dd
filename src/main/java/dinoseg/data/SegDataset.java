package dinoseg.data;

import boofcv.struct.image.GrayF32;
import boofcv.struct.image.Planar;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * One split of a dataset: image/mask pairs and how to decode them. Thread-safe: loader workers call
 * {@link #load} concurrently.
 *
 * <p>Unknown mask colours and out-of-range ids become ignored pixels; they are counted
 * ({@link #unknownPixels()}) and reported once per dataset through the logger, never silently turned
 * into background.
 */
public final class SegDataset {
    /** An image and its mask, paired by file stem. */
    public record Sample(String id, Path imagePath, Path maskPath) {}

    /** A decoded sample: RGB planar image (0..255) and its class-id map (same size). */
    public record Item(Sample sample, Planar<GrayF32> image, LabelMap mask) {}

    private final String name;
    private final List<Sample> samples;
    private final ClassSet classes;
    private final MaskFormat format;
    private final Consumer<String> log;
    private final AtomicLong unknown = new AtomicLong();
    private final AtomicBoolean unknownReported = new AtomicBoolean();
    private final AtomicBoolean formatReported = new AtomicBoolean();
    private final AtomicBoolean noteReported = new AtomicBoolean();

    /**
     * @param name    split name for messages ("train", "valid")
     * @param samples the pairs
     * @param classes class set
     * @param format  mask format ({@code auto} decides per file and says once what it chose)
     * @param log     notices and warnings, one line each (may be null)
     */
    public SegDataset(String name, List<Sample> samples, ClassSet classes, MaskFormat format, Consumer<String> log) {
        this.name = name;
        this.samples = List.copyOf(samples);
        this.classes = classes;
        this.format = format;
        this.log = log == null ? s -> { } : log;
    }

    /** Split name. */
    public String name() { return name; }

    /** The pairs, in a fixed (sorted or listed) order. */
    public List<Sample> samples() { return samples; }

    /** Number of pairs. */
    public int size() { return samples.size(); }

    /** Pair {@code i}. */
    public Sample sample(int i) { return samples.get(i); }

    /** The class set. */
    public ClassSet classes() { return classes; }

    /** The mask format asked for. */
    public MaskFormat maskFormat() { return format; }

    /** Unknown-colour / out-of-range pixels met so far by {@link #load}. */
    public long unknownPixels() { return unknown.get(); }

    /**
     * Decodes pair {@code i}: the picture upright (see {@link ImageIOUtil#readPicture}), the mask as
     * stored. Unreadable files and size mismatches fail with the one line {@link #check} gives.
     */
    public Item load(int i) {
        Sample s = samples.get(i);
        BufferedImage maskImg = ImageIOUtil.read(s.maskPath());
        ImageIOUtil.Picture pic = ImageIOUtil.readPicture(s.imagePath());
        if (maskImg.getWidth() != pic.width() || maskImg.getHeight() != pic.height())
            throw new IllegalArgumentException(sizeMismatch(s, maskImg.getWidth(), maskImg.getHeight(), pic.width(), pic.height(), pic.orientation()));
        Planar<GrayF32> image = ImageIOUtil.toPlanar(pic.rgb(), pic.width(), pic.height());
        LabelMap mask = MaskIO.decode(maskImg, s.maskPath(), classes, format);
        if (format == MaskFormat.AUTO && formatReported.compareAndSet(false, true))
            log.accept(name + ": --mask-format auto chose " + mask.format().flag() + " (" + MaskIO.describeType(maskImg)
                    + " PNG masks, e.g. " + s.maskPath().getFileName() + ")");
        if (mask.note() != null && noteReported.compareAndSet(false, true)) log.accept("note: " + name + ": " + mask.note());
        if (mask.unknownPixels() > 0) {
            unknown.addAndGet(mask.unknownPixels());
            if (unknownReported.compareAndSet(false, true))
                log.accept("warning: " + name + ": " + s.maskPath() + " has " + mask.unknownPixels() + " pixels of unknown "
                        + mask.describeUnknown() + "; such pixels are ignored (reported once; `dinoseg data check` lists every file)");
        }
        return new Item(s, image, mask);
    }

    /** Why a pair cannot be used. */
    public enum Fault {
        /** A file is missing, empty, truncated, corrupt or not an image. */
        UNREADABLE,
        /** Both decode but the mask's size differs from the (upright) image's. */
        SIZE_MISMATCH,
        /** The mask decodes but not as classes in the format asked for (a colour mask as index, a palette that fits no reading). */
        MASK_ENCODING;

        /** In words, as the skip summaries count them: "unreadable", "size mismatch", "mask encoding". */
        public String words() {
            return switch (this) {
                case UNREADABLE -> "unreadable";
                case SIZE_MISMATCH -> "size mismatch";
                case MASK_ENCODING -> "mask encoding";
            };
        }
    }

    /**
     * The outcome of {@link #check}: {@code fault} and {@code message} (one line naming the file) are
     * null for a good pair, whose decoded class map and mask PNG type ("palettized", "grey", "RGB")
     * are kept for callers that go on with them.
     */
    public record PairCheck(Sample sample, Fault fault, String message, LabelMap labels, String maskType) {
        /** Whether the pair can be used. */
        public boolean ok() { return fault == null; }
    }

    /** {@link #check(Sample, ClassSet, MaskFormat)} with this split's classes and mask format. */
    public PairCheck check(Sample s) {
        return check(s, classes, format);
    }

    /**
     * The one check every command applies to a pair (train, eval, data check): both files decode,
     * the mask has the size of the image as displayed (EXIF orientation applied), and the mask
     * decodes as classes in {@code format}. The message of a mismatch says when the orientation tag
     * is what makes the sizes differ.
     */
    public static PairCheck check(Sample s, ClassSet classes, MaskFormat format) {
        ImageIOUtil.Stored img;
        BufferedImage mask;
        try {
            img = ImageIOUtil.readStored(s.imagePath());
            mask = ImageIOUtil.read(s.maskPath());
        } catch (IllegalArgumentException e) {
            return new PairCheck(s, Fault.UNREADABLE, e.getMessage(), null, null);
        }
        if (img.uprightWidth() != mask.getWidth() || img.uprightHeight() != mask.getHeight())
            return new PairCheck(s, Fault.SIZE_MISMATCH,
                    sizeMismatch(s, mask.getWidth(), mask.getHeight(), img.uprightWidth(), img.uprightHeight(), img.orientation()), null, null);
        try {
            return new PairCheck(s, null, null, MaskIO.decode(mask, s.maskPath(), classes, format), MaskIO.describeType(mask));
        } catch (IllegalArgumentException e) {
            return new PairCheck(s, Fault.MASK_ENCODING, e.getMessage(), null, null);
        }
    }

    /** The size-mismatch line: mask size, image size as displayed, and the orientation when it explains the difference. */
    static String sizeMismatch(Sample s, int mw, int mh, int iw, int ih, int orientation) {
        String m = s.maskPath() + ": mask is " + mw + "x" + mh + " but its image " + s.imagePath().getFileName() + " is " + iw + "x" + ih;
        if (orientation != 1) {
            boolean swap = Orientation.swapsAxes(orientation);
            int sw = swap ? ih : iw, sh = swap ? iw : ih;
            if (sw == mw && sh == mh)
                return m + " as displayed: its EXIF orientation " + orientation + " (" + Orientation.describe(orientation)
                        + ") turns the stored " + sw + "x" + sh + " pixels; the mask was drawn on the unturned pixels "
                        + "(re-save the image upright, or the mask turned the same way)";
            return m + " as displayed (EXIF orientation " + orientation + ", " + Orientation.describe(orientation) + ")";
        }
        return m;
    }

    /**
     * Checks every pair (in parallel). With bad pairs it fails naming the first, unless
     * {@code skipBad}, which drops them, lists each through the logger ({@code "skipped: <problem>"})
     * and sums them up ({@link #skippedSummary}). A split left with no pair fails too.
     */
    public SegDataset validated(boolean skipBad, Consumer<String> log) {
        Consumer<String> out = log == null ? this.log : log;
        PairCheck[] checks = new PairCheck[samples.size()];
        java.util.stream.IntStream.range(0, samples.size()).parallel().forEach(i -> {
            PairCheck c = check(samples.get(i));
            checks[i] = new PairCheck(c.sample(), c.fault(), c.message(), null, null); // keep no decoded masks
        });
        List<Sample> good = new ArrayList<>();
        List<PairCheck> bad = new ArrayList<>();
        for (PairCheck c : checks) {
            if (c.ok()) good.add(c.sample());
            else bad.add(c);
        }
        if (bad.isEmpty()) return this;
        if (!skipBad)
            throw new IllegalArgumentException(bad.get(0).message() + (bad.size() > 1 ? " (and " + (bad.size() - 1) + " more bad pairs in " + name + ")" : "")
                    + "; fix the data or pass --skip-bad");
        for (PairCheck b : bad) out.accept("skipped: " + b.message());
        out.accept(skippedSummary(name, bad, good.size()));
        if (good.isEmpty()) throw new IllegalArgumentException(noneLeft(name));
        return new SegDataset(name, good, classes, format, this.log);
    }

    /** "valid: skipped 2 bad pairs (1 unreadable, 1 size mismatch), 5 left": the words train, eval and data check share. */
    public static String skippedSummary(String split, List<PairCheck> bad, int left) {
        int[] count = new int[Fault.values().length];
        for (PairCheck b : bad) count[b.fault().ordinal()]++;
        List<String> parts = new ArrayList<>();
        for (Fault f : Fault.values()) if (count[f.ordinal()] > 0) parts.add(count[f.ordinal()] + " " + f.words());
        return split + ": skipped " + bad.size() + " bad pair" + (bad.size() == 1 ? "" : "s") + " (" + String.join(", ", parts) + "), " + left + " left";
    }

    /** The error of a split whose every pair is bad (with --skip-bad, or as data check counts them without it). */
    public static String noneLeft(String split) {
        return split + ": no usable image/mask pairs: every pair is bad";
    }

    /** The error of an empty split, as train, eval and data check word it. */
    public static String emptySplit(Path root, String split) {
        return root + ": no image/mask pairs in the " + (split.equals("train") ? "training" : "validation") + " split";
    }
}
