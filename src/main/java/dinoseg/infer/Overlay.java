package dinoseg.infer;

import dinoseg.data.ClassSet;
import dinoseg.data.Palette;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.Rectangle;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.font.FontRenderContext;
import java.awt.font.TextLayout;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;

/**
 * Draws a predicted mask over its image: every pixel blended with its class colour
 * ({@link Palette#blend}), each present class's name written (white, black outline) at the most
 * interior point of its largest connected region, and a legend (colour swatch + name) of the
 * classes present in the top-left corner. Pure java.awt; works headless.
 */
public final class Overlay {
    private Overlay() { }

    /** One legend row: where its swatch and its text are drawn. */
    public record LegendEntry(int classId, Rectangle swatch, Rectangle text) { }

    /** Where a class name is written: its region's most interior pixel. */
    public record LabelSpot(int classId, int x, int y, int area) { }

    static {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    /** Font size used for names and the legend on an image of this size. */
    public static int fontSize(int w, int h) {
        return Math.max(10, Math.min(28, Math.round(Math.min(w, h) / 24f)));
    }

    /** Font size of the legend: smaller than the names, so it covers less of a small image. */
    public static int legendFontSize(int w, int h) {
        return Math.max(8, Math.min(22, Math.round(Math.min(w, h) / 30f)));
    }

    /** Renders the overlay of {@code mask} (class ids, row-major w*h) on packed RGB pixels. */
    public static BufferedImage render(int[] rgb, int w, int h, int[] mask, ClassSet labels, float alpha) {
        if (mask.length != w * h || rgb.length != w * h)
            throw new IllegalArgumentException("overlay: image " + w + "x" + h + " has " + rgb.length + " pixels, mask " + mask.length);
        if (!(alpha >= 0 && alpha <= 1)) throw new IllegalArgumentException("--alpha must be in [0, 1], got " + alpha);
        int[] out = new int[w * h];
        int k = labels.size();
        for (int i = 0; i < out.length; i++) {
            int c = mask[i];
            out[i] = c >= 0 && c < k ? Palette.blend(rgb[i], labels.color(c), alpha) : rgb[i];
        }
        BufferedImage img = Images.fromRgb(out, w, h);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            Font font = new Font(Font.SANS_SERIF, Font.BOLD, fontSize(w, h));
            for (LabelSpot s : labelSpots(mask, w, h, k)) drawCentred(g, font, labels.name(s.classId()), s.x(), s.y(), w, h);
            Font legendFont = new Font(Font.SANS_SERIF, Font.BOLD, legendFontSize(w, h));
            drawLegend(g, legendFont, legend(g, legendFont, present(mask, k), labels), labels);
        } finally {
            g.dispose();
        }
        return img;
    }

    /** The class ids in [0, k) that occur in the mask, ascending. */
    public static int[] present(int[] mask, int k) {
        boolean[] seen = new boolean[k];
        for (int c : mask) if (c >= 0 && c < k) seen[c] = true;
        int n = 0;
        for (boolean b : seen) if (b) n++;
        int[] out = new int[n];
        for (int c = 0, j = 0; c < k; c++) if (seen[c]) out[j++] = c;
        return out;
    }

