package dinoseg.train;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * A one-line progress bar on stderr for a phase of known length: count, bar, percentage, it/s and
 * ETA, plus a free-text suffix (the running loss). Redrawn in place with a carriage return at most
 * a few times a second; when stderr is not a terminal it prints a line at every tenth of the phase
 * instead, so logs stay short.
 */
public final class ProgressBar implements AutoCloseable {
    private static final int WIDTH = 24;

    private final PrintWriter out;
    private final String phase;
    private final int total;
    private final boolean interactive;
    private final long start = System.nanoTime();
    private long lastDraw;
    private int lastDecile = -1;
    private int done, resumedAt;
    private String suffix = "";
    private boolean closed;

    public ProgressBar(PrintWriter out, String phase, int total) {
        this(out, phase, total, System.console() != null);
    }

    public ProgressBar(PrintWriter out, String phase, int total, boolean interactive) {
        this.out = out;
        this.phase = phase;
        this.total = Math.max(0, total);
        this.interactive = interactive;
    }

    /** Starts the count at {@code done} items already done (a resumed epoch); the rate counts only the new ones. */
    public void resumeAt(int done) {
        this.done = done;
        this.resumedAt = done;
        this.lastDecile = total == 0 ? 10 : (int) (10L * done / total);
    }

    /** Marks one more item done and sets the suffix. */
    public void step(String suffix) {
        done++;
        this.suffix = suffix == null ? "" : suffix;
        long now = System.nanoTime();
        if (interactive) {
            if (done >= total || now - lastDraw > 200_000_000L) {
                lastDraw = now;
                out.print("\r" + line());
                out.flush();
            }
        } else {
            int decile = total == 0 ? 10 : (int) (10L * done / total);
            if (decile != lastDecile && (decile > lastDecile)) {
                lastDecile = decile;
                if (done < total) { out.println(line()); out.flush(); }
            }
        }
    }

    /** Items per second so far. */
    public double rate() {
        double s = (System.nanoTime() - start) / 1e9;
        return s <= 0 ? 0 : (done - resumedAt) / s;
    }

    /** Seconds since the bar started. */
    public double seconds() { return (System.nanoTime() - start) / 1e9; }

    /** The current line (no carriage return). */
    public String line() {
        double rate = rate();
        int pct = total == 0 ? 100 : (int) (100L * done / total);
        int filled = total == 0 ? WIDTH : (int) ((long) WIDTH * done / total);
        StringBuilder bar = new StringBuilder(WIDTH);
        for (int i = 0; i < WIDTH; i++) bar.append(i < filled ? '#' : i == filled ? '>' : '.');
        String eta = rate > 0 ? clock((total - done) / rate) : "--:--";
        String speed = rate >= 1 || rate == 0 ? String.format(Locale.ROOT, "%.2f it/s", rate)
                : String.format(Locale.ROOT, "%.2f s/it", 1 / rate);
        return String.format(Locale.ROOT, "%-10s %3d%% [%s] %d/%d %s elapsed %s ETA %s%s", phase, pct, bar, done, total,
                speed, clock(seconds()), eta, suffix.isEmpty() ? "" : " " + suffix);
    }

    static String clock(double seconds) {
        long s = Math.max(0, Math.round(seconds));
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%02d:%02d", s / 60, s % 60);
    }

    /** Draws the final state and ends the line. */
    @Override public void close() {
        if (closed) return;
        closed = true;
        out.print((interactive ? "\r" : "") + line() + System.lineSeparator());
        out.flush();
    }
}
