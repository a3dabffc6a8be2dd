package dinoseg.train;

import dinoseg.io.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Per-epoch training history, written as {@code metrics.csv} (atomically, after every epoch). */
public final class History {
    public static final String HEADER =
            "epoch,train_loss,train_pixacc,train_miou,valid_loss,valid_pixacc,valid_miou,lr,seconds";

    /** One epoch's numbers. */
    public record Row(int epoch, double trainLoss, double trainPixAcc, double trainMiou,
                      double validLoss, double validPixAcc, double validMiou, double lr, double seconds) {
        String csv() {
            return String.format(Locale.ROOT, "%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6g,%.2f",
                    epoch, trainLoss, trainPixAcc, trainMiou, validLoss, validPixAcc, validMiou, lr, seconds);
        }

        static Row parse(String line, Path file, int lineNo) {
            String[] f = line.split(",");
            if (f.length != 9) throw new IllegalArgumentException(file + ":" + lineNo + ": expected 9 columns, got " + f.length);
            try {
                return new Row(Integer.parseInt(f[0]), d(f[1]), d(f[2]), d(f[3]), d(f[4]), d(f[5]), d(f[6]), d(f[7]), d(f[8]));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(file + ":" + lineNo + ": not a number: " + e.getMessage());
            }
        }

        private static double d(String s) { return Double.parseDouble(s); }
    }

    private final List<Row> rows = new ArrayList<>();

    public void add(Row r) { rows.add(r); }

    public List<Row> rows() { return List.copyOf(rows); }

    /** Keeps only epochs up to and including {@code epoch} (resume from a checkpoint of that epoch). */
    public void truncateAfter(int epoch) { rows.removeIf(r -> r.epoch() > epoch); }

    public void write(Path csv) throws IOException {
        StringBuilder sb = new StringBuilder(HEADER).append('\n');
        for (Row r : rows) sb.append(r.csv()).append('\n');
        AtomicFiles.writeString(csv, sb.toString());
    }

    public static History read(Path csv) throws IOException {
        List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
        if (lines.isEmpty() || !lines.get(0).trim().equals(HEADER))
            throw new IllegalArgumentException(csv + ": not a dinoseg metrics.csv (header differs)");
        History h = new History();
        for (int i = 1; i < lines.size(); i++) {
            String l = lines.get(i).trim();
            if (!l.isEmpty()) h.add(Row.parse(l, csv, i + 1));
        }
        return h;
    }
}
