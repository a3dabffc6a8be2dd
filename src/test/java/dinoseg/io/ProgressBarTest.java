package dinoseg.io;

import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The one progress bar as the video segmenter drives it (count set from outside, a note, unknown lengths). */
class ProgressBarTest {
    private static final String RATE = "[0-9.]+ (it/s|s/it)";

    @Test void rendersFractionCountAndNote() {
        ProgressBar b = new ProgressBar(new PrintWriter(new StringWriter()), "clip.mp4", 12, false);
        b.update(6, "3.0 FPS", false);
        String half = b.line();
        assertTrue(half.matches("clip\\.mp4 +50% \\[#{12}>\\.{11}\\] 6/12 " + RATE + " elapsed 00:00 ETA [0-9:]+ 3\\.0 FPS"), half);
        b.update(12, "", false);
        assertTrue(b.line().contains("100% [" + "#".repeat(24) + "] 12/12"), b.line());
        ProgressBar unknown = new ProgressBar(new PrintWriter(new StringWriter()), "clip.mp4", ProgressBar.UNKNOWN, false);
        unknown.update(7, null, false);
        assertTrue(unknown.line().matches("clip\\.mp4 +7 " + RATE + " elapsed 00:00"), unknown.line());
        ProgressBar negative = new ProgressBar(new PrintWriter(new StringWriter()), "clip.mp4", -5, false);
        negative.update(7, null, false);
        assertFalse(negative.line().contains("%") || negative.line().contains("/-5"), negative.line());
    }

    @Test void redrawsInPlaceAndEndsTheLine() {
        StringWriter s = new StringWriter();
        ProgressBar b = new ProgressBar(new PrintWriter(s), "x", 4, true);
        b.update(1, "long note here", true);
        b.update(2, null, true);
        b.finish(4, "done");
        String out = s.toString();
        assertTrue(out.startsWith("\rx "), out);
        assertEquals(3, out.chars().filter(c -> c == '\r').count());
        String[] parts = out.split("\r");
        assertTrue(parts[3].contains("100% [") && parts[3].contains(" 4/4 ") && out.endsWith(" done" + System.lineSeparator()), out);
        // the shorter second line blanks the rest of the longer first one
        String first = parts[1], second = parts[2];
        assertTrue(first.contains("1/4") && first.endsWith("long note here"), first);
        assertTrue(second.contains("2/4") && second.endsWith(" "), second);
        assertEquals(first.length(), second.length());
    }

    @Test void logsOfAnUnknownLengthGetALineAtEachPowerOfTwo() {
        StringWriter s = new StringWriter();
        try (ProgressBar b = new ProgressBar(new PrintWriter(s), "frames", ProgressBar.UNKNOWN, false)) {
            for (int i = 0; i < 10; i++) b.step("f");
        }
        String[] lines = s.toString().split("\\R");
        assertEquals(5, lines.length, s.toString());
        String[] counts = {"1", "2", "4", "8", "10"};
        for (int i = 0; i < counts.length; i++)
            assertTrue(lines[i].matches("frames +" + counts[i] + " " + RATE + " elapsed 00:00 f"), lines[i]);
        assertFalse(s.toString().contains("\r"));
    }

    @Test void countsBytesInBinaryUnits() {
        ProgressBar b = ProgressBar.bytes(new PrintWriter(new StringWriter()), "download", 88L << 20, false);
        b.resumeAt(11L << 20);
        b.update(44L << 20, "dinov2_vits14", false);
        String line = b.line();
        assertTrue(line.matches("download +50% \\[#{12}>\\.{11}\\] 44\\.0/88\\.0 MiB [0-9.]+ (B|KiB|MiB|GiB|TiB)/s elapsed 00:00 ETA [0-9:]+ dinov2_vits14"), line);
        assertEquals("512 B", ProgressBar.size(512));
        assertEquals("1.5 KiB", ProgressBar.size(1536));
        assertEquals("4.20 GiB", ProgressBar.size(4.2 * (1L << 30)));
        ProgressBar small = ProgressBar.bytes(new PrintWriter(new StringWriter()), "download", 3000, false);
        small.update(1000, null, false);
        assertTrue(small.line().contains(" 1.0/2.9 KiB "), small.line());
        ProgressBar unknown = ProgressBar.bytes(new PrintWriter(new StringWriter()), "download", ProgressBar.UNKNOWN, false);
        unknown.update(3L << 20, null, false);
        assertTrue(unknown.line().matches("download +3\\.0 MiB [0-9.]+ (B|KiB|MiB|GiB|TiB)/s elapsed 00:00"), unknown.line());
    }
}
