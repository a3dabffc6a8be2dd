package dinoseg.data;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class AugmentTest {

    /** Largest class share among labelled pixels of the planned output, and whether more than one class shows. */
    private static double maxShare(Augment.Plan plan, int[] labels, int w, int h, int ow, int oh) {
        int[] out = new int[ow * oh];
        plan.warp().applyLabels(labels, w, h, out, 0, ow, oh, 255);
        int[] count = new int[3];
        int total = 0;
        for (int l : out) if (l != 255) { count[l]++; total++; }
        int max = Math.max(count[0], Math.max(count[1], count[2]));
        return total == 0 ? 1 : (double) max / total;
    }

    @Test
    void officialCropAvoidsSingleClassCropsWhenItCan() {
        int w = 400, h = 100, ow = 56, oh = 56;
        int[] labels = new int[w * h];
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) labels[y * w + x] = x < 340 ? 1 : 2;
        Augment official = Augment.of(Augment.Mode.OFFICIAL);
        int mixedWithTest = 0, mixedWithout = 0;
        for (int seed = 0; seed < 200; seed++) {
            Augment.Plan with = official.plan(w, h, ow, oh, labels, 255, new SplittableRandom(seed));
            Augment.Plan without = official.plan(w, h, ow, oh, null, 255, new SplittableRandom(seed));
            if (maxShare(with, labels, w, h, ow, oh) < 0.75) mixedWithTest++;
            if (maxShare(without, labels, w, h, ow, oh) < 0.75) mixedWithout++;
        }
        assertTrue(mixedWithTest > mixedWithout + 40, mixedWithTest + " vs " + mixedWithout);
    }

    @Test
    void officialRescaleStaysWithinHalfToDoubleAndPadsWithIgnore() {
        int w = 100, h = 100, ow = 70, oh = 70;
        Augment official = Augment.of(Augment.Mode.OFFICIAL);
        double minScale = 9, maxScale = 0;
        boolean padded = false;
        for (int seed = 0; seed < 300; seed++) {
            Augment.Plan p = official.plan(w, h, ow, oh, null, 255, new SplittableRandom(seed));
            double inPerOut = Math.sqrt(Math.abs(p.warp().a() * p.warp().e() - p.warp().b() * p.warp().d()));
            double scale = 1 / inPerOut / (70.0 / 100.0); // relative to the size that fits the target
            minScale = Math.min(minScale, scale);
            maxScale = Math.max(maxScale, scale);
            if (p.warp().outside(ow - 1, oh - 1, w, h)) padded = true;
        }
        assertTrue(minScale >= 0.49 && minScale < 0.6, "min " + minScale);
        assertTrue(maxScale <= 2.01 && maxScale > 1.8, "max " + maxScale);
        assertTrue(padded, "scales below 1 must leave padding");
    }

    @Test
    void tutorialFlipsAboutHalfTheTimeAndRotatesWithin25Degrees() {
        int flips = 0, rotations = 0;
        for (int seed = 0; seed < 400; seed++) {
            Warp wp = Augment.of(Augment.Mode.TUTORIAL).plan(56, 56, 56, 56, null, 255, new SplittableRandom(seed)).warp();
            double angle = Math.toDegrees(Math.atan2(wp.b(), wp.a() < 0 ? -wp.a() : wp.a()));
            if (wp.a() < 0) flips++;
            if (Math.abs(angle) > 1e-9) rotations++;
            assertTrue(Math.abs(angle) <= 25 + 1e-9, "angle " + angle);
        }
        assertTrue(flips > 160 && flips < 240, "flips " + flips);
        assertTrue(rotations > 160 && rotations < 240, "rotations " + rotations);
    }

    @Test
    void modesParseFromFlags() {
        assertEquals(Augment.Mode.TUTORIAL, Augment.Mode.parse("tutorial"));
        assertEquals(Augment.Mode.OFFICIAL, Augment.Mode.parse("OFFICIAL"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Augment.Mode.parse("heavy"));
        assertEquals("--augment: 'heavy' is not one of tutorial, official, none", e.getMessage());
    }
}
