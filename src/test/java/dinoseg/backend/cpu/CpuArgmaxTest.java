package dinoseg.backend.cpu;

import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** The blocked argmax over classes gives torch.argmax's index for every pixel: first maximum, NaN largest. */
class CpuArgmaxTest {

    /** Per pixel, classes in order: the first strict maximum, a NaN beating any number. */
    private static int[] perPixel(float[] a, int b, int k, int inner) {
        int[] o = new int[b * inner];
        for (int bi = 0; bi < b; bi++)
            for (int i = 0; i < inner; i++) {
                int base = bi * k * inner + i, arg = 0;
                float best = a[base];
                for (int j = 1; j < k; j++) {
                    float v = a[base + j * inner];
                    if (v > best || (Float.isNaN(v) && !Float.isNaN(best))) { best = v; arg = j; }
                }
                o[bi * inner + i] = arg;
            }
        return o;
    }

    private static int[] filled(int n, int v) {
        int[] a = new int[n];
        java.util.Arrays.fill(a, v);
        return a;
    }

    @Test void blockedArgmaxMatchesThePerPixelScan() {
        CpuBackend be = new CpuBackend();
        SplittableRandom rng = new SplittableRandom(7);
        // {batch, classes, h, w}: partial blocks, one class, one pixel, a full-size logit map
        int[][] cases = {{2, 21, 23, 47}, {1, 1, 5, 5}, {3, 4, 1, 1}, {1, 21, 224, 224}, {2, 3, 1, 513}, {1, 7, 16, 32}};
        for (int[] c : cases) {
            int n = c[0] * c[1] * c[2] * c[3];
            float[] a = new float[n];
            for (int i = 0; i < n; i++) {
                int kind = rng.nextInt(40);
                // mostly few distinct values (ties), some NaN and infinities
                a[i] = kind == 0 ? Float.NaN : kind == 1 ? Float.NEGATIVE_INFINITY : kind == 2 ? Float.POSITIVE_INFINITY
                        : kind < 20 ? rng.nextInt(4) : (float) rng.nextGaussian();
            }
            Tensor x = be.fromFloats(a, Shape.of(c[0], c[1], c[2], c[3])), out = be.fromInts(filled(c[0] * c[2] * c[3], -1), Shape.of(c[0], c[2], c[3]));   // not zeroed: every index is written
            be.argmax(x, out);
            assertArrayEquals(perPixel(a, c[0], c[1], c[2] * c[3]), be.toInts(out), java.util.Arrays.toString(c));
        }
    }
}
