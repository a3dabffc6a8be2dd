package dinoseg.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import dinoseg.backend.Backend;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/**
 * CpuLoss's Vector API blocks (VectorLoss) against its scalar double-precision loop: the same loss and
 * gradient within float exp's accuracy, with ignored pixels, class weights, labels out of range, and
 * rows whose length is not a multiple of the lanes (the tail runs scalar).
 */
class VectorLossTest {
    @Test
    void vectorBlocksMatchTheScalarLoop() {
        assertTrue(CpuGemm.VECTOR_AVAILABLE, "the tests run with the Vector API module");
        Backend be = new CpuBackend();
        SplittableRandom r = new SplittableRandom(5);
        for (int[] dims : new int[][] {{2, 21, 7, 37}, {1, 3, 5, 16}, {3, 2, 1, 40}, {1, 5, 1, 3}}) {
            for (boolean weighted : new boolean[] {false, true}) {
                int b = dims[0], k = dims[1], inner = dims[2] * dims[3];
                float[] x = new float[b * k * inner];
                for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextGaussian() * 4);
                x[0] = 95f;   // a large logit: exp(x - max) under the cut-off for the others
                int[] y = new int[b * inner];
                for (int i = 0; i < y.length; i++) y[i] = r.nextInt(10) == 0 ? 255 : r.nextInt(10) == 0 ? k + 3 : r.nextInt(k);
                float[] w = new float[k];
                for (int j = 0; j < k; j++) w[j] = 0.5f + j;
                Shape sh = Shape.of(b, k, dims[2], dims[3]);
                float[][] loss = new float[2][], grad = new float[2][];
                for (int v = 0; v < 2; v++) {
                    CpuLoss.vectorBlocks = v == 0;
                    try (Tensor lt = be.fromFloats(x, sh); Tensor yt = be.fromInts(y, Shape.of(b, dims[2], dims[3]));
                         Tensor wt = weighted ? be.fromFloats(w, Shape.of(k)) : null; Tensor l = be.empty(Shape.scalar());
                         Tensor g = be.empty(sh)) {
                        be.softmaxCrossEntropy(lt, yt, wt, 255, l, g);
                        loss[v] = be.toFloats(l);
                        grad[v] = be.toFloats(g);
                    } finally {
                        CpuLoss.vectorBlocks = true;
                    }
                }
                String what = java.util.Arrays.toString(dims) + (weighted ? " weighted" : "");
                assertEquals(loss[1][0], loss[0][0], 2e-6 * Math.abs(loss[1][0]), "loss " + what);
                double scale = 0;
                for (float g : grad[1]) scale = Math.max(scale, Math.abs(g));
                for (int i = 0; i < grad[1].length; i++)
                    assertEquals(grad[1][i], grad[0][i], 1e-6 * scale, "gradient " + what + " at " + i);
            }
        }
    }
}
