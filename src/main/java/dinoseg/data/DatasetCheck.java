package dinoseg.data;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;

/**
 * The {@code dinoseg data check} report: decodes every image and mask of both splits and lists counts
 * per split, unpaired files, unreadable files, image/mask size mismatches, unknown colours or ids and
 * the pixel share of every class. Each problem is one line naming its file.
 *
 * <p>The dataset is trainable ({@link Report#trainable()}) under the rules {@code train} applies, in
 * its words ({@link SegDataset#check}, {@link Datasets#openValidated}): both splits have pairs, the
 * training masks have labelled pixels, and no pair is unreadable or size-mismatched (with
 * {@code --skip-bad}, bad pairs are only warnings as long as usable pairs remain in both splits).
 */
public final class DatasetCheck {
    private DatasetCheck() {}

    /** How bad a problem is: errors make the dataset untrainable. */
    public enum Severity { ERROR, WARNING }

    /** One problem, one line naming the file. */
    public record Problem(Severity severity, String message) {
        /** "error: ..." or "warning: ...". */
        public String line() {
            return severity.name().toLowerCase(Locale.ROOT) + ": " + message;
        }
    }

    /** Statistics of one split. */
    public record SplitStats(String name, int pairs, int badPairs, long[] classPixels, long ignoredPixels,
                             long unknownPixels, int filesWithUnknown, String maskFormats) {
        /** Labelled (non-ignored) pixels. */
        public long labelledPixels() {
            long s = 0;
            for (long c : classPixels) s += c;
            return s;
        }
    }

    /** The whole report. */
    public record Report(String header, ClassSet classes, List<SplitStats> splits, List<Problem> problems) {
        /** Errors found. */
        public long errors() {
            return problems.stream().filter(p -> p.severity() == Severity.ERROR).count();
        }

        /** Warnings found. */
        public long warnings() {
            return problems.stream().filter(p -> p.severity() == Severity.WARNING).count();
        }

        /** Whether training can use this dataset. */
        public boolean trainable() {
            return errors() == 0;
        }

