package dinoseg.backend.cpu;

import dinoseg.backend.Bilinear;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** The separable bilinear resize gives the bits of the direct four-tap formula (PyTorch's, align_corners=false). */
class CpuResizeTest {

    /** The four-tap formula per output pixel, as PyTorch's CPU kernel and the earlier code evaluate it. */
    private static float[] direct(float[] a, int planes, int h, int w, int oh, int ow) {
        int[] y0 = new int[oh], y1 = new int[oh], x0 = new int[ow], x1 = new int[ow];
        float[] wy0 = new float[oh], wy1 = new float[oh], wx0 = new float[ow], wx1 = new float[ow];
        Bilinear.axisWeights(h, oh, y0, y1, wy0, wy1);
        Bilinear.axisWeights(w, ow, x0, x1, wx0, wx1);
        float[] o = new float[planes * oh * ow];
        for (int p = 0; p < planes; p++)
            for (int oy = 0; oy < oh; oy++) {
                int r0 = p * h * w + y0[oy] * w, r1 = p * h * w + y1[oy] * w;
                for (int ox = 0; ox < ow; ox++)
                    o[(p * oh + oy) * ow + ox] = wy0[oy] * (wx0[ox] * a[r0 + x0[ox]] + wx1[ox] * a[r0 + x1[ox]])
                            + wy1[oy] * (wx0[ox] * a[r1 + x0[ox]] + wx1[ox] * a[r1 + x1[ox]]);
            }
        return o;
    }

    @Test void separableResizeHasTheBitsOfTheFourTapFormula() {
        CpuBackend be = new CpuBackend();
        // {batch, channels, h, w, oh, ow}: logits up to the image, an image down to the model, odd and
        // one-pixel sizes, and planes·rows large enough that the loop's pieces start inside a plane
        int[][] cases = {{4, 21, 16, 16, 224, 224}, {1, 3, 500, 375, 224, 168}, {2, 5, 7, 9, 7, 9},
                {1, 2, 1, 7, 5, 1}, {1, 1, 7, 1, 1, 13}, {3, 7, 46, 46, 644, 644}, {2, 3, 9, 31, 40, 11}};
        for (int[] c : cases) {
            int planes = c[0] * c[1];
            float[] a = CpuOpsTest.random(planes * c[2] * c[3], c[4] * 31 + c[5]);
            Tensor x = be.fromFloats(a, Shape.of(c[0], c[1], c[2], c[3])), y = be.empty(Shape.of(c[0], c[1], c[4], c[5]));
            be.resizeBilinear(x, y);
            assertArrayEquals(direct(a, planes, c[2], c[3], c[4], c[5]), be.toFloats(y),
                    java.util.Arrays.toString(c));
        }
    }
}
