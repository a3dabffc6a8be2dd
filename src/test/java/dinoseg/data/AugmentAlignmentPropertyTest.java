package dinoseg.data;

import boofcv.struct.image.GrayF32;
import boofcv.struct.image.Planar;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Augmentation keeps image and mask aligned: a red marker block on grey is labelled 1 on background 0;
 * after any augmentation, marker-coloured pixels carry label 1 or lie next to one (within the blur of
 * bilinear interpolation, i.e. about one input pixel), label-1 pixels are marker-coloured, the ignored area is exactly the black uncovered area, and nothing else appears.
 */
class AugmentAlignmentPropertyTest {

    @Property(tries = 120)
    void imageAndMaskStayAligned(@ForAll @IntRange(min = 40, max = 64) int w, @ForAll @IntRange(min = 40, max = 64) int h,
                                 @ForAll @IntRange(min = 2, max = 8) int targetPatches, @ForAll @IntRange(min = 0, max = 2) int modeIndex,
                                 @ForAll @LongRange(min = 0, max = 1_000_000) long seed) {
        Augment.Mode mode = Augment.Mode.values()[modeIndex];
        SplittableRandom r = new SplittableRandom(seed);
        int side = 12 + r.nextInt(9);
        int mx = r.nextInt(w - side), my = r.nextInt(h - side);
        Planar<GrayF32> img = new Planar<>(GrayF32.class, w, h, 3);
        for (int c = 0; c < 3; c++) img.getBand(c).setTo(filled(w, h, 128f));
        int[] mask = new int[w * h];
        for (int y = my; y < my + side; y++)
            for (int x = mx; x < mx + side; x++) {
                mask[y * w + x] = 1;
                img.getBand(0).set(x, y, 255f);
                img.getBand(1).set(x, y, 0f);
                img.getBand(2).set(x, y, 0f);
            }
        int ignore = 255;
        Preprocess pre = Preprocess.of(targetPatches * 14, 14, null);
        int ow = pre.width(), oh = pre.height(), n = ow * oh;
        float[] out = new float[3 * n];
        int[] labels = new int[n];
        pre.apply(img, mask, ignore, Augment.of(mode), new SplittableRandom(seed ^ 0x5DEECE66DL), out, 0, labels, 0);
        // the same draw again gives the warp, hence how many output pixels one input pixel spans
        Warp warp = Augment.of(mode).plan(w, h, ow, oh, mask, ignore, new SplittableRandom(seed ^ 0x5DEECE66DL)).warp();
        double span = 1 / Math.sqrt(Math.abs(warp.a() * warp.e() - warp.b() * warp.d()));
        int near = (int) Math.ceil(0.5 * span) + 1, reach = (int) Math.ceil(span) + 1;

        float[] redness = new float[n];
        boolean[] black = new boolean[n];
        for (int i = 0; i < n; i++) {
            float rr = raw(out[i], 0), gg = raw(out[n + i], 1), bb = raw(out[2 * n + i], 2);
            redness[i] = rr - gg;
            black[i] = rr < 0.5f && gg < 0.5f && bb < 0.5f;
        }
        // the reference marker strength: median redness of label-1 pixels whose 3x3 neighbourhood is all label 1
        float[] interior = new float[n];
        int ni = 0;
        for (int y = 1; y < oh - 1; y++)
            for (int x = 1; x < ow - 1; x++) {
                boolean all = true;
                for (int dy = -1; dy <= 1 && all; dy++)
                    for (int dx = -1; dx <= 1; dx++) if (labels[(y + dy) * ow + x + dx] != 1) { all = false; break; }
                if (all) interior[ni++] = redness[y * ow + x];
            }
        for (int i = 0; i < n; i++) {
            assertTrue(labels[i] == 0 || labels[i] == 1 || labels[i] == ignore, "unexpected label " + labels[i]);
            assertEquals(labels[i] == ignore, black[i], "ignored pixels must be exactly the uncovered (black) ones, pixel " + i);
        }
        if (ni == 0) return; // marker cropped away or too small after rescale: nothing more to compare
        Arrays.sort(interior, 0, ni);
        float ref = interior[ni / 2];
        assertTrue(ref > 40, "marker redness " + ref);
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                int i = y * ow + x;
                if (labels[i] == 1)
                    assertTrue(redness[i] > 0.12f * ref, "label-1 pixel (" + x + "," + y + ") is not marker-coloured: " + redness[i] + " vs " + ref);
                if (redness[i] > 0.3f * ref)
                    assertTrue(hasLabelNear(labels, ow, oh, x, y, 1, near),
                            "marker-coloured pixel (" + x + "," + y + ") has no label 1 within " + near + " pixels (redness " + redness[i] + ")");
                if (labels[i] == 0 && !hasLabelNear(labels, ow, oh, x, y, 1, reach))
                    assertTrue(Math.abs(redness[i]) < 0.12f * ref, "background pixel (" + x + "," + y + ") is reddish: " + redness[i]);
            }
    }

    private static boolean hasLabelNear(int[] labels, int w, int h, int x, int y, int label, int radius) {
        for (int dy = -radius; dy <= radius; dy++)
            for (int dx = -radius; dx <= radius; dx++) {
                int xx = x + dx, yy = y + dy;
                if (xx >= 0 && yy >= 0 && xx < w && yy < h && labels[yy * w + xx] == label) return true;
            }
        return false;
    }

    private static float raw(float normalised, int c) {
        return ImageNetNorm.pixel(c, normalised);
    }

    private static GrayF32 filled(int w, int h, float v) {
        GrayF32 g = new GrayF32(w, h);
        Arrays.fill(g.data, v);
        return g;
    }
}
