package dinoseg.infer;

import dinoseg.data.ClassSet;
import dinoseg.data.Palette;
import org.junit.jupiter.api.Test;

import java.awt.Rectangle;
import java.awt.image.BufferedImage;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OverlayTest {
    static final ClassSet LABELS = new ClassSet(List.of("background", "cat", "dog", "car"), null, 255);

    /** 160x120: class 1 on the left half, class 3 in the bottom-right block, 0 elsewhere; never class 2. */
    static int[] knownMask(int w, int h) {
        int[] m = new int[w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                m[y * w + x] = x < w / 2 ? 1 : (y >= h / 2 && x >= 3 * w / 4 ? 3 : 0);
        return m;
    }

    static int[] grey(int w, int h) {
        int[] rgb = new int[w * h];
        java.util.Arrays.fill(rgb, 0x808080);
        return rgb;
    }

    @Test void theOverlayOfAKnownMaskShowsALegendOfThePresentClasses() {
        int w = 160, h = 120;
        int[] mask = knownMask(w, h);
        BufferedImage ov = Overlay.render(grey(w, h), w, h, mask, LABELS, 0.5f);
        assertEquals(w, ov.getWidth());
        assertEquals(h, ov.getHeight());
        int[] present = Overlay.present(mask, 4);
        assertArrayEquals(new int[] {0, 1, 3}, present);
        List<Overlay.LegendEntry> legend = Overlay.legend(w, h, present, LABELS);
        assertEquals(3, legend.size());
        for (Overlay.LegendEntry e : legend) {
            Rectangle s = e.swatch();
            assertTrue(s.width >= 6 && s.height >= 6, "swatch too small: " + s);
            // every pixel of the swatch is the class colour, unblended
            for (int y = s.y; y < s.y + s.height; y++)
                for (int x = s.x; x < s.x + s.width; x++)
                    assertEquals(LABELS.color(e.classId()), ov.getRGB(x, y) & 0xFFFFFF,
                            "swatch of class " + e.classId() + " at " + x + "," + y);
            // the name is written: dark text pixels inside its box
            Rectangle t = e.text();
            int dark = 0;
            for (int y = t.y; y < t.y + t.height; y++)
                for (int x = t.x; x < t.x + t.width; x++) if (luma(ov.getRGB(x, y)) < 60) dark++;
            assertTrue(dark >= 10, "no text for class " + e.classId() + " (" + dark + " dark pixels)");
        }
        // legend rows go down in class order
        assertTrue(legend.get(0).swatch().y < legend.get(1).swatch().y && legend.get(1).swatch().y < legend.get(2).swatch().y);
        // away from the legend and the labels, pixels are the image blended with the class colour
        assertEquals(Palette.blend(0x808080, LABELS.color(1), 0.5f), ov.getRGB(3, h - 3) & 0xFFFFFF);
        assertEquals(Palette.blend(0x808080, LABELS.color(0), 0.5f), ov.getRGB(w - 3, 2) & 0xFFFFFF);
        assertEquals(Palette.blend(0x808080, LABELS.color(3), 0.5f), ov.getRGB(w - 2, h - 2) & 0xFFFFFF);
    }

    @Test void eachClassNameIsWrittenInsideItsLargestRegion() {
        int w = 160, h = 120;
        int[] mask = knownMask(w, h);
        // a small island of class 3 far from its big block: the label must stay on the big block
        for (int y = 10; y < 16; y++) for (int x = 10; x < 16; x++) mask[y * w + x] = 3;
        List<Overlay.LabelSpot> spots = Overlay.labelSpots(mask, w, h, 4);
        assertEquals(3, spots.size());
        for (Overlay.LabelSpot s : spots) assertEquals(s.classId(), mask[s.y() * w + s.x()], "spot outside its class: " + s);
        Overlay.LabelSpot car = spots.get(2);
        assertEquals(3, car.classId());
        assertEquals((w - 3 * w / 4) * (h / 2), car.area());
        assertTrue(car.x() >= 3 * w / 4 && car.y() >= h / 2, "car label not on its largest region: " + car);
        // the most interior point of the left half (80x120) is near its centre
        Overlay.LabelSpot cat = spots.get(1);
        assertTrue(Math.abs(cat.x() - 40) <= 1 && Math.abs(cat.y() - 60) <= 1, "cat label at " + cat);
        // and text is drawn there: white and black pixels around the spot in the rendering
        BufferedImage ov = Overlay.render(grey(w, h), w, h, mask, LABELS, 0.5f);
        int white = 0, black = 0;
        for (int y = car.y() - 6; y <= car.y() + 6; y++)
            for (int x = Math.max(0, car.x() - 20); x < Math.min(w, car.x() + 20); x++) {
                int l = luma(ov.getRGB(x, y));
                if (l > 240) white++;
                if (l < 20) black++;
            }
        assertTrue(white > 5 && black > 5, "label text not found at " + car + " (white " + white + ", black " + black + ")");
    }

    @Test void aRingIsLabelledOnTheRingNotInItsHole() {
        int w = 60, h = 60;
        int[] mask = new int[w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double r = Math.hypot(x - 30, y - 30);
                mask[y * w + x] = r >= 12 && r < 26 ? 2 : 0;
            }
        for (Overlay.LabelSpot s : Overlay.labelSpots(mask, w, h, 4)) assertEquals(s.classId(), mask[s.y() * w + s.x()]);
    }

    @Test void overlayKeepsOddSizesAndTinyImages() {
        for (int[] wh : new int[][] {{37, 23}, {1, 1}, {3, 200}}) {
            int w = wh[0], h = wh[1];
            int[] mask = new int[w * h];
            for (int i = 0; i < mask.length; i++) mask[i] = i % 3;
            BufferedImage ov = Overlay.render(FakeModels.testImage(w, h, 1), w, h, mask, LABELS, 0.4f);
            assertEquals(w, ov.getWidth());
            assertEquals(h, ov.getHeight());
        }
        assertThrows(IllegalArgumentException.class, () -> Overlay.render(new int[4], 2, 2, new int[3], LABELS, 0.5f));
        assertThrows(IllegalArgumentException.class, () -> Overlay.render(new int[4], 2, 2, new int[4], LABELS, 1.5f));
    }

    static int luma(int rgb) {
        return (299 * ((rgb >> 16) & 255) + 587 * ((rgb >> 8) & 255) + 114 * (rgb & 255)) / 1000;
    }
}
