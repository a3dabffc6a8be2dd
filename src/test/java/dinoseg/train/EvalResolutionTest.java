package dinoseg.train;

import dinoseg.data.ClassSet;
import dinoseg.data.DatasetSpec;
import dinoseg.data.Datasets;
import dinoseg.data.MaskFormat;
import dinoseg.data.MaskIO;
import dinoseg.model.Dinov2Segmentation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code eval} scores at the annotation's own resolution (logits upsampled to the image's size, the
 * mask untouched), as MMSegmentation and the DINOv2 paper do: a 56x280 annotation with 1-pixel lines
 * of "cat" every 5th row, scored for a model that always answers "bg" at a 56x56 input, has pixel
 * accuracy 0.8 and mIoU 0.4 over all 15680 pixels. Resizing the mask to 56x56 (nearest) instead
 * would keep or lose the lines depending on the sampling (the old behaviour gave mIoU 1.0).
 */
class EvalResolutionTest {
    @TempDir Path dir;

    @Test
    void scoresAreTakenOnTheUntouchedAnnotation() throws Exception {
        int w = 56, h = 280;
        int[] ids = new int[w * h];
        for (int i = 0; i < ids.length; i++) ids[i] = (i / w) % 5 == 0 ? 1 : 0;
        for (String split : new String[] {"train", "valid"}) {
            BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
            MaskIO.writePng(img, dir.resolve(split + "_images/a.png").toFile());
            MaskIO.writeGreyPng(dir.resolve(split + "_labels/a.png").toFile(), ids, w, h);
        }
        ClassSet classes = EvaluatorTest.CLASSES;
        Datasets.Opened ds = Datasets.openValidated(DatasetSpec.ofDir(dir).withClasses(classes).withMaskFormat(MaskFormat.INDEX), null);
        Dinov2Segmentation alwaysBg = EvaluatorTest.alwaysCat();
        var b = alwaysBg.head.namedParameters().get("conv.bias");
        b.setValue(EvaluatorTest.BE.fromFloats(new float[] {5, 0, 0, 0}, dinoseg.tensor.Shape.of(4)));

        EvalReport r = EvalReport.run(alwaysBg, classes, ds.valid(), 56, 56, 2, 1, EvaluatorTest.BE, null);
        assertEquals(w * h, r.result().pixels(), "scored over the annotation's own pixels");
        assertEquals(0.8, r.pixelAccuracy(), 1e-9);
        assertEquals(0.4, r.miou(), 1e-9);
        long[][] cm = r.result().confusion().toArray();
        assertArrayEquals(new long[] {w * h * 4 / 5, 0, 0, 0}, cm[0]);
        assertArrayEquals(new long[] {w * h / 5, 0, 0, 0}, cm[1], "every 1-pixel line is scored");
        double z = Math.exp(5) + 3;
        assertEquals(0.8 * -Math.log(Math.exp(5) / z) + 0.2 * -Math.log(1 / z), r.result().loss(), 1e-4);
        assertEquals(56, r.width());
        StringWriter s = new StringWriter();
        r.printTable(new PrintWriter(s));
        assertTrue(s.toString().contains("at their annotations' resolution (model input 56x56"), s.toString());

        // a stop requested (SIGINT/SIGTERM in the CLI) ends the evaluation between images, with no report
        dinoseg.io.Stop stop = new dinoseg.io.Stop();
        stop.request("INT", 130);
        dinoseg.io.Stop.Stopped e = org.junit.jupiter.api.Assertions.assertThrows(dinoseg.io.Stop.Stopped.class,
                () -> EvalReport.run(alwaysBg, classes, ds.valid(), 56, 56, 2, 1, EvaluatorTest.BE, null, stop));
        assertEquals(130, e.exitCode());
        assertTrue(e.getMessage().startsWith("stopped by SIGINT after 0 of 1 valid images"), e.getMessage());
    }
}