        /** Prints the report: header, problems, counts, class shares, verdict. */
        public void print(PrintWriter out) {
            out.println(header);
            for (Problem p : problems) out.println(p.line());
            for (SplitStats s : splits)
                out.println(String.format(Locale.ROOT, "%s: %d pairs (%d bad), masks read as %s, %d unknown-colour/id pixels in %d files",
                        s.name(), s.pairs(), s.badPairs(), s.maskFormats(), s.unknownPixels(), s.filesWithUnknown()));
            StringBuilder head = new StringBuilder(String.format(Locale.ROOT, "%-16s", "class"));
            for (SplitStats s : splits) head.append(String.format(Locale.ROOT, " %10s", s.name()));
            out.println("pixel share per class:");
            out.println("  " + head);
            for (int c = 0; c < classes.size(); c++) {
                StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "%-16s", c + " " + classes.name(c)));
                for (SplitStats s : splits) row.append(String.format(Locale.ROOT, " %9.2f%%", share(s.classPixels()[c], s)));
                out.println("  " + row);
            }
            StringBuilder ign = new StringBuilder(String.format(Locale.ROOT, "%-16s", "(ignored)"));
            for (SplitStats s : splits) ign.append(String.format(Locale.ROOT, " %9.2f%%", share(s.ignoredPixels(), s)));
            out.println("  " + ign);
            out.println(trainable()
                    ? "result: ok, the dataset can be trained on (" + warnings() + " warnings)"
                    : "result: the dataset cannot be trained on (" + errors() + " errors, " + warnings() + " warnings)");
            out.flush();
        }

        private static double share(long v, SplitStats s) {
            long total = s.labelledPixels() + s.ignoredPixels();
            return total == 0 ? 0 : 100.0 * v / total;
        }
    }

    /** One pair's outcome. */
    private record PairResult(SegDataset.PairCheck check, long[] classPixels, long ignored, long unknown, String unknownLine, String format,
                              String note) {}

    /**
     * Checks a dataset. Opening failures (missing folder, bad class file) propagate as one-line
     * exceptions; everything else is collected into the report.
     *
     * @param threads decoding threads (0 or less: all cores)
     * @param log     notices while opening (may be null)
     */
    public static Report run(DatasetSpec spec, int threads, Consumer<String> log) {
        Datasets.Opened o = Datasets.open(spec, log);
        ClassSet classes = o.classes();
        List<Problem> problems = new ArrayList<>();
        for (String u : o.unpaired()) problems.add(new Problem(Severity.WARNING, u));
        int n = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
        ExecutorService pool = Executors.newFixedThreadPool(n, r -> {
            Thread t = new Thread(r, "dinoseg-check");
            t.setDaemon(true);
            return t;
        });
        List<SplitStats> stats = new ArrayList<>();
        try {
            for (SegDataset ds : List.of(o.train(), o.valid()))
                stats.add(checkSplit(ds, classes, spec.maskFormat(), pool, problems, spec.skipBad(), log));
        } finally {
            pool.shutdownNow();
        }
        SplitStats train = stats.get(0);
        int goodTrain = train.pairs() - train.badPairs();
        if (train.pairs() == 0) problems.add(new Problem(Severity.ERROR, SegDataset.emptySplit(o.root(), "train")));
        else if (goodTrain == 0) problems.add(new Problem(Severity.ERROR, SegDataset.noneLeft("train")));
        else if (train.labelledPixels() == 0)
            problems.add(new Problem(Severity.ERROR, o.root() + ": the training masks have no pixel of a known class (wrong --classes or --mask-format?)"));
        SplitStats valid = stats.get(1);
        // train validates every epoch and refuses an empty validation split: so does the check
        if (valid.pairs() == 0) problems.add(new Problem(Severity.ERROR, SegDataset.emptySplit(o.root(), "valid")));
        else if (valid.badPairs() == valid.pairs()) problems.add(new Problem(Severity.ERROR, SegDataset.noneLeft("valid")));
        String header = o.describe() + "; ignore index " + classes.ignoreIndex() + "; --mask-format " + spec.maskFormat().flag();
        return new Report(header, classes, stats, problems);
    }

    private static SplitStats checkSplit(SegDataset ds, ClassSet classes, MaskFormat format, ExecutorService pool,
                                         List<Problem> problems, boolean skipBad, Consumer<String> log) {
        List<Future<PairResult>> futures = new ArrayList<>();
        for (SegDataset.Sample s : ds.samples()) futures.add(pool.submit(() -> checkPair(s, classes, format)));
        long[] classPixels = new long[classes.size()];
        long ignored = 0, unknown = 0;
        int withUnknown = 0;
        List<SegDataset.PairCheck> bad = new ArrayList<>();
        boolean noted = false;
        java.util.TreeSet<String> formats = new java.util.TreeSet<>();
        for (Future<PairResult> f : futures) {
            PairResult r;
            try {
                r = f.get();
            } catch (ExecutionException e) {
                throw new IllegalStateException(ImageIOUtil.oneLine(e.getCause()), e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("data check interrupted");
            }
            if (!r.check().ok()) {
                bad.add(r.check());
                // the words train and eval use: "skipped: <problem>" with --skip-bad, the problem itself without
                problems.add(skipBad ? new Problem(Severity.WARNING, "skipped: " + r.check().message())
                        : new Problem(Severity.ERROR, r.check().message()));
                continue;
            }
            for (int c = 0; c < classPixels.length; c++) classPixels[c] += r.classPixels()[c];
            ignored += r.ignored();
            formats.add(r.format());
            if (r.note() != null && !noted && log != null) {
                noted = true;
                log.accept("note: " + ds.name() + ": " + r.note());
            }
            if (r.unknown() > 0) {
                unknown += r.unknown();
                withUnknown++;
                problems.add(new Problem(Severity.WARNING, r.unknownLine()));
            }
        }
        if (skipBad && !bad.isEmpty())
            problems.add(new Problem(Severity.WARNING, SegDataset.skippedSummary(ds.name(), bad, ds.size() - bad.size())));
        return new SplitStats(ds.name(), ds.size(), bad.size(), classPixels, ignored, unknown, withUnknown,
                formats.isEmpty() ? "-" : String.join("+", formats));
    }

    private static PairResult checkPair(SegDataset.Sample s, ClassSet classes, MaskFormat format) {
        SegDataset.PairCheck check = SegDataset.check(s, classes, format);
        if (!check.ok()) return new PairResult(check, null, 0, 0, null, null, null);
        LabelMap m = check.labels();
        long[] counts = new long[classes.size()];
        long ignored = 0;
        int k = classes.size(), ignore = classes.ignoreIndex();
        for (int l : m.labels()) {
            if (l == ignore || l < 0 || l >= k) ignored++;
            else counts[l]++;
        }
        String unknownLine = m.unknownPixels() == 0 ? null
                : s.maskPath() + ": " + m.unknownPixels() + " pixels of unknown " + (m.format() == MaskFormat.RGB ? "colours" : "ids")
                + " (first " + m.describeUnknown() + "), ignored";
        String how = check.maskType() + (m.note() != null ? ", by colour" : "");
        return new PairResult(check, counts, ignored, m.unknownPixels(), unknownLine,
                m.format().flag() + (format == MaskFormat.AUTO ? " (" + how + ")" : ""), m.note());
    }
}