    /**
     * For each class present: its largest 4-connected region and that region's pixel farthest
     * (chessboard distance) from the region's border or the image's edge.
     */
    public static List<LabelSpot> labelSpots(int[] mask, int w, int h, int k) {
        int n = w * h;
        int[] comp = new int[n];
        java.util.Arrays.fill(comp, -1);
        int[] bestComp = new int[k], bestArea = new int[k];
        java.util.Arrays.fill(bestComp, -1);
        int[] queue = new int[n];
        int ncomp = 0;
        for (int start = 0; start < n; start++) {
            int c = mask[start];
            if (comp[start] >= 0 || c < 0 || c >= k) continue;
            int id = ncomp++, head = 0, tail = 0;
            queue[tail++] = start;
            comp[start] = id;
            while (head < tail) {
                int p = queue[head++];
                int x = p % w, y = p / w;
                if (x > 0 && comp[p - 1] < 0 && mask[p - 1] == c) { comp[p - 1] = id; queue[tail++] = p - 1; }
                if (x < w - 1 && comp[p + 1] < 0 && mask[p + 1] == c) { comp[p + 1] = id; queue[tail++] = p + 1; }
                if (y > 0 && comp[p - w] < 0 && mask[p - w] == c) { comp[p - w] = id; queue[tail++] = p - w; }
                if (y < h - 1 && comp[p + w] < 0 && mask[p + w] == c) { comp[p + w] = id; queue[tail++] = p + w; }
            }
            if (tail > bestArea[c]) { bestArea[c] = tail; bestComp[c] = id; }
        }
        // chessboard distance to the nearest pixel outside the own component (two passes)
        int[] d = new int[n];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int p = y * w + x;
                if (comp[p] < 0) { d[p] = 0; continue; }
                int v = Math.min(Math.min(x, y), Math.min(w - 1 - x, h - 1 - y)) + 1;
                if (x > 0) v = Math.min(v, comp[p - 1] == comp[p] ? d[p - 1] + 1 : 1);
                if (y > 0) {
                    v = Math.min(v, comp[p - w] == comp[p] ? d[p - w] + 1 : 1);
                    if (x > 0) v = Math.min(v, comp[p - w - 1] == comp[p] ? d[p - w - 1] + 1 : 1);
                    if (x < w - 1) v = Math.min(v, comp[p - w + 1] == comp[p] ? d[p - w + 1] + 1 : 1);
                }
                d[p] = v;
            }
        }
        for (int y = h - 1; y >= 0; y--) {
            for (int x = w - 1; x >= 0; x--) {
                int p = y * w + x;
                if (comp[p] < 0) continue;
                int v = d[p];
                if (x < w - 1) v = Math.min(v, comp[p + 1] == comp[p] ? d[p + 1] + 1 : 1);
                if (y < h - 1) {
                    v = Math.min(v, comp[p + w] == comp[p] ? d[p + w] + 1 : 1);
                    if (x < w - 1) v = Math.min(v, comp[p + w + 1] == comp[p] ? d[p + w + 1] + 1 : 1);
                    if (x > 0) v = Math.min(v, comp[p + w - 1] == comp[p] ? d[p + w - 1] + 1 : 1);
                }
                d[p] = v;
            }
        }
        // the deepest pixel; among equally deep ones, the one nearest the region's centroid
        int[] bestPix = new int[k], bestD = new int[k];
        double[] sx = new double[k], sy = new double[k], bestC = new double[k];
        java.util.Arrays.fill(bestPix, -1);
        for (int p = 0; p < n; p++) {
            int c = mask[p];
            if (c < 0 || c >= k || comp[p] != bestComp[c]) continue;
            sx[c] += p % w;
            sy[c] += p / w;
            if (d[p] > bestD[c]) bestD[c] = d[p];
        }
        for (int p = 0; p < n; p++) {
            int c = mask[p];
            if (c < 0 || c >= k || comp[p] != bestComp[c] || d[p] != bestD[c]) continue;
            double dx = p % w - sx[c] / bestArea[c], dy = p / w - sy[c] / bestArea[c];
            double dc = dx * dx + dy * dy;
            if (bestPix[c] < 0 || dc < bestC[c]) { bestPix[c] = p; bestC[c] = dc; }
        }
        List<LabelSpot> spots = new ArrayList<>();
        for (int c = 0; c < k; c++)
            if (bestPix[c] >= 0) spots.add(new LabelSpot(c, bestPix[c] % w, bestPix[c] / w, bestArea[c]));
        return spots;
    }

    /** Writes text centred on (cx, cy), kept inside the image, white with a black outline. */
    static void drawCentred(Graphics2D g, Font font, String text, int cx, int cy, int w, int h) {
        FontRenderContext frc = g.getFontRenderContext();
        TextLayout tl = new TextLayout(text, font, frc);
        float tw = tl.getAdvance(), asc = tl.getAscent(), desc = tl.getDescent();
        float x = cx - tw / 2f, y = cy + (asc - desc) / 2f;
        x = Math.max(2, Math.min(x, w - tw - 2));
        y = Math.max(asc + 1, Math.min(y, h - desc - 1));
        drawOutlined(g, tl, x, y, Color.WHITE, Color.BLACK, Math.max(2f, font.getSize2D() / 6f));
    }

    /** Writes text with its baseline at (x, y): fill colour inside an outline of the given width. */
    public static void drawOutlined(Graphics2D g, String text, Font font, float x, float y, Color fill, Color outline) {
        TextLayout tl = new TextLayout(text, font, g.getFontRenderContext());
        drawOutlined(g, tl, x, y, fill, outline, Math.max(2f, font.getSize2D() / 6f));
    }

    private static void drawOutlined(Graphics2D g, TextLayout tl, float x, float y, Color fill, Color outline, float width) {
        Shape shape = tl.getOutline(AffineTransform.getTranslateInstance(x, y));
        g.setColor(outline);
        g.setStroke(new BasicStroke(width, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
        g.draw(shape);
        g.setColor(fill);
        g.fill(shape);
    }

    /** The legend's layout for the given classes, in the top-left corner. */
    public static List<LegendEntry> legend(Graphics2D g, Font font, int[] classes, ClassSet labels) {
        FontMetrics fm = g.getFontMetrics(font);
        int pad = 4, gap = 4;
        int sw = fm.getAscent();
        int row = Math.max(sw, fm.getHeight()) + 2;
        List<LegendEntry> out = new ArrayList<>();
        int y = pad + pad;
        for (int c : classes) {
            int tw = fm.stringWidth(labels.name(c));
            Rectangle swatch = new Rectangle(pad + pad, y + (row - sw) / 2, sw, sw);
            Rectangle text = new Rectangle(swatch.x + sw + gap, y, tw, row);
            out.add(new LegendEntry(c, swatch, text));
            y += row;
        }
        return out;
    }

    /** The legend's layout for an image of this size (for tests and callers that draw around it). */
    public static List<LegendEntry> legend(int w, int h, int[] classes, ClassSet labels) {
        BufferedImage scratch = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = scratch.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            return legend(g, new Font(Font.SANS_SERIF, Font.BOLD, legendFontSize(w, h)), classes, labels);
        } finally {
            g.dispose();
        }
    }

    private static void drawLegend(Graphics2D g, Font font, List<LegendEntry> entries, ClassSet labels) {
        if (entries.isEmpty()) return;
        int pad = 4;
        int right = 0, bottom = 0;
        for (LegendEntry e : entries) {
            right = Math.max(right, e.text().x + e.text().width);
            bottom = Math.max(bottom, e.text().y + e.text().height);
        }
        Rectangle box = new Rectangle(pad, pad, right, bottom); // a margin of pad around the rows
        Object aa = g.getRenderingHint(RenderingHints.KEY_ANTIALIASING);
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_OFF);
        g.setColor(new Color(255, 255, 255, 150));
        g.fillRect(box.x, box.y, box.width, box.height);
        g.setColor(Color.DARK_GRAY);
        g.setStroke(new BasicStroke(1f));
        g.drawRect(box.x, box.y, box.width - 1, box.height - 1);
        FontMetrics fm = g.getFontMetrics(font);
        g.setFont(font);
        for (LegendEntry e : entries) {
            Rectangle s = e.swatch();
            g.setColor(new Color(labels.color(e.classId())));
            g.fillRect(s.x, s.y, s.width, s.height);
            g.setColor(Color.BLACK);
            g.drawRect(s.x - 1, s.y - 1, s.width + 1, s.height + 1);
        }
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, aa);
        g.setColor(Color.BLACK);
        for (LegendEntry e : entries) {
            Rectangle t = e.text();
            int baseline = t.y + (t.height - fm.getHeight()) / 2 + fm.getAscent();
            g.drawString(labels.name(e.classId()), t.x, baseline);
        }
    }
}
