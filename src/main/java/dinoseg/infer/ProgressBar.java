package dinoseg.infer;

import java.io.PrintWriter;
import java.util.Locale;

/** A one-line progress bar redrawn in place on a stream (stderr), at most a few times a second. */
public final class ProgressBar {
    private static final int WIDTH = 30;
    private final PrintWriter out;
    private final String label;
    private final long total;
    private long lastDraw;
    private int lastLength;

    /** {@code total} <= 0 when unknown (the bar then shows only the count). */
    public ProgressBar(PrintWriter out, String label, long total) {
        this.out = out;
        this.label = label;
        this.total = total;
    }

    /** Redraws for {@code done} items with a trailing note (e.g. the current FPS); throttled unless {@code force}. */
    public void update(long done, String note, boolean force) {
        long now = System.nanoTime();
        if (!force && now - lastDraw < 200_000_000L) return;
        lastDraw = now;
        String line = render(done, note);
        StringBuilder sb = new StringBuilder("\r").append(line);
        for (int i = line.length(); i < lastLength; i++) sb.append(' ');
        lastLength = line.length();
        out.print(sb);
        out.flush();
    }

    /** The bar's text for {@code done} items. */
    String render(long done, String note) {
        StringBuilder sb = new StringBuilder(label).append(' ');
        if (total > 0) {
            long shown = Math.min(done, total);
            int filled = (int) (WIDTH * shown / total);
            sb.append('[');
            for (int i = 0; i < WIDTH; i++) sb.append(i < filled ? '#' : '.');
            sb.append("] ").append(String.format(Locale.ROOT, "%3d%% ", 100 * shown / total));
            sb.append(done).append('/').append(total);
        } else {
            sb.append(done);
        }
        if (note != null && !note.isEmpty()) sb.append("  ").append(note);
        return sb.toString();
    }

    /** Draws the final state and ends the line. */
    public void finish(long done, String note) {
        update(done, note, true);
        out.println();
        out.flush();
    }
}
