package dinoseg.infer;

import dinoseg.backend.Backend;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/** Deterministic stand-ins for the network: functions of the pixels with the model's contract. */
final class FakeModels {
    private FakeModels() { }

    static final int K = 3;

    /** Class logits of one normalised pixel (r, g, b): smooth, non-linear, with real competition. */
    static void pixelLogits(float r, float g, float b, float[] out) {
        out[0] = 1.5f * r - 0.5f * g + 0.2f;
        out[1] = (float) Math.sin(2 * g) + 0.7f * b;
        out[2] = 0.8f * b * r - 0.3f;
    }

    /** Pointwise: every pixel's logits depend on that pixel only (so tiling cannot change anything). */
    static final class PixelModel implements SegModel {
        final Backend be;
        final List<int[]> calls = new ArrayList<>();

        PixelModel(Backend be) { this.be = be; }

        @Override public int numClasses() { return K; }

        @Override public int patch() { return 14; }

        @Override public Tensor logits(Tensor images, int outH, int outW) {
            int b = images.dim(0), h = images.dim(2), w = images.dim(3);
            if (h % 14 != 0 || w % 14 != 0) throw new AssertionError("input " + images.shape() + " is not a multiple of 14");
            calls.add(new int[] {b, h, w});
            float[] x = be.toFloats(images);
            int n = h * w;
            float[] y = new float[b * K * n];
            float[] l = new float[K];
            for (int i = 0; i < b; i++)
                for (int p = 0; p < n; p++) {
                    pixelLogits(x[(i * 3) * n + p], x[(i * 3 + 1) * n + p], x[(i * 3 + 2) * n + p], l);
                    for (int k = 0; k < K; k++) y[(i * K + k) * n + p] = l[k];
                }
            Tensor t = be.fromFloats(y, Shape.of(b, K, h, w));
            if (outH == h && outW == w) return t;
            Tensor o = be.empty(Shape.of(b, K, outH, outW));
            be.resizeBilinear(t, o);
            t.close();
            return o;
        }
    }

    /** Like a ViT: one prediction per 14x14 patch (from the patch's mean colour), upsampled bilinearly. */
    static final class PatchModel implements SegModel {
        final Backend be;
        final List<float[]> inputs = new ArrayList<>();
        final List<int[]> shapes = new ArrayList<>();

        PatchModel(Backend be) { this.be = be; }

        @Override public int numClasses() { return K; }

        @Override public int patch() { return 14; }

        @Override public Tensor logits(Tensor images, int outH, int outW) {
            int b = images.dim(0), h = images.dim(2), w = images.dim(3);
            if (h % 14 != 0 || w % 14 != 0) throw new AssertionError("input " + images.shape() + " is not a multiple of 14");
            float[] x = be.toFloats(images);
            inputs.add(x);
            shapes.add(new int[] {b, h, w});
            int gh = h / 14, gw = w / 14, n = h * w;
            float[] y = new float[b * K * gh * gw];
            float[] l = new float[K];
            for (int i = 0; i < b; i++)
                for (int py = 0; py < gh; py++)
                    for (int px = 0; px < gw; px++) {
                        float[] m = new float[3];
                        for (int c = 0; c < 3; c++) {
                            double s = 0;
                            for (int yy = 0; yy < 14; yy++)
                                for (int xx = 0; xx < 14; xx++) s += x[(i * 3 + c) * n + (py * 14 + yy) * w + px * 14 + xx];
                            m[c] = (float) (s / 196);
                        }
                        pixelLogits(m[0], m[1], m[2], l);
                        for (int k = 0; k < K; k++) y[((i * K + k) * gh + py) * gw + px] = 3 * l[k];
                    }
            Tensor t = be.fromFloats(y, Shape.of(b, K, gh, gw));
            Tensor o = be.empty(Shape.of(b, K, outH, outW));
            be.resizeBilinear(t, o);
            t.close();
            return o;
        }
    }

    /** A test image with structure at every scale: gradients, a disc and stripes, packed RGB. */
    static int[] testImage(int w, int h, long seed) {
        java.util.Random rnd = new java.util.Random(seed);
        int[] rgb = new int[w * h];
        double cx = w * (0.3 + 0.4 * rnd.nextDouble()), cy = h * (0.3 + 0.4 * rnd.nextDouble()), rad = Math.min(w, h) * 0.3;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int r = 255 * x / Math.max(1, w - 1), g = 255 * y / Math.max(1, h - 1), b = ((x / 5 + y / 7) % 2) * 200;
                if ((x - cx) * (x - cx) + (y - cy) * (y - cy) < rad * rad) { r = 255 - r; g = 40; b = 220; }
                r = Math.min(255, Math.max(0, r + rnd.nextInt(21) - 10));
                rgb[y * w + x] = (r << 16) | (g << 8) | b;
            }
        return rgb;
    }
}
