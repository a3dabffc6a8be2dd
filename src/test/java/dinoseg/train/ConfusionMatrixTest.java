package dinoseg.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class ConfusionMatrixTest {

    @Test
    void handBuiltMatrixGivesDatasetLevelScores() {
        // 4 classes; class 3 never appears in truth or prediction; 255 is ignored; label 7 is out of range.
        int[] truth = {0, 0, 0, 1, 1, 2, 2, 2, 255, 7};
        int[] pred  = {0, 0, 1, 1, 2, 2, 2, 0, 3, 3};
        ConfusionMatrix cm = new ConfusionMatrix(4);
        cm.add(pred, truth, 255);
        assertEquals(8, cm.total(), "ignored and out-of-range labels are not counted");
        assertEquals(5.0 / 8, cm.pixelAccuracy(), 1e-12);
        double[] iou = cm.iou();
        // class 0: TP 2, FN 1 (0->1), FP 1 (2->0) => 2/4
        assertEquals(0.5, iou[0], 1e-12);
        // class 1: TP 1, FN 1 (1->2), FP 1 (0->1) => 1/3
        assertEquals(1.0 / 3, iou[1], 1e-12);
        // class 2: TP 2, FN 1 (2->0), FP 1 (1->2) => 2/4
        assertEquals(0.5, iou[2], 1e-12);
        assertTrue(Double.isNaN(iou[3]), "a class absent from truth and prediction has no IoU");
        assertEquals((0.5 + 1.0 / 3 + 0.5) / 3, cm.meanIou(), 1e-12);
    }

    @Test
    void classOnlyPredictedCountsWithZeroIou() {
        ConfusionMatrix cm = new ConfusionMatrix(3);
        cm.add(new int[]{0, 2}, new int[]{0, 0}, 255);
        assertEquals(0.0, cm.iou()[2], 0.0);
        assertEquals((0.5 + 0.0) / 2, cm.meanIou(), 1e-12);
    }

    @Test
    void mergingEqualsAddingEverythingAtOnce() {
        int[] t = {0, 1, 2, 1, 0, 2};
        int[] p = {0, 2, 2, 1, 1, 2};
        ConfusionMatrix whole = new ConfusionMatrix(3), a = new ConfusionMatrix(3), b = new ConfusionMatrix(3);
        whole.add(p, t, 255);
        a.add(p, 0, t, 0, 3, 255);
        b.add(p, 3, t, 3, 3, 255);
        a.merge(b);
        assertArrayEquals(whole.toArray(), a.toArray());
        assertEquals(whole.meanIou(), a.meanIou(), 0);
    }

    @Test
    void emptyMatrixIsNaNNotZero() {
        ConfusionMatrix cm = new ConfusionMatrix(2);
        cm.add(new int[]{1}, new int[]{255}, 255);
        assertTrue(Double.isNaN(cm.pixelAccuracy()));
        assertTrue(Double.isNaN(cm.meanIou()));
    }

    @Test
    void predictionOutOfRangeIsAnError() {
        ConfusionMatrix cm = new ConfusionMatrix(2);
        var e = assertThrows(IllegalArgumentException.class, () -> cm.add(new int[]{5}, new int[]{0}, 255));
        assertTrue(e.getMessage().contains("5"));
    }

    @Test
    void addsDeviceCountsAsUnsigned() {
        ConfusionMatrix cm = new ConfusionMatrix(2);
        cm.addCounts(new int[]{3, 0, 1, -1});   // -1: the 32-bit cell holds 2^32 - 1
        cm.addCounts(new int[]{1, 2, 0, 0});
        org.junit.jupiter.api.Assertions.assertEquals(4, cm.get(0, 0));
        org.junit.jupiter.api.Assertions.assertEquals(2, cm.get(0, 1));
        org.junit.jupiter.api.Assertions.assertEquals(1, cm.get(1, 0));
        org.junit.jupiter.api.Assertions.assertEquals(4294967295L, cm.get(1, 1));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> cm.addCounts(new int[3]));
    }
}
