package dinoseg.infer;

import dinoseg.data.ClassSet;
import dinoseg.data.ImageIOUtil;
import dinoseg.data.MaskIO;
import dinoseg.io.Stop;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Segments a file or every file of a folder: for each image, {@code <stem>_overlay.png} and
 * {@code <stem>_mask.png} at its size as displayed (EXIF orientation applied, as a viewer shows the
 * photo), a line with its time on stdout; a file that cannot be read, or that needs more memory
 * than the heap has left ({@link #bytesNeeded}, checked from the header before decoding), gets one
 * line naming it on stderr and the run goes on with the rest. A stop requested through
 * {@link Stop#process()} (SIGINT/SIGTERM in the CLI) ends the run between images with
 * {@link Stop.Stopped}, saying which were done; every output file is whole (atomic writes).
 */
public final class ImageInference {

    /** The run's outcome. */
    public record Summary(int succeeded, int failed, double seconds, double modelSeconds) {
        public boolean ok() { return failed == 0; }
    }

    private final Predictor predictor;
    private final ClassSet labels;
    private final float alpha;
    private Stop stop = Stop.process();

    public ImageInference(Predictor predictor, ClassSet labels, float alpha) {
        if (labels.size() != predictor.numClasses())
            throw new IllegalArgumentException("model predicts " + predictor.numClasses() + " classes but "
                    + labels.size() + " class names were given");
        this.predictor = predictor;
        this.labels = labels;
        this.alpha = alpha;
    }

    /** Where the run polls for a stop between images (default: {@link Stop#process()}, set by the CLI's signal handlers). */
    public ImageInference stopOn(Stop stop) {
        this.stop = stop;
        return this;
    }

    /** The inputs of a run: the file itself, or the regular, non-hidden files of a folder, sorted. */
    public static List<Path> inputs(Path input) throws IOException {
        if (Files.isRegularFile(input)) return List.of(input);
        if (!Files.isDirectory(input)) throw new IllegalArgumentException(input + ": input does not exist");
        try (Stream<Path> s = Files.list(input)) {
            List<Path> files = s.filter(Files::isRegularFile)
                    .filter(p -> !p.getFileName().toString().startsWith("."))
                    .sorted().toList();
            if (files.isEmpty()) throw new IllegalArgumentException(input + ": folder holds no files");
            return files;
        }
    }

    /** The endings of the files {@link #segment} writes ({@code <stem>_mask.png}, {@code <stem>_overlay.png}). */
    public static final List<String> OUTPUT_SUFFIXES = List.of("_mask.png", "_overlay.png");

    /**
     * The inputs of a run whose outputs go to {@code outDir}, checked against that folder. When it is
     * the input's own folder (the folder given, or the given file's folder): files of a folder input
     * named like outputs ({@link #OUTPUT_SUFFIXES}) are left out, with a note, so a rerun does not
     * segment earlier outputs; and since outputs would then land beside the inputs, an output name
     * that already exists there (an earlier output, or the user's own file such as a ground-truth
     * {@code a_mask.png}) stops the run before any work, rather than be overwritten. Another
     * {@code outDir} is written over as before (reruns replace their outputs).
     *
     * @param input the --input path (file or folder) {@code files} came from ({@link #inputs})
     * @throws IllegalArgumentException one line naming the existing file, or the folder when only
     *         output-like files are left
     */
    public static List<Path> checkedForOutDir(Path input, List<Path> files, Path outDir, java.util.function.Consumer<String> note) {
        Path inFolder = Files.isDirectory(input) ? input : input.toAbsolutePath().getParent();
        if (inFolder == null || !Files.isDirectory(outDir) || !dinoseg.io.FileKinds.same(inFolder, outDir)) return files;
        List<Path> kept = files;
        if (Files.isDirectory(input)) {
            kept = files.stream().filter(p -> !isOutputName(p)).toList();
            int skipped = files.size() - kept.size();
            if (skipped > 0)
                note.accept("note: " + input + " is also --out-dir: skipping " + skipped + " file" + (skipped == 1 ? "" : "s")
                        + " named like infer outputs (*_mask.png, *_overlay.png), e.g. "
                        + files.stream().filter(ImageInference::isOutputName).findFirst().orElseThrow().getFileName());
            if (kept.isEmpty())
                throw new IllegalArgumentException(input + ": holds only files named like infer outputs (*_mask.png, *_overlay.png), "
                        + "and it is also --out-dir; give another --out-dir");
        }
        Map<Path, String> stems = stems(kept);
        for (Path f : kept)
            for (String suffix : OUTPUT_SUFFIXES) {
                Path target = outDir.resolve(stems.get(f) + suffix);
                if (Files.exists(target))
                    throw new IllegalArgumentException(target + ": already exists in the input folder and infer would overwrite it with the "
                            + "output of " + f.getFileName() + "; give another --out-dir (or move the file away)");
            }
        return kept;
    }

    private static boolean isOutputName(Path p) {
        String n = p.getFileName().toString();
        return OUTPUT_SUFFIXES.stream().anyMatch(n::endsWith);
    }

    /**
     * Output stems, one per file and all different (ignoring case, for case-insensitive file
     * systems): the file name without its extension, or with it ('a_jpg') where two inputs share a
     * stem; a name still taken by an earlier file ('x.bmp' -> 'x_bmp' and 'x_bmp.png' -> 'x_bmp')
     * gets '_2', '_3', ... in the order of {@code files}, so no output overwrites another.
     */
    static Map<Path, String> stems(List<Path> files) {
        Map<String, Integer> counts = new HashMap<>();
        for (Path p : files) counts.merge(stem(p), 1, Integer::sum);
        Map<Path, String> out = new HashMap<>();
        java.util.Set<String> used = new java.util.HashSet<>();
        for (Path p : files) {
            String s = stem(p);
            String base = counts.get(s) > 1 ? p.getFileName().toString().replace('.', '_') : s, name = base;
            for (int i = 2; !used.add(name.toLowerCase(java.util.Locale.ROOT)); i++) name = base + "_" + i;
            out.put(p, name);
        }
        return out;
    }

    static String stem(Path p) {
        String n = p.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 ? n.substring(0, dot) : n;
    }

    /**
     * Host bytes that segmenting a picture needs: the decoded image ({@code bytesPerPixel} a pixel),
     * its packed pixels (4, twice while an EXIF orientation turns them), the mask (4), the overlay
     * (4), the palettized mask PNG (1), the predictor's own share ({@link Predictor#bytesNeeded}) and
     * 32 MiB for the encoders. Known from the file header, before anything is decoded.
     */
    public long bytesNeeded(ImageIOUtil.Header head) {
        int w = head.uprightWidth(), h = head.uprightHeight();
        long px = (long) w * h;
        long decode = (head.bytesPerPixel() + 4L + (head.orientation() == 1 ? 0 : 4)) * px;
        long write = 4 * px + 4 * px + px + predictor.bytesNeeded(w, h); // packed pixels, overlay, PNG; the mask is the predictor's
        return Math.max(decode, write) + (32L << 20);
    }

    private long heapCap = Long.MAX_VALUE;

    /** Caps the heap this run counts on (bytes; tests and callers sharing the JVM); returns this. */
    public ImageInference heapCap(long bytes) {
        if (bytes < 1) throw new IllegalArgumentException("heap cap must be positive, got " + bytes);
        this.heapCap = bytes;
        return this;
    }

    /** Heap bytes this run can still allocate: the JVM's -Xmx less what is live now, within {@link #heapCap}. */
    long freeHeapBytes() {
        Runtime rt = Runtime.getRuntime();
        return Math.min(heapCap, rt.maxMemory() - (rt.totalMemory() - rt.freeMemory()));
    }

    /** Segments one image and writes its two outputs; returns the model step's seconds. */
    public double segment(Path file, Path outDir, String stem) throws IOException {
        ImageIOUtil.Header head = ImageIOUtil.header(file);
        int w = head.uprightWidth(), h = head.uprightHeight();
        long need = bytesNeeded(head);
        if (need > freeHeapBytes()) {
            System.gc(); // what is free is only known after a collection
            long free = freeHeapBytes();
            if (need > free) throw new NotEnoughMemory(file, w, h, need, free);
        }
        ImageIOUtil.Picture pic = ImageIOUtil.readPicture(file);
        w = pic.width();
        h = pic.height();
        int[] rgb = pic.rgb();
        pic = null;
        long m0 = System.nanoTime();
        int[] mask = predictor.predict(rgb, w, h);
        double model = (System.nanoTime() - m0) / 1e9;
        MaskIO.writeIndexPng(outDir.resolve(stem + "_mask.png").toFile(), mask, w, h, labels.palette());
        BufferedImage overlay = Overlay.render(rgb, w, h, mask, labels, alpha);
        rgb = null;
        mask = null;
        MaskIO.writePng(overlay, outDir.resolve(stem + "_overlay.png").toFile());
        return model;
    }

    /** A picture too large for the heap left: one line naming it, the sizes, and what to do. */
    static final class NotEnoughMemory extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        NotEnoughMemory(Path file, int w, int h, long need, long free) {
            super(String.format(Locale.ROOT, "%s: not enough memory for a %dx%d picture (%.1f Mpixel): it needs about %d MiB, "
                            + "%d MiB of the Java heap are free (-Xmx%dm); run java with a larger -Xmx",
                    file, w, h, (double) w * h / 1e6, need >> 20, Math.max(0, free) >> 20, Runtime.getRuntime().maxMemory() >> 20));
        }
    }

    /** Runs over the files: results on {@code out}, one line per failure on {@code err}. */
    public Summary run(List<Path> files, Path outDir, PrintWriter out, PrintWriter err) throws IOException {
        Files.createDirectories(outDir);
        Map<Path, String> stems = stems(files);
        int ok = 0, failed = 0;
        double modelTotal = 0;
        long t0 = System.nanoTime();
        for (int i = 0; i < files.size(); i++) {
            Path f = files.get(i);
            if (stop.requested()) throw stopped(stop, files, i, ok, failed, outDir, out);
            long s0 = System.nanoTime();
            try {
                double model = segment(f, outDir, stems.get(f));
                double secs = (System.nanoTime() - s0) / 1e9;
                modelTotal += model;
                ok++;
                out.printf(Locale.ROOT, "%s: %.1f ms (model %.1f ms) -> %s_overlay.png, %s_mask.png%n",
                        f, secs * 1e3, model * 1e3, stems.get(f), stems.get(f));
                out.flush();
            } catch (IllegalArgumentException | IOException e) {
                failed++;
                String m = ImageIOUtil.oneLine(e);
                err.println("error: " + (m.contains(f.toString()) ? m : f + ": " + m));
                err.flush();
            } catch (OutOfMemoryError e) {
                // the estimate was short (another allocation, a fragmented heap): the same one line, and on with the next file
                failed++;
                ImageIOUtil.Header head;
                try {
                    head = ImageIOUtil.header(f);
                } catch (RuntimeException unreadable) {
                    head = new ImageIOUtil.Header(0, 0, 1, 4);
                }
                System.gc();
                err.println("error: " + new NotEnoughMemory(f, head.uprightWidth(), head.uprightHeight(),
                        bytesNeeded(head), freeHeapBytes()).getMessage()
                        .replace(": not enough memory", ": ran out of memory"));
                err.flush();
            }
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        out.printf(Locale.ROOT, "%d image%s segmented in %.2f s (%.1f ms/image, model %.1f ms/image), %d failed; outputs in %s%n",
                ok, ok == 1 ? "" : "s", secs, ok == 0 ? 0 : secs * 1e3 / ok, ok == 0 ? 0 : modelTotal * 1e3 / ok, failed, outDir);
        out.flush();
        return new Summary(ok, failed, secs, modelTotal);
    }

    /**
     * A signal stopped a run between images: each output written is whole (atomic writes), the
     * images before {@code next} are done, the rest not started; one line says which.
     */
    private static Stop.Stopped stopped(Stop stop, List<Path> files, int next, int ok, int failed, Path outDir, PrintWriter out) {
        out.flush();
        String done = next == 0 ? "no image done"
                : next + " of " + files.size() + " images done (" + (next == 1 ? files.get(0).getFileName().toString()
                        : files.get(0).getFileName() + " to " + files.get(next - 1).getFileName() + " in name order")
                        + (failed > 0 ? ", " + failed + " of them failed" : "") + "; outputs in " + outDir + ")";
        String rest = files.size() - next == 1 ? files.get(next).getFileName().toString()
                : files.get(next).getFileName() + " and " + (files.size() - next - 1) + " more";
        return stop.stopped("after " + (next == 0 ? "0 images" : files.get(next - 1).getFileName().toString()) + ": " + done
                + "; not done: " + rest);
    }

    /** Convenience for callers with one path (file or folder). */
    public Summary run(Path input, Path outDir, PrintWriter out, PrintWriter err) throws IOException {
        return run(new ArrayList<>(inputs(input)), outDir, out, err);
    }
}
