package dinoseg.infer;

import dinoseg.data.ClassSet;
import dinoseg.data.MaskIO;
import dinoseg.io.Stop;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Segments a file or every file of a folder: for each image, {@code <stem>_overlay.png} and
 * {@code <stem>_mask.png} at its original size, a line with its time on stdout; a file that
 * cannot be read gets one line naming it on stderr and the run goes on with the rest. A stop
 * requested through {@link Stop#process()} (SIGINT/SIGTERM in the CLI) ends the run between images
 * with {@link Stop.Stopped}, saying which were done; every output file is whole (atomic writes).
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

    static {
        ImageIO.setUseCache(false);
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

    /** Output stems: the file name without its extension, or with it ('a_jpg') where two inputs share a stem. */
    static Map<Path, String> stems(List<Path> files) {
        Map<String, Integer> counts = new HashMap<>();
        for (Path p : files) counts.merge(stem(p), 1, Integer::sum);
        Map<Path, String> out = new HashMap<>();
        for (Path p : files) {
            String s = stem(p);
            out.put(p, counts.get(s) > 1 ? p.getFileName().toString().replace('.', '_') : s);
        }
        return out;
    }

    static String stem(Path p) {
        String n = p.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 ? n.substring(0, dot) : n;
    }

    /** Decodes an image; a missing, empty, corrupt or unsupported file fails with one line naming it. */
    public static BufferedImage read(Path file) {
        try {
            if (Files.size(file) == 0) throw new IllegalArgumentException(file + ": empty file (0 bytes)");
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": file does not exist");
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read (" + e.getMessage() + ")");
        }
        BufferedImage img;
        try {
            img = ImageIO.read(file.toFile());
        } catch (IOException | RuntimeException e) {
            String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().lines().findFirst().orElse("");
            throw new IllegalArgumentException(file + ": corrupt or unreadable image (" + m + ")");
        }
        if (img == null) throw new IllegalArgumentException(file + ": not an image in a supported format (PNG, JPEG, BMP, GIF)");
        if (img.getWidth() < 1 || img.getHeight() < 1) throw new IllegalArgumentException(file + ": image has no pixels");
        return img;
    }

    /** Segments one image and writes its two outputs; returns the model step's seconds. */
    public double segment(Path file, Path outDir, String stem) throws IOException {
        BufferedImage img = read(file);
        int w = img.getWidth(), h = img.getHeight();
        int[] rgb = Images.rgb(img);
        long m0 = System.nanoTime();
        int[] mask = predictor.predict(Images.normalisedChw(rgb, w, h), w, h);
        double model = (System.nanoTime() - m0) / 1e9;
        BufferedImage overlay = Overlay.render(rgb, w, h, mask, labels, alpha);
        MaskIO.writeIndexPng(outDir.resolve(stem + "_mask.png").toFile(), mask, w, h, labels.palette());
        MaskIO.writePng(overlay, outDir.resolve(stem + "_overlay.png").toFile());
        return model;
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
                String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
                err.println("error: " + (m.contains(f.toString()) ? m : f + ": " + m));
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
