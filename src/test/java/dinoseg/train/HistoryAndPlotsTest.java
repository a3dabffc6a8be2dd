package dinoseg.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class HistoryAndPlotsTest {
    @TempDir Path dir;

    @Test
    void csvRoundTripsAndHasTheDocumentedHeader() throws Exception {
        History h = new History();
        h.add(new History.Row(1, 1.5, 0.4, 0.2, 1.4, 0.45, 0.25, 1e-4, 12.5));
        h.add(new History.Row(2, 1.0, 0.6, 0.3, 1.1, 0.55, 0.35, 5e-5, 11.0));
        Path csv = dir.resolve("metrics.csv");
        h.write(csv);
        List<String> lines = Files.readAllLines(csv);
        assertEquals("epoch,train_loss,train_pixacc,train_miou,valid_loss,valid_pixacc,valid_miou,lr,seconds", lines.get(0));
        assertEquals(3, lines.size());
        History back = History.read(csv);
        assertEquals(2, back.rows().size());
        assertEquals(0.35, back.rows().get(1).validMiou(), 1e-9);
        back.truncateAfter(1);
        assertEquals(1, back.rows().size());
    }

    @Test
    void readingSomethingElseIsAOneLineError() throws Exception {
        Path csv = dir.resolve("other.csv");
        Files.writeString(csv, "a,b\n1,2\n");
        var e = assertThrows(IllegalArgumentException.class, () -> History.read(csv));
        assertTrue(e.getMessage().startsWith(csv.toString()));
    }

    @Test
    void plotsArePngImages() throws Exception {
        History h = new History();
        for (int i = 1; i <= 3; i++) h.add(new History.Row(i, 2.0 / i, 0.3 * i, 0.2 * i, 2.2 / i, 0.28 * i, Double.NaN, 1e-4, 1));
        Plots.curves(h, dir);
        Plots.perClassIou(new String[]{"background", "cat", "dog"}, new double[]{0.9, Double.NaN, 0.4}, dir.resolve("iou.png"));
        Plots.confusion(new String[]{"a", "b"}, new long[][]{{5, 1}, {0, 3}}, dir.resolve("cm.png"));
        for (String f : new String[]{"loss.png", "accuracy.png", "miou.png", "iou.png", "cm.png"}) {
            BufferedImage img = ImageIO.read(dir.resolve(f).toFile());
            assertNotNull(img, f + " is a readable PNG");
            assertTrue(img.getWidth() >= 600, f);
        }
    }
}
