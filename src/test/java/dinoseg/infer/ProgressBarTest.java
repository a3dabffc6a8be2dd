package dinoseg.infer;

import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProgressBarTest {
    @Test void rendersFractionCountAndNote() {
        ProgressBar b = new ProgressBar(new PrintWriter(new StringWriter()), "clip.mp4", 12);
        assertEquals("clip.mp4 [###############...............]  50% 6/12  3.0 FPS", b.render(6, "3.0 FPS"));
        assertTrue(b.render(12, "").contains("[" + "#".repeat(30) + "] 100% 12/12"));
        assertEquals("clip.mp4 7", new ProgressBar(new PrintWriter(new StringWriter()), "clip.mp4", 0).render(7, null));
    }

    @Test void redrawsInPlaceAndEndsTheLine() {
        StringWriter s = new StringWriter();
        ProgressBar b = new ProgressBar(new PrintWriter(s), "x", 4);
        b.update(1, "long note here", true);
        b.update(2, null, true);
        b.finish(4, "done");
        String out = s.toString();
        assertTrue(out.startsWith("\rx ["), out);
        assertEquals(3, out.chars().filter(c -> c == '\r').count());
        assertTrue(out.endsWith("4/4  done" + System.lineSeparator()), out);
        // the shorter second line blanks the rest of the longer first one
        String second = out.split("\r")[2];
        assertEquals(("x [" + "#".repeat(7) + ".".repeat(23) + "]  25% 1/4  long note here").length(), second.length());
    }
}
