package dinoseg.io;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * The project's one progress bar (training, evaluation, feature caching, video): a line on a stream
 * that callers point at stderr, so results on stdout stay clean (DESIGN: progress bars and logs go
 * to stderr). A phase of known length reads
 * <pre>{@code train       50% [############>...........] 2/4 3.10 it/s elapsed 00:01 ETA 00:01 loss 0.5}</pre>
 * (count, bar, percentage, rate in items a second or seconds an item, elapsed and remaining time,
 * a free-text suffix); one of {@link #UNKNOWN} length shows the count, rate, elapsed time and suffix.
 *
 * <p>Interactive (a terminal, the default when {@link System#console()} exists): the line is redrawn
 * in place with a carriage return at most five times a second, blanking what a longer previous line
 * left. Otherwise (a log file, a pipe, a test), a line is printed at each tenth of a known phase
 * (at the 1st, 2nd, 4th, 8th ... item of an unknown one), so logs stay short. {@link #close} prints
 * the final state and ends the line, in both modes. Not thread-safe: one thread steps a bar.
 *
 * <p>A bar made by {@link #bytes} counts bytes (a download) and shows sizes and speeds in binary units:
 * <pre>{@code download    42% [##########>.............] 37.1/88.0 MiB 12.3 MiB/s elapsed 00:03 ETA 00:04 name}</pre>
 */
public final class ProgressBar implements AutoCloseable {
    /** The total of a phase whose length is not known (a video without a frame count). */
    public static final long UNKNOWN = -1;

    private static final int WIDTH = 24;
    private static final long REDRAW_NANOS = 200_000_000L;

    private final PrintWriter out;
    private final String phase;
    private final long total;
    private final boolean interactive;
    private boolean bytes;
    private final long start = System.nanoTime();
    private long lastDraw;
    private int lastLength;
    private long lastMark = -1;
    private long done, resumedAt;
    private String suffix = "";
    private boolean closed;

    /**
     * A bar on {@code out}, interactive when the JVM has a console.
     *
     * @param phase what is counted (left-aligned in 10 columns)
     * @param total items in the phase (0: nothing to do, shown as 100%), or {@link #UNKNOWN} (any negative value)
     */
    public ProgressBar(PrintWriter out, String phase, long total) {
        this(out, phase, total, System.console() != null);
    }

    /** A bar as {@link #ProgressBar(PrintWriter, String, long)}, redrawn in place when {@code interactive}. */
    public ProgressBar(PrintWriter out, String phase, long total, boolean interactive) {
        this.out = out;
        this.phase = phase;
        this.total = total < 0 ? UNKNOWN : total;
        this.interactive = interactive;
    }

    /**
     * A bar counting bytes (size, speed in KiB/MiB/GiB a second, ETA), interactive as {@code interactive}.
     *
     * @param total bytes in the phase, or {@link #UNKNOWN} when the size is not known
     */
    public static ProgressBar bytes(PrintWriter out, String phase, long total, boolean interactive) {
        ProgressBar b = new ProgressBar(out, phase, total, interactive);
        b.bytes = true;
        return b;
    }

    /** Starts the count at {@code done} items already done (a resumed epoch); the rate counts only the new ones. */
    public void resumeAt(long done) {
        this.done = done;
        this.resumedAt = done;
        this.lastMark = mark(done);
    }

    /** Marks one more item done with the given suffix (null: none), and draws when due. */
    public void step(String suffix) {
        update(done + 1, suffix, false);
    }

    /**
     * Sets the count to {@code done} items with the given suffix (null: none), and draws when due:
     * interactive, when {@code force}, when a known phase is complete, or 0.2 s after the last
     * drawing; otherwise when the count reaches a new mark (class notes) short of the end.
     */
    public void update(long done, String suffix, boolean force) {
        this.done = done;
        this.suffix = suffix == null ? "" : suffix;
        if (interactive) {
            long now = System.nanoTime();
            if (force || (total >= 0 && done >= total) || now - lastDraw > REDRAW_NANOS) {
                lastDraw = now;
                out.print("\r" + padded(line()));
                out.flush();
            }
        } else {
            long m = mark(done);
            if (m > lastMark) {
                lastMark = m;
                if (total < 0 || done < total) {
                    out.println(line());
                    out.flush();
                }
            }
        }
    }

    /** Sets the final count and suffix, then {@link #close}s the bar. */
    public void finish(long done, String suffix) {
        this.done = done;
        this.suffix = suffix == null ? "" : suffix;
        close();
    }

    /** The non-interactive mark a count is at: its tenth of a known phase, its power of two (bit length) for an unknown one. */
    private long mark(long done) {
        if (total < 0) return 64 - Long.numberOfLeadingZeros(Math.max(0, done));
        return total == 0 ? 10 : 10L * done / total;
    }

    /** {@code s} followed by blanks over what a longer previous line left on the terminal. */
    private String padded(String s) {
        StringBuilder sb = new StringBuilder(s);
        for (int i = s.length(); i < lastLength; i++) sb.append(' ');
        lastLength = s.length();
        return sb.toString();
    }

    /** Items a second since the bar started (or was resumed), counting only the items done since. */
    public double rate() {
        double s = seconds();
        return s <= 0 ? 0 : (done - resumedAt) / s;
    }

    /** Seconds since the bar started. */
    public double seconds() { return (System.nanoTime() - start) / 1e9; }

    /** The current line (no carriage return, no padding). */
    public String line() {
        double rate = rate();
        String speed = bytes ? size(rate) + "/s" : rate >= 1 || rate == 0 ? String.format(Locale.ROOT, "%.2f it/s", rate)
                : String.format(Locale.ROOT, "%.2f s/it", 1 / rate);
        String end = suffix.isEmpty() ? "" : " " + suffix;
        if (total < 0)
            return String.format(Locale.ROOT, "%-10s %s %s elapsed %s%s", phase, bytes ? size(done) : String.valueOf(done), speed, clock(seconds()), end);
        long shown = Math.max(0, Math.min(done, total));
        int pct = total == 0 ? 100 : (int) (100L * shown / total);
        int filled = total == 0 ? WIDTH : (int) ((long) WIDTH * shown / total);
        StringBuilder bar = new StringBuilder(WIDTH);
        for (int i = 0; i < WIDTH; i++) bar.append(i < filled ? '#' : i == filled ? '>' : '.');
        String eta = rate > 0 ? clock(Math.max(0, total - done) / rate) : "--:--";
        String count = bytes ? sizePair(done, total) : done + "/" + total;
        return String.format(Locale.ROOT, "%-10s %3d%% [%s] %s %s elapsed %s ETA %s%s", phase, pct, bar, count,
                speed, clock(seconds()), eta, end);
    }

    /** A byte count in binary units: {@code 512 B}, {@code 1.5 KiB}, {@code 88.0 MiB}, {@code 4.20 GiB} (one decimal up to MiB, two from GiB on). */
    public static String size(double bytes) {
        if (bytes < 1024) return String.format(Locale.ROOT, "%.0f B", bytes);
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = bytes / 1024;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
        return String.format(Locale.ROOT, u >= 2 ? "%.2f %s" : "%.1f %s", v, units[u]);
    }

    /** "done/total unit" in the unit of the total ({@code 37.1/88.0 MiB}). */
    private static String sizePair(long done, long total) {
        String t = size(total);
        int sp = t.indexOf(' ');
        String unit = t.substring(sp + 1);
        double scale = switch (unit) { case "KiB" -> 1024.0; case "MiB" -> 1024.0 * 1024; case "GiB" -> 1024.0 * 1024 * 1024;
            case "TiB" -> 1024.0 * 1024 * 1024 * 1024; default -> 1; };
        String fmt = scale == 1 ? "%.0f" : unit.equals("KiB") || unit.equals("MiB") ? "%.1f" : "%.2f";
        return String.format(Locale.ROOT, fmt, done / scale) + "/" + t;
    }

    /** A duration in seconds as {@code mm:ss}, or {@code h:mm:ss} from an hour on (rounded to the second; negative as 0). */
    public static String clock(double seconds) {
        long s = Math.max(0, Math.round(seconds));
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%02d:%02d", s / 60, s % 60);
    }

    /** Draws the final state and ends the line; later calls do nothing. */
    @Override public void close() {
        if (closed) return;
        closed = true;
        out.print((interactive ? "\r" + padded(line()) : line()) + System.lineSeparator());
        out.flush();
    }
}
