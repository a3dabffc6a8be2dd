package dinoseg.model;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.io.HostTensor;
import dinoseg.io.StateDict;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Position-embedding interpolation: against PyTorch's F.interpolate as the official code calls it
 * (fixture pos_interp.safetensors), and jqwik properties over 1..80 patches per side against an
 * independent double-precision statement of the two resampling rules.
 */
class PosEmbedInterpolationTest {
    final Backend be = Backends.cpu();
    static final int G = 37;

    DinoVisionTransformer tiny(int registers, HostTensor pos) {
        DinoVisionTransformer m = new DinoVisionTransformer(be, BackboneConfig.builder("t").embedDim(4).depth(1).heads(1).registers(registers).posGrid(G).build(), 5);
        m.posEmbed.setValue(be.fromFloats(pos.data(), pos.shape()));
        return m;
    }

    @Test void matchesPyTorchForEveryGrid() throws Exception {
        StateDict sd = Golden.read("pos_interp.safetensors");
        HostTensor pos = sd.get("pos_embed");
        String[] grids = sd.metadata().get("grids").split(";");
        assertTrue(grids.length >= 10);
        for (int regs : new int[]{0, 4}) {
            DinoVisionTransformer m = tiny(regs, pos);
            Ops ops = new Ops(be);
            for (String g : grids) {
                String[] hw = g.split("x");
                int h0 = Integer.parseInt(hw[0]), w0 = Integer.parseInt(hw[1]);
                Var out = m.positionEmbedding(ops, h0, w0);
                HostTensor expected = sd.get((regs == 0 ? "plain." : "reg.") + g);
                Golden.assertClose(expected, out.shape().dims(), be.toFloats(out.value()), 1e-5f, (regs == 0 ? "plain " : "reg ") + g);
            }
        }
    }

    @Test void skippedOnlyForTheTrainedSquareGrid() {
        DinoVisionTransformer m = tiny(0, new HostTensor(dinoseg.tensor.Shape.of(1, 1 + G * G, 4), new float[(1 + G * G) * 4]));
        Ops ops = new Ops(be);
        assertSame(m.posEmbed, m.positionEmbedding(ops, G, G));
        assertNotSame(m.posEmbed, m.positionEmbedding(ops, G, G - 1));
    }

    /** Double-precision plain bicubic weight of input k for output i (PyTorch's rule, clamped taps). */
    static double[][] refBicubic(int in, int out, double scaleFactor) {
        double scale = scaleFactor > 0 ? 1 / scaleFactor : (double) in / out;
        double[][] w = new double[out][in];
        for (int i = 0; i < out; i++) {
            double src = scale * (i + 0.5) - 0.5;
            int f = (int) Math.floor(src);
            for (int tap = -1; tap <= 2; tap++) {
                double d = Math.abs(src - (f + tap));
                w[i][Math.min(Math.max(f + tap, 0), in - 1)] += keys(d, -0.75);
            }
        }
        return w;
    }

    /** Double-precision antialiased bicubic (PIL-style: a = -0.5 cubic stretched when shrinking, normalised). */
    static double[][] refAntialiased(int in, int out) {
        double scale = (double) in / out, support = 2 * Math.max(scale, 1), inv = 1 / Math.max(scale, 1);
        double[][] w = new double[out][in];
        for (int i = 0; i < out; i++) {
            double center = scale * (i + 0.5);
            int lo = Math.max((int) (center - support + 0.5), 0), hi = Math.min((int) (center + support + 0.5), in);
            double total = 0;
            for (int k = lo; k < hi; k++) total += keys((k - center + 0.5) * inv, -0.5);
            for (int k = lo; k < hi; k++) w[i][k] = keys((k - center + 0.5) * inv, -0.5) / total;
        }
        return w;
    }

    static double keys(double x, double a) {
        x = Math.abs(x);
        if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
        return 0;
    }

