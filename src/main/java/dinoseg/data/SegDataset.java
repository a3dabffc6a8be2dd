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
     * Decodes pair {@code i}. Unreadable files and size mismatches fail with one line naming the file.
     */
    public Item load(int i) {
        Sample s = samples.get(i);
        BufferedImage maskImg = ImageIOUtil.read(s.maskPath());
        Planar<GrayF32> image = ImageIOUtil.loadPlanar(s.imagePath());
        if (maskImg.getWidth() != image.width || maskImg.getHeight() != image.height)
            throw new IllegalArgumentException(s.maskPath() + ": mask is " + maskImg.getWidth() + "x" + maskImg.getHeight()
                    + " but its image " + s.imagePath().getFileName() + " is " + image.width + "x" + image.height);
        LabelMap mask = MaskIO.decode(maskImg, s.maskPath(), classes, format);
        if (format == MaskFormat.AUTO && formatReported.compareAndSet(false, true))
            log.accept(name + ": --mask-format auto chose " + mask.format().flag() + " (" + MaskIO.describeType(maskImg)
                    + " PNG masks, e.g. " + s.maskPath().getFileName() + ")");
        if (mask.unknownPixels() > 0) {
            unknown.addAndGet(mask.unknownPixels());
            if (unknownReported.compareAndSet(false, true))
                log.accept("warning: " + name + ": " + s.maskPath() + " has " + mask.unknownPixels() + " pixels of unknown "
                        + mask.describeUnknown() + "; such pixels are ignored (reported once; `dinoseg data check` lists every file)");
        }
        return new Item(s, image, mask);
    }

    /**
     * Decodes every pair (in parallel) to find unreadable files and image/mask size mismatches. With bad
     * pairs it fails naming the first, unless {@code skipBad}, which drops them and lists each through
     * the logger.
     */
    public SegDataset validated(boolean skipBad, Consumer<String> log) {
        Consumer<String> out = log == null ? this.log : log;
        String[] problems = new String[samples.size()];
        java.util.stream.IntStream.range(0, samples.size()).parallel().forEach(i -> problems[i] = pairProblem(samples.get(i)));
        List<Sample> good = new ArrayList<>();
        List<String> bad = new ArrayList<>();
        for (int i = 0; i < problems.length; i++) {
            if (problems[i] == null) good.add(samples.get(i));
            else bad.add(problems[i]);
        }
        if (bad.isEmpty()) return this;
        if (!skipBad)
            throw new IllegalArgumentException(bad.get(0) + (bad.size() > 1 ? " (and " + (bad.size() - 1) + " more bad pairs in " + name + ")" : "")
                    + "; fix the data or pass --skip-bad");
        for (String b : bad) out.accept("skipped: " + b);
        out.accept(name + ": skipped " + bad.size() + " unreadable pair(s), " + good.size() + " left");
        if (good.isEmpty()) throw new IllegalArgumentException(name + ": no readable image/mask pairs left after --skip-bad");
        return new SegDataset(name, good, classes, format, this.log);
    }

    /** The problem with a pair's files in one line, or null when both decode and their sizes agree. */
    static String pairProblem(Sample s) {
        try {
            BufferedImage img = ImageIOUtil.read(s.imagePath());
            BufferedImage mask = ImageIOUtil.read(s.maskPath());
            if (img.getWidth() != mask.getWidth() || img.getHeight() != mask.getHeight())
                return s.maskPath() + ": mask is " + mask.getWidth() + "x" + mask.getHeight() + " but its image " + s.imagePath().getFileName()
                        + " is " + img.getWidth() + "x" + img.getHeight();
            return null;
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
    }
}
