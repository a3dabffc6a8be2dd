package dinoseg.backend.cpu;

import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;
import java.util.function.ToDoubleFunction;

import static org.junit.jupiter.api.Assertions.*;

/** Elementwise, reduction, normalisation, layout and optimiser ops against double references. */
class CpuOpsTest {
    private final CpuBackend be = new CpuBackend();

    static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() * 4 - 2);
        return a;
    }

    private Tensor t(float[] a, int... dims) { return be.fromFloats(a, Shape.of(dims)); }

    /** Central differences of a double function at x (h = 1e-6). */
    static double[] numericGrad(double[] x, ToDoubleFunction<double[]> f) {
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double keep = x[i];
            x[i] = keep + 1e-6;
            double up = f.applyAsDouble(x);
            x[i] = keep - 1e-6;
            double dn = f.applyAsDouble(x);
            x[i] = keep;
            g[i] = (up - dn) / 2e-6;
        }
        return g;
    }

    static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }

    static void close(double[] expect, float[] got, double tol, String what) {
        assertEquals(expect.length, got.length, what);
        for (int i = 0; i < got.length; i++)
            assertEquals(expect[i], got[i], tol * (1 + Math.abs(expect[i])), what + " at " + i);
    }

    @Test void memoryRoundTrips() {
        Tensor a = be.fromFloats(new float[] {1, 2, 3, 4, 5, 6}, Shape.of(2, 3));
        float[] back = be.toFloats(a);
        back[0] = 99;
        assertEquals(1f, be.toFloats(a)[0], "toFloats returns a copy");
        be.writeFloats(new float[] {7, 8, 9}, 1, a, 4, 2);
        assertArrayEquals(new float[] {1, 2, 3, 4, 8, 9}, be.toFloats(a));
        Tensor i = be.fromInts(new int[] {1, 2, 3}, Shape.of(3));
        be.writeInts(new int[] {5}, 0, i, 2, 1);
        assertArrayEquals(new int[] {1, 2, 5}, be.toInts(i));
        Tensor z = be.zeros(Shape.of(2, 3));
        be.copy(a, z);
        assertArrayEquals(be.toFloats(a), be.toFloats(z));
        be.fill(z, 2.5f);
        for (float v : be.toFloats(z)) assertEquals(2.5f, v);
        assertEquals(DType.I32, be.zeros(Shape.of(2), DType.I32).dtype());
        assertThrows(IllegalArgumentException.class, () -> be.writeFloats(new float[4], 0, a, 4, 3));
        assertThrows(IllegalArgumentException.class, () -> be.fromFloats(new float[5], Shape.of(2, 3)));
        assertThrows(IllegalArgumentException.class, () -> be.toInts(a));
        be.scale(a, 2f, z);
        assertArrayEquals(new float[] {2, 4, 6, 8, 16, 18}, be.toFloats(z));
        be.axpy(-1f, a, z);
        assertArrayEquals(be.toFloats(a), be.toFloats(z));
        a.close();
        assertTrue(a.storage().isClosed());
    }

    /** Reference broadcasting binary op in double. */
    private static double[] broadcastRef(int[] big, int[] small, float[] a, float[] b, boolean add, float alpha) {
        Shape bs = Shape.of(big);
        int rank = big.length, off = rank - small.length;
        long[] ss = Shape.of(small).strides();
        double[] r = new double[a.length];
        int[] idx = new int[rank];
        for (int i = 0; i < a.length; i++) {
            int rem = i;
            for (int d = rank - 1; d >= 0; d--) { idx[d] = rem % big[d]; rem /= big[d]; }
            long bo = 0;
            for (int d = 0; d < small.length; d++) if (small[d] != 1) bo += idx[off + d] * ss[d];
            r[i] = add ? a[i] + alpha * (double) b[(int) bo] : a[i] * (double) b[(int) bo];
        }
        assertEquals(bs.numel(), a.length);
        return r;
    }

    /** linear with a bias (written into y, then the product added) equals gemm then the bias add, under fp32 and bf16. */
    @Test void linearWithBiasMatchesGemmThenAdd() {
        SplittableRandom r = new SplittableRandom(11);
        int rows = 37, n = 45, k = 300;   // k > one packed slab: the product lands on the bias in pieces
        float[] xv = new float[rows * k], wv = new float[n * k], bv = new float[n];
        for (float[] a : new float[][]{xv, wv, bv}) for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextDouble() * 2 - 1);
        Tensor x = be.fromFloats(xv, Shape.of(rows, k)), w = be.fromFloats(wv, Shape.of(n, k)), b = be.fromFloats(bv, Shape.of(n));
        for (dinoseg.backend.Precision p : new dinoseg.backend.Precision[]{dinoseg.backend.Precision.FP32, dinoseg.backend.Precision.BF16}) {
            be.setMatmulPrecision(p);
            Tensor y = be.empty(Shape.of(rows, n)), ref = be.empty(Shape.of(rows, n));
            be.linear(x, w, b, rows, n, k, y);
            be.gemm(rows, n, k, 1f, dinoseg.backend.MatrixView.of(x, k), dinoseg.backend.MatrixView.of(w, k).t(), 0f, dinoseg.backend.MatrixView.of(ref, n), 1);
            be.add(ref, b, 1f, ref);
            if (p == dinoseg.backend.Precision.BF16) be.roundTo(ref, p, ref);
            float[] got = be.toFloats(y), want = be.toFloats(ref);
            // fp32: a few ulps; bf16: the rounding of a value that moved by ulps may flip one bf16 step
            double tol = p == dinoseg.backend.Precision.BF16 ? 1.0 / 128 : 1e-5;
            for (int i = 0; i < got.length; i++) assertEquals(want[i], got[i], tol * (1 + Math.abs(want[i])), p + " at " + i);
        }
        be.setMatmulPrecision(dinoseg.backend.Precision.FP32);
        assertThrows(IllegalArgumentException.class, () -> be.linear(x, w, be.zeros(Shape.of(n + 1)), rows, n, k, be.empty(Shape.of(rows, n))));
    }

    @Test void addAndMulBroadcast() {
        int[][][] cases = {
                {{2, 3, 4, 5}, {2, 3, 4, 5}}, {{2, 3, 4, 5}, {5}}, {{2, 3, 4, 5}, {4, 5}}, {{2, 3, 4, 5}, {1, 1, 5}},
                {{2, 3, 4, 5}, {3, 1, 1}}, {{2, 3, 4, 5}, {2, 1, 4, 1}}, {{2, 3, 4, 5}, {1}}, {{7, 300}, {7, 1}},
                {{3, 200, 64}, {200, 1}}, {{4, 1, 6}, {1, 6}},
                // row sums, in parallel and with 1-3 rows left over after the groups of four
                {{384, 1536}, {384, 1}}, {{2, 3, 40, 50}, {2, 3, 1, 1}}, {{1, 7, 300}, {7, 1}}, {{4, 1, 6}, {4, 1, 1}},
                {{6, 9000}, {6, 1}},
        };
        int seed = 0;
        for (int[][] c : cases) {
            int na = (int) Shape.of(c[0]).numel(), nb = (int) Shape.of(c[1]).numel();
            float[] a = random(na, ++seed), b = random(nb, ++seed);
            Tensor out = be.empty(Shape.of(c[0]));
            be.add(t(a, c[0]), t(b, c[1]), -0.5f, out);
            close(broadcastRef(c[0], c[1], a, b, true, -0.5f), be.toFloats(out), 1e-6, "add " + Shape.of(c[1]));
            be.mul(t(a, c[0]), t(b, c[1]), out);
            close(broadcastRef(c[0], c[1], a, b, false, 1), be.toFloats(out), 1e-6, "mul " + Shape.of(c[1]));
            // sumTo is the adjoint of broadcasting b
            Tensor s = be.full(Shape.of(c[1]), Float.NaN);
            be.sumTo(t(a, c[0]), s);
            double[] ref = new double[nb];
            float[] ones = new float[nb];
            java.util.Arrays.fill(ones, 1f);
            int rank = c[0].length, off = rank - c[1].length;
            long[] ss = Shape.of(c[1]).strides();
            for (int i = 0; i < na; i++) {
                int rem = i;
                long bo = 0;
                for (int d = rank - 1; d >= 0; d--) {
                    int ix = rem % c[0][d];
                    rem /= c[0][d];
                    if (d >= off && c[1][d - off] != 1) bo += ix * ss[d - off];
                }
                ref[(int) bo] += a[i];
            }
            close(ref, be.toFloats(s), 1e-5, "sumTo " + Shape.of(c[1]));
        }
        // in place: out may be a
        Tensor a = t(new float[] {1, 2, 3, 4}, 2, 2);
        be.add(a, t(new float[] {10, 20}, 2), 1f, a);
        assertArrayEquals(new float[] {11, 22, 13, 24}, be.toFloats(a));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> be.add(be.zeros(Shape.of(2, 3)), be.zeros(Shape.of(2)), 1f, be.zeros(Shape.of(2, 3))));
        assertTrue(e.getMessage().startsWith("add:") && e.getMessage().contains("[2]") && e.getMessage().contains("[2, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> be.mul(be.zeros(Shape.of(2, 3)), be.zeros(Shape.of(3)), be.zeros(Shape.of(3, 2))));
        assertTrue(e.getMessage().startsWith("mul:") && e.getMessage().contains("[3, 2]"), e.getMessage());
    }

    @Test void reductions() {
        float[] a = random(300_001, 5);
        double s = 0, sq = 0;
        for (float v : a) { s += v; sq += (double) v * v; }
        Tensor out = be.empty(Shape.of(1));
        be.sumAll(t(a, a.length), out);
        assertEquals(s, be.toFloats(out)[0], 1e-3);
        assertEquals(sq, be.sumSquares(t(a, a.length)), 1e-6 * sq);
    }

    @Test void activations() {
        float[] x = random(5000, 9);
        x[0] = 0; x[1] = -10; x[2] = 10; x[3] = 1e-4f;
        float[] gy = random(5000, 10);
        Tensor tx = t(x, 50, 100), out = be.empty(Shape.of(50, 100)), gx = be.empty(Shape.of(50, 100));
        be.gelu(tx, out);
        double[] ref = new double[x.length], gref = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double v = x[i];
            ref[i] = 0.5 * v * (1 + ErfTest.bigErf(v / Math.sqrt(2)));
            double h = 1e-6;
            double up = 0.5 * (v + h) * (1 + Erf.slowErf((v + h) / Math.sqrt(2)));
            double dn = 0.5 * (v - h) * (1 + Erf.slowErf((v - h) / Math.sqrt(2)));
            gref[i] = gy[i] * (up - dn) / (2 * h);
        }
        close(ref, be.toFloats(out), 1e-6, "gelu");
        be.geluBackward(tx, t(gy, 50, 100), gx);
        close(gref, be.toFloats(gx), 2e-6, "geluBackward");
        be.relu(tx, out);
        be.reluBackward(tx, t(gy, 50, 100), gx);
        float[] r = be.toFloats(out), rg = be.toFloats(gx);
        for (int i = 0; i < x.length; i++) {
            assertEquals(Math.max(x[i], 0f), r[i]);
            assertEquals(x[i] > 0 ? gy[i] : 0f, rg[i]);
        }
    }

    @Test void swigluAndGradient() {
        int rows = 6, h = 5;
        float[] x = random(rows * 2 * h, 12), gy = random(rows * h, 13);
        Tensor out = be.empty(Shape.of(2, 3, h)), gx = be.empty(Shape.of(2, 3, 2 * h));
        be.swiglu(t(x, 2, 3, 2 * h), out);
        double[] ref = new double[rows * h];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < h; j++) {
                double a = x[r * 2 * h + j], b = x[r * 2 * h + h + j];
                ref[r * h + j] = a / (1 + Math.exp(-a)) * b;
            }
        close(ref, be.toFloats(out), 1e-6, "swiglu");
        be.swigluBackward(t(x, 2, 3, 2 * h), t(gy, 2, 3, h), gx);
        double[] num = numericGrad(toDouble(x), xd -> {
            double l = 0;
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < h; j++) {
                    double a = xd[r * 2 * h + j], b = xd[r * 2 * h + h + j];
                    l += gy[r * h + j] * a / (1 + Math.exp(-a)) * b;
                }
            return l;
        });
        close(num, be.toFloats(gx), 1e-5, "swigluBackward");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> be.swiglu(be.zeros(Shape.of(2, 6)), be.zeros(Shape.of(2, 4))));
        assertTrue(e.getMessage().startsWith("swiglu:") && e.getMessage().contains("[2, 6]") && e.getMessage().contains("[2, 4]"));
    }

    @Test void softmaxArgmaxFlip() {
        int b = 2, k = 5, hw = 300;
        float[] x = random(b * k * hw, 14);
        for (int axis : new int[] {1, -1}) {
            Tensor tx = t(x, b, k, hw), out = be.empty(Shape.of(b, k, hw));
            be.softmax(tx, axis, out);
            float[] o = be.toFloats(out);
            int ax = axis < 0 ? 2 : axis;
            int[] dims = {b, k, hw};
            int inner = ax == 1 ? hw : 1, kk = dims[ax], outer = b * (ax == 1 ? 1 : k);
            for (int r = 0; r < outer; r++)
                for (int i = 0; i < inner; i++) {
                    int base = ax == 1 ? r * k * hw + i : r * hw;
                    double mx = Double.NEGATIVE_INFINITY, s = 0;
                    for (int j = 0; j < kk; j++) mx = Math.max(mx, x[base + j * inner]);
                    for (int j = 0; j < kk; j++) s += Math.exp(x[base + j * inner] - mx);
                    for (int j = 0; j < kk; j++)
                        assertEquals(Math.exp(x[base + j * inner] - mx) / s, o[base + j * inner], 1e-6);
                }
        }
        // in place
        Tensor tx = t(x.clone(), b, k, hw);
        be.softmax(tx, 1, tx);
        Tensor ref = be.empty(Shape.of(b, k, hw));
        be.softmax(t(x, b, k, hw), 1, ref);
        assertArrayEquals(be.toFloats(ref), be.toFloats(tx));

        Tensor am = be.zeros(Shape.of(1, 2, 2), DType.I32);
        // [1, 3, 2, 2]: pixel 0 tie between class 0 and 2 -> 0
        be.argmax(t(new float[] {5, 1, 0, 0, 2, 7, 0, 1, 5, 2, 3, 1}, 1, 3, 2, 2), am);
        assertArrayEquals(new int[] {0, 1, 2, 1}, be.toInts(am));

        Tensor f = be.empty(Shape.of(2, 3));
        be.flipLastDim(t(new float[] {1, 2, 3, 4, 5, 6}, 2, 3), f);
        assertArrayEquals(new float[] {3, 2, 1, 6, 5, 4}, be.toFloats(f));
        Tensor fi = be.zeros(Shape.of(1, 4), DType.I32);
        be.flipLastDim(be.fromInts(new int[] {1, 2, 3, 255}, Shape.of(1, 4)), fi);
        assertArrayEquals(new int[] {255, 3, 2, 1}, be.toInts(fi));
    }

    @Test void layerNormForwardAndBackward() {
        int rows = 7, c = 24;
        float[] x = random(rows * c, 15), g = random(c, 16), bt = random(c, 17), gy = random(rows * c, 18);
        for (int i = 0; i < c; i++) x[i] += 1000f; // a large mean must not hurt the variance
        Tensor y = be.empty(Shape.of(rows, c)), mean = be.empty(Shape.of(rows)), rstd = be.empty(Shape.of(rows));
        float eps = 1e-6f;
        be.layerNorm(t(x, rows, c), t(g, c), t(bt, c), eps, y, mean, rstd);
        double[] gam = toDouble(g), bet = toDouble(bt);
        ToDoubleFunction<double[]> fwdLoss = xd -> {
            double[] yd = layerNormRef(xd, gam, bet, rows, c, eps);
            double l = 0;
            for (int i = 0; i < yd.length; i++) l += yd[i] * gy[i];
            return l;
        };
        close(layerNormRef(toDouble(x), gam, bet, rows, c, eps), be.toFloats(y), 2e-5, "layerNorm");
        Tensor gx = be.empty(Shape.of(rows, c)), gg = be.empty(Shape.of(c)), gb = be.empty(Shape.of(c));
        be.layerNormBackward(t(gy, rows, c), t(x, rows, c), t(g, c), mean, rstd, gx, gg, gb);
        close(numericGrad(toDouble(x), fwdLoss), be.toFloats(gx), 5e-3, "layerNorm gx");
        double[] xd = toDouble(x);
        close(numericGrad(gam.clone(), gd -> {
            double[] yd = layerNormRef(xd, gd, bet, rows, c, eps);
            double l = 0;
            for (int i = 0; i < yd.length; i++) l += yd[i] * gy[i];
            return l;
        }), be.toFloats(gg), 1e-4, "layerNorm ggamma");
        double[] sumGy = new double[c];
        for (int i = 0; i < gy.length; i++) sumGy[i % c] += gy[i];
        close(sumGy, be.toFloats(gb), 1e-5, "layerNorm gbeta");
    }

    static double[] layerNormRef(double[] x, double[] g, double[] b, int rows, int c, double eps) {
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double m = 0, v = 0;
            for (int j = 0; j < c; j++) m += x[r * c + j];
            m /= c;
            for (int j = 0; j < c; j++) v += (x[r * c + j] - m) * (x[r * c + j] - m);
            v /= c;
            for (int j = 0; j < c; j++) y[r * c + j] = (x[r * c + j] - m) / Math.sqrt(v + eps) * g[j] + b[j];
        }
        return y;
    }

    static double[] batchNormRef(double[] x, double[] g, double[] b, int n, int ch, int hw, double eps) {
        double[] y = new double[x.length];
        for (int c = 0; c < ch; c++) {
            double m = 0, v = 0;
            for (int bi = 0; bi < n; bi++) for (int i = 0; i < hw; i++) m += x[(bi * ch + c) * hw + i];
            m /= n * hw;
            for (int bi = 0; bi < n; bi++) for (int i = 0; i < hw; i++) { double d = x[(bi * ch + c) * hw + i] - m; v += d * d; }
            v /= n * hw;
            for (int bi = 0; bi < n; bi++)
                for (int i = 0; i < hw; i++) {
                    int j = (bi * ch + c) * hw + i;
                    y[j] = (x[j] - m) / Math.sqrt(v + eps) * g[c] + b[c];
                }
        }
        return y;
    }

    @Test void batchNormTrainEvalAndBackward() {
        int n = 2, ch = 3, h = 2, w = 3, hw = h * w;
        float[] x = random(n * ch * hw, 19), g = random(ch, 20), bt = random(ch, 21), gy = random(n * ch * hw, 22);
        float eps = 1e-5f, mom = 0.1f;
        Tensor rm = t(new float[] {0.5f, 0, -1}, ch), rv = t(new float[] {1, 2, 0.5f}, ch);
        Tensor y = be.empty(Shape.of(n, ch, h, w)), sm = be.empty(Shape.of(ch)), sr = be.empty(Shape.of(ch));
        be.batchNorm(t(x, n, ch, h, w), t(g, ch), t(bt, ch), rm, rv, true, mom, eps, y, sm, sr);
        double[] gd = toDouble(g), bd = toDouble(bt);
        close(batchNormRef(toDouble(x), gd, bd, n, ch, hw, eps), be.toFloats(y), 2e-5, "batchNorm train");
        float[] rmA = be.toFloats(rm), rvA = be.toFloats(rv), smA = be.toFloats(sm);
        float[] rm0 = {0.5f, 0, -1}, rv0 = {1, 2, 0.5f};
        for (int c = 0; c < ch; c++) {
            double m = 0, v = 0;
            for (int bi = 0; bi < n; bi++) for (int i = 0; i < hw; i++) m += x[(bi * ch + c) * hw + i];
            m /= n * hw;
            for (int bi = 0; bi < n; bi++) for (int i = 0; i < hw; i++) { double d = x[(bi * ch + c) * hw + i] - m; v += d * d; }
            assertEquals(m, smA[c], 1e-6);
            assertEquals(0.9 * rm0[c] + 0.1 * m, rmA[c], 1e-6);
            assertEquals(0.9 * rv0[c] + 0.1 * v / (n * hw - 1), rvA[c], 1e-6, "unbiased running variance");
        }
        Tensor gx = be.empty(Shape.of(n, ch, h, w)), gg = be.empty(Shape.of(ch)), gb = be.empty(Shape.of(ch));
        be.batchNormBackward(t(gy, n, ch, h, w), t(x, n, ch, h, w), t(g, ch), sm, sr, true, gx, gg, gb);
        close(numericGrad(toDouble(x), xd -> {
            double[] yd = batchNormRef(xd, gd, bd, n, ch, hw, eps);
            double l = 0;
            for (int i = 0; i < yd.length; i++) l += yd[i] * gy[i];
            return l;
        }), be.toFloats(gx), 5e-4, "batchNorm gx");
        double[] xd = toDouble(x);
        close(numericGrad(gd.clone(), gg2 -> {
            double[] yd = batchNormRef(xd, gg2, bd, n, ch, hw, eps);
            double l = 0;
            for (int i = 0; i < yd.length; i++) l += yd[i] * gy[i];
            return l;
        }), be.toFloats(gg), 1e-4, "batchNorm ggamma");

        // eval: running stats normalise, gradient is gy * gamma * rstd
        be.batchNorm(t(x, n, ch, h, w), t(g, ch), t(bt, ch), rm, rv, false, mom, eps, y, sm, sr);
        float[] ye = be.toFloats(y), rmE = be.toFloats(rm), rvE = be.toFloats(rv);
        assertArrayEquals(rmA, rmE, "eval leaves running stats alone");
        for (int bi = 0; bi < n; bi++)
            for (int c = 0; c < ch; c++)
                for (int i = 0; i < hw; i++) {
                    int j = (bi * ch + c) * hw + i;
                    assertEquals((x[j] - rmA[c]) / Math.sqrt(rvA[c] + eps) * g[c] + bt[c], ye[j], 1e-5);
                }
        be.batchNormBackward(t(gy, n, ch, h, w), t(x, n, ch, h, w), t(g, ch), sm, sr, false, gx, gg, gb);
        float[] gxe = be.toFloats(gx);
        for (int j = 0; j < gy.length; j++) {
            int c = (j / hw) % ch;
            assertEquals(gy[j] * g[c] / Math.sqrt(rvA[c] + eps), gxe[j], 1e-5);
        }
    }

    @Test void im2colMatchesDirectConvolutionAndCol2imIsItsAdjoint() {
        int b = 2, c = 3, h = 7, w = 6;
        int[][] geoms = {{3, 3, 1, 1}, {2, 2, 2, 0}, {3, 2, 2, 1}, {14, 14, 14, 0}};
        for (int[] gm : geoms) {
            int kh = gm[0], kw = gm[1], st = gm[2], pad = gm[3];
            int hh = kh == 14 ? 28 : h, ww = kw == 14 ? 42 : w;
            int oh = (hh + 2 * pad - kh) / st + 1, ow = (ww + 2 * pad - kw) / st + 1;
            float[] x = random(b * c * hh * ww, 23);
            Tensor cols = be.empty(Shape.of(b, oh * ow, c * kh * kw));
            be.im2col(t(x, b, c, hh, ww), kh, kw, st, pad, cols);
            float[] co = be.toFloats(cols);
            for (int bi = 0; bi < b; bi++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                        for (int ci = 0; ci < c; ci++)
                            for (int ky = 0; ky < kh; ky++)
                                for (int kx = 0; kx < kw; kx++) {
                                    int iy = oy * st - pad + ky, ix = ox * st - pad + kx;
                                    float v = iy >= 0 && iy < hh && ix >= 0 && ix < ww ? x[((bi * c + ci) * hh + iy) * ww + ix] : 0f;
                                    assertEquals(v, co[((bi * oh + oy) * ow + ox) * c * kh * kw + (ci * kh + ky) * kw + kx]);
                                }
            // <im2col(x), y> == <x, col2im(y)>
            float[] yv = random(co.length, 24);
            Tensor gx = be.full(Shape.of(b, c, hh, ww), Float.NaN);
            be.col2im(t(yv, b, oh * ow, c * kh * kw), kh, kw, st, pad, gx);
            float[] gxa = be.toFloats(gx);
            double lhs = 0, rhs = 0;
            for (int i = 0; i < co.length; i++) lhs += (double) co[i] * yv[i];
            for (int i = 0; i < x.length; i++) rhs += (double) x[i] * gxa[i];
            assertEquals(lhs, rhs, 1e-3, "adjoint for kernel " + kh + "x" + kw);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> be.im2col(be.zeros(Shape.of(1, 2, 5, 5)), 3, 3, 1, 0, be.zeros(Shape.of(1, 9, 17))));
        assertTrue(e.getMessage().startsWith("im2col:") && e.getMessage().contains("[1, 9, 17]"), e.getMessage());
    }

    @Test void copyBlocksAndPermute() {
        float[] src = random(40, 25);
        Tensor s = t(src, 40), d = be.zeros(Shape.of(50));
        be.copyBlocks(s, 2, 10, d, 1, 12, 3, 4, false);
        float[] da = be.toFloats(d);
        for (int r = 0; r < 3; r++) for (int j = 0; j < 4; j++) assertEquals(src[2 + r * 10 + j], da[1 + r * 12 + j]);
        be.copyBlocks(s, 2, 10, d, 1, 12, 3, 4, true);
        da = be.toFloats(d);
        for (int r = 0; r < 3; r++) for (int j = 0; j < 4; j++) assertEquals(2 * src[2 + r * 10 + j], da[1 + r * 12 + j]);
        assertEquals(0f, da[0]);
        assertThrows(IllegalArgumentException.class, () -> be.copyBlocks(s, 30, 10, d, 0, 10, 2, 5, false));
        Tensor is = be.fromInts(new int[] {1, 2, 3, 4, 5, 6}, Shape.of(2, 3)), id = be.zeros(Shape.of(2, 2), DType.I32);
        be.copyBlocks(is, 1, 3, id, 0, 2, 2, 2, false); // slice [:, 1:3]
        assertArrayEquals(new int[] {2, 3, 5, 6}, be.toInts(id));

        int[] dims = {2, 3, 4, 5};
        float[] x = random(120, 26);
        int[][] perms = {{0, 2, 3, 1}, {3, 2, 1, 0}, {1, 0, 2, 3}, {0, 1, 2, 3}, {2, 0, 3, 1}};
        for (int[] p : perms) {
            int[] od = new int[4];
            for (int i = 0; i < 4; i++) od[i] = dims[p[i]];
            Tensor out = be.empty(Shape.of(od));
            be.permute(t(x, dims), p, out);
            float[] o = be.toFloats(out);
            long[] xs = Shape.of(dims).strides();
            int[] idx = new int[4];
            for (int i = 0; i < o.length; i++) {
                int rem = i;
                for (int q = 3; q >= 0; q--) { idx[q] = rem % od[q]; rem /= od[q]; }
                long src2 = 0;
                for (int q = 0; q < 4; q++) src2 += idx[q] * xs[p[q]];
                assertEquals(x[(int) src2], o[i]);
            }
        }
        Tensor li = be.fromInts(new int[] {1, 2, 3, 4, 5, 6}, Shape.of(2, 3)), lo = be.zeros(Shape.of(3, 2), DType.I32);
        be.permute(li, new int[] {1, 0}, lo);
        assertArrayEquals(new int[] {1, 4, 2, 5, 3, 6}, be.toInts(lo));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> be.permute(be.zeros(Shape.of(2, 3)), new int[] {1, 0}, be.zeros(Shape.of(2, 3))));
        assertTrue(e.getMessage().startsWith("permute:") && e.getMessage().contains("[3, 2]"), e.getMessage());
    }

    @Test void adamwFollowsPyTorchFormula() {
        float[] p = random(1000, 27), m = new float[1000], v = new float[1000];
        double[] pd = toDouble(p), md = new double[1000], vd = new double[1000];
        Tensor tp = t(p, 1000), tm = t(m, 1000), tv = t(v, 1000);
        float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.05f;
        for (int step = 1; step <= 5; step++) {
            float[] g = random(1000, 100 + step);
            be.adamw(tp, t(g, 1000), tm, tv, lr, b1, b2, eps, wd, step);
            for (int i = 0; i < 1000; i++) {
                pd[i] -= lr * wd * pd[i];
                md[i] = b1 * md[i] + (1 - b1) * g[i];
                vd[i] = b2 * vd[i] + (1 - b2) * g[i] * (double) g[i];
                double mh = md[i] / (1 - Math.pow(b1, step)), vh = vd[i] / (1 - Math.pow(b2, step));
                pd[i] -= lr * mh / (Math.sqrt(vh) + eps);
            }
        }
        close(pd, be.toFloats(tp), 1e-6, "adamw param");
        close(md, be.toFloats(tm), 1e-6, "adamw m");
        close(vd, be.toFloats(tv), 1e-6, "adamw v");
    }

    @Test void largeTensorsUseThePoolAndAgreeWithSmallOnes() {
        // same op on a tensor big enough to be split across threads, checked per row against a small call
        int rows = 4000, c = 96;
        float[] x = random(rows * c, 28), g = random(c, 29), b = random(c, 30);
        Tensor y = be.empty(Shape.of(rows, c)), mean = be.empty(Shape.of(rows)), rstd = be.empty(Shape.of(rows));
        be.layerNorm(t(x, rows, c), t(g, c), t(b, c), 1e-6f, y, mean, rstd);
        float[] ya = be.toFloats(y);
        for (int r : new int[] {0, 1234, rows - 1}) {
            float[] row = java.util.Arrays.copyOfRange(x, r * c, (r + 1) * c);
            Tensor y1 = be.empty(Shape.of(1, c));
            be.layerNorm(t(row, 1, c), t(g, c), t(b, c), 1e-6f, y1, be.empty(Shape.of(1)), be.empty(Shape.of(1)));
            assertArrayEquals(be.toFloats(y1), java.util.Arrays.copyOfRange(ya, r * c, (r + 1) * c));
        }
        Tensor gx = be.empty(Shape.of(rows, c)), gg = be.empty(Shape.of(c)), gb = be.empty(Shape.of(c));
        float[] gy = random(rows * c, 31);
        be.layerNormBackward(t(gy, rows, c), t(x, rows, c), t(g, c), mean, rstd, gx, gg, gb);
        double[] sum = new double[c];
        for (int i = 0; i < gy.length; i++) sum[i % c] += gy[i];
        close(sum, be.toFloats(gb), 1e-5, "gbeta over many rows");
    }
}