    static void assertMatrix(double[][] ref, float[] w, int in, double tol, String what) {
        for (int i = 0; i < ref.length; i++) {
            double sum = 0;
            for (int k = 0; k < in; k++) {
                assertEquals(ref[i][k], w[i * in + k], tol, what + " row " + i + " col " + k);
                sum += w[i * in + k];
            }
            assertEquals(1.0, sum, 1e-5, what + " row " + i + " sums to 1");
        }
    }

    @Property(tries = 160)
    void plainMatricesMatchTheRule(@ForAll @IntRange(min = 1, max = 80) int out) {
        assertMatrix(refBicubic(G, out, (out + 0.1) / G), PosEmbedInterpolation.official(G, out, false, 0.1), G, 2e-5, "plain " + out);
        assertMatrix(refBicubic(G, out, -1), PosEmbedInterpolation.bicubic(G, out, Double.NaN), G, 2e-5, "size " + out);
    }

    @Property(tries = 160)
    void antialiasedMatricesMatchTheRule(@ForAll @IntRange(min = 1, max = 80) int out) {
        assertMatrix(refAntialiased(G, out), PosEmbedInterpolation.official(G, out, true, 0), G, 2e-5, "antialiased " + out);
    }

    /** The two-GEMM application equals the direct double sum, and the gradient reaches pos_embed as Wyᵀ·1·Wx. */
    @Property(tries = 40)
    void gemmApplicationAndGradient(@ForAll @IntRange(min = 1, max = 80) int h0, @ForAll @IntRange(min = 1, max = 80) int w0,
                                    @ForAll boolean registers) {
        int c = 3;
        float[] p = new float[(1 + G * G) * c];
        for (int i = 0; i < p.length; i++) p[i] = (float) Math.sin(0.37 * i + 0.2);
        DinoVisionTransformer m = new DinoVisionTransformer(be, BackboneConfig.builder("t").embedDim(c).depth(1).heads(1).registers(registers ? 4 : 0).posGrid(G).build(), 1);
        m.posEmbed.setValue(be.fromFloats(p, m.posEmbed.shape()));
        Ops ops = new Ops(be);
        Var out = m.positionEmbedding(ops, h0, w0);
        assertArrayEquals(new int[]{1, 1 + h0 * w0, c}, out.shape().dims());
        float[] got = be.toFloats(out.value());
        double[][] wy = registers ? refAntialiased(G, h0) : refBicubic(G, h0, (h0 + 0.1) / G);
        double[][] wx = registers ? refAntialiased(G, w0) : refBicubic(G, w0, (w0 + 0.1) / G);
        if (h0 == G && w0 == G) { wy = identity(); wx = identity(); }
        for (int ch = 0; ch < c; ch++) assertEquals(p[ch], got[ch], 0, "class entry");
        for (int i = 0; i < h0; i += Math.max(1, h0 / 7))
            for (int j = 0; j < w0; j += Math.max(1, w0 / 7))
                for (int ch = 0; ch < c; ch++) {
                    double s = 0;
                    for (int r = 0; r < G; r++)
                        for (int q = 0; q < G; q++) s += wy[i][r] * wx[j][q] * p[(1 + r * G + q) * c + ch];
                    assertEquals(s, got[(1 + i * w0 + j) * c + ch], 1e-4, "value at " + i + "," + j);
                }
        ops.backward(ops.sum(out));
        float[] g = be.toFloats(m.posEmbed.grad());
        for (int ch = 0; ch < c; ch++) assertEquals(1f, g[ch], 1e-6f);
        for (int r = 0; r < G; r += 5)
            for (int q = 0; q < G; q += 3) {
                double sy = 0, sx = 0;
                for (double[] row : wy) sy += row[r];
                for (double[] row : wx) sx += row[q];
                assertEquals(sy * sx, g[(1 + r * G + q) * c], 1e-4, "gradient at " + r + "," + q);
            }
    }

    static double[][] identity() {
        double[][] w = new double[G][G];
        for (int i = 0; i < G; i++) w[i][i] = 1;
        return w;
    }
}
