package dinoseg.backend.cpu;

import dinoseg.backend.Backend;
import dinoseg.backend.Checks;
import dinoseg.tensor.DType;
import dinoseg.tensor.Device;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import java.util.Arrays;

import static dinoseg.backend.cpu.CpuStorage.floats;
import static dinoseg.backend.cpu.CpuStorage.ints;

/**
 * The pure-Java backend: heap arrays, one shared pool of daemon threads (see {@link Parallel}),
 * plain loops the JIT vectorises. Work is split over rows, channels, planes or heads; small
 * tensors run on the calling thread.
 */
public final class CpuBackend implements Backend {

    public CpuBackend() { }

    @Override public String name() { return "cpu"; }

    @Override public Device device() { return Device.CPU; }

    // ------------------------------------------------------------------ memory

    @Override public Tensor empty(Shape shape, DType dtype) { return zeros(shape, dtype); }

    @Override public Tensor zeros(Shape shape, DType dtype) {
        int n = shape.size();
        return dtype == DType.F32 ? new Tensor(new CpuStorage(new float[n]), shape)
                : new Tensor(new CpuStorage(new int[n]), shape);
    }

    @Override public Tensor fromFloats(float[] data, Shape shape) {
        if (data.length != shape.numel())
            throw new IllegalArgumentException("fromFloats: " + data.length + " values do not fill shape " + shape);
        return new Tensor(new CpuStorage(data.clone()), shape);
    }

    @Override public Tensor fromInts(int[] data, Shape shape) {
        if (data.length != shape.numel())
            throw new IllegalArgumentException("fromInts: " + data.length + " values do not fill shape " + shape);
        return new Tensor(new CpuStorage(data.clone()), shape);
    }

    @Override public float[] toFloats(Tensor t) { return floats(t).clone(); }

    @Override public int[] toInts(Tensor t) { return ints(t).clone(); }

    @Override public void writeFloats(float[] src, int srcOff, Tensor dst, long dstOff, int len) {
        float[] d = floats(dst);
        checkRange("writeFloats", srcOff, len, src.length, dstOff, d.length, dst);
        System.arraycopy(src, srcOff, d, (int) dstOff, len);
    }

    @Override public void writeInts(int[] src, int srcOff, Tensor dst, long dstOff, int len) {
        int[] d = ints(dst);
        checkRange("writeInts", srcOff, len, src.length, dstOff, d.length, dst);
        System.arraycopy(src, srcOff, d, (int) dstOff, len);
    }

    private static void checkRange(String op, int srcOff, int len, int srcLen, long dstOff, int dstLen, Tensor dst) {
        if (len < 0 || srcOff < 0 || dstOff < 0 || (long) srcOff + len > srcLen || dstOff + len > dstLen)
            throw new IllegalArgumentException(op + ": range [" + srcOff + ", +" + len + ") of " + srcLen
                    + " host values to offset " + dstOff + " does not fit tensor " + dst.shape());
    }

    @Override public void copy(Tensor src, Tensor dst) {
        Checks.sameNumel("copy", src, dst);
        if (src.dtype() != dst.dtype())
            throw Checks.error("copy", "dtypes differ: " + src.dtype() + " vs " + dst.dtype(), src, dst);
        if (src.dtype() == DType.F32) {
            float[] s = floats(src), d = floats(dst);
            if (s != d) System.arraycopy(s, 0, d, 0, s.length);
        } else {
            int[] s = ints(src), d = ints(dst);
            if (s != d) System.arraycopy(s, 0, d, 0, s.length);
        }
    }

    @Override public void fill(Tensor t, float value) {
        float[] a = floats(t);
        Parallel.forRange(a.length, 1, (s, e) -> Arrays.fill(a, s, e, value));
    }

    @Override public void synchronize() { }

    // ------------------------------------------------------------------ matrix products

    @Override public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                               Tensor a, long offA, int lda, long strideA,
                               Tensor b, long offB, int ldb, long strideB,
                               float beta, Tensor c, long offC, int ldc, long strideC, int batch) {
        String op = "gemm";
        Checks.check(m >= 0 && n >= 0 && k >= 0 && batch >= 0, op, "negative size m=" + m + " n=" + n + " k=" + k + " batch=" + batch);
        float[] fa = floats(a), fb = floats(b), fc = floats(c);
        if (m == 0 || n == 0 || batch == 0) return;
        int aRows = transA ? k : m, aCols = transA ? m : k;
        int bRows = transB ? n : k, bCols = transB ? k : n;
        checkMatrix(op, "A", a, fa.length, offA, lda, strideA, aRows, aCols, batch, k > 0);
        checkMatrix(op, "B", b, fb.length, offB, ldb, strideB, bRows, bCols, batch, k > 0);
        checkMatrix(op, "C", c, fc.length, offC, ldc, strideC, m, n, batch, true);
        CpuGemm.gemm(transA, transB, m, n, k, alpha, fa, offA, lda, strideA, fb, offB, ldb, strideB,
                beta, fc, offC, ldc, strideC, batch);
    }

    private static void checkMatrix(String op, String name, Tensor t, int len, long off, int ld, long stride,
                                    int rows, int cols, int batch, boolean used) {
        if (!used || rows == 0 || cols == 0) return;
        if (ld < cols || off < 0 || stride < 0)
            throw Checks.error(op, name + " is " + rows + "x" + cols + " but leading dimension " + ld
                    + ", offset " + off + ", batch stride " + stride + " are invalid for tensor", t);
        long last = off + (long) (batch - 1) * stride + (long) (rows - 1) * ld + cols;
        if (last > len)
            throw Checks.error(op, name + " (" + batch + " x " + rows + "x" + cols + ", ld " + ld + ", offset " + off
                    + ", stride " + stride + ") reaches element " + last + " beyond tensor", t);
    }

    // ------------------------------------------------------------------ elementwise

    /** Strides of {@code small} aligned right against {@code big}'s rank, 0 where small broadcasts. */
    private static long[] broadcastStrides(Shape big, Shape small) {
        int r = big.rank(), off = r - small.rank();
        long[] st = new long[r];
        long[] ss = small.strides();
        for (int i = 0; i < small.rank(); i++) st[off + i] = small.dim(i) == 1 ? 0 : ss[i];
        return st;
    }

    /** Length L when small (leading ones dropped) equals big's trailing dims, so small[j] pairs with big[r*L + j]; else -1. */
    private static long trailingLength(Shape big, Shape small) {
        int s = 0;
        while (s < small.rank() && small.dim(s) == 1) s++;
        int off = big.rank() - small.rank();
        for (int i = s; i < small.rank(); i++) if (small.dim(i) != big.dim(off + i)) return -1;
        return small.numel();
    }

    private interface Binary { float apply(float x, float y); }

    private void broadcastBinary(String op, Tensor a, Tensor b, Tensor out, Binary f, boolean isAdd, float alpha) {
        Checks.broadcasts(op, a, b);
        Checks.sameShape(op, a, out);
        float[] x = floats(a), y = floats(b), o = floats(out);
        int n = x.length;
        if (b.numel() == a.numel()) {
            if (isAdd) Parallel.forRange(n, 1, (s, e) -> { for (int i = s; i < e; i++) o[i] = x[i] + alpha * y[i]; });
            else Parallel.forRange(n, 1, (s, e) -> { for (int i = s; i < e; i++) o[i] = x[i] * y[i]; });
            return;
        }
        if (n == 0) return;
        long tl = trailingLength(a.shape(), b.shape());
        if (tl > 0) {
            int len = (int) tl, rows = n / len;
            Parallel.forRange(rows, len, (s, e) -> {
                for (int r = s; r < e; r++) {
                    int base = r * len;
                    if (isAdd) for (int j = 0; j < len; j++) o[base + j] = x[base + j] + alpha * y[j];
                    else for (int j = 0; j < len; j++) o[base + j] = x[base + j] * y[j];
                }
            });
            return;
        }
        // General: iterate rows of a's last dimension; b's offset follows its broadcast strides.
        Shape sh = a.shape();
        int rank = sh.rank();
        long[] bs = broadcastStrides(sh, b.shape());
        int last = sh.dim(rank - 1);
        long bLast = bs[rank - 1];
        int rows = n / last;
        int[] dims = sh.dims();
        Parallel.forRange(rows, last, (s, e) -> {
            int[] idx = new int[rank];
            unravel(s, dims, rank - 1, idx);
            for (int r = s; r < e; r++) {
                long bo = 0;
                for (int i = 0; i < rank - 1; i++) bo += idx[i] * bs[i];
                int base = r * last;
                if (bLast == 0) {
                    float yv = y[(int) bo];
                    for (int j = 0; j < last; j++) o[base + j] = f.apply(x[base + j], yv);
                } else {
                    int bb = (int) bo;
                    for (int j = 0; j < last; j++) o[base + j] = f.apply(x[base + j], y[bb + j]);
                }
                increment(idx, dims, rank - 1);
            }
        });
    }

    /** idx[0..count) = multi-index of flat row r over dims[0..count). */
    private static void unravel(long r, int[] dims, int count, int[] idx) {
        for (int i = count - 1; i >= 0; i--) {
            idx[i] = (int) (r % dims[i]);
            r /= dims[i];
        }
    }

    private static void increment(int[] idx, int[] dims, int count) {
        for (int i = count - 1; i >= 0; i--) {
            if (++idx[i] < dims[i]) return;
            idx[i] = 0;
        }
    }

    @Override public void add(Tensor a, Tensor b, float alpha, Tensor out) {
        broadcastBinary("add", a, b, out, (u, w) -> u + alpha * w, true, alpha);
    }

    @Override public void mul(Tensor a, Tensor b, Tensor out) {
        broadcastBinary("mul", a, b, out, (u, w) -> u * w, false, 1f);
    }

    @Override public void scale(Tensor x, float alpha, Tensor out) {
        Checks.sameNumel("scale", x, out);
        float[] a = floats(x), o = floats(out);
        Parallel.forRange(a.length, 1, (s, e) -> { for (int i = s; i < e; i++) o[i] = alpha * a[i]; });
    }

    @Override public void axpy(float alpha, Tensor x, Tensor y) {
        Checks.sameNumel("axpy", x, y);
        float[] a = floats(x), o = floats(y);
        Parallel.forRange(a.length, 1, (s, e) -> { for (int i = s; i < e; i++) o[i] += alpha * a[i]; });
    }

    @Override public void sumTo(Tensor x, Tensor out) {
        Checks.broadcasts("sumTo", x, out);
        float[] a = floats(x), o = floats(out);
        if (a == o) throw Checks.error("sumTo", "out must not be x", x, out);
        int n = a.length;
        if (out.numel() == x.numel()) { System.arraycopy(a, 0, o, 0, n); return; }
        if (out.numel() == 0) return;
        if (n == 0) { Arrays.fill(o, 0f); return; }
        long tl = trailingLength(x.shape(), out.shape());
        if (tl > 0) {
            int len = (int) tl, rows = n / len;
            int chunks = (int) Math.max(1, Math.min(Parallel.THREADS, (long) n / Parallel.MIN_WORK));
            double[][] part = new double[chunks][];
            Parallel.forChunks(rows, chunks, (Parallel.Chunk) (id, s, e) -> {
                double[] acc = new double[len];
                for (int r = s; r < e; r++) {
                    int base = r * len;
                    for (int j = 0; j < len; j++) acc[j] += a[base + j];
                }
                part[id] = acc;
            });
            for (int j = 0; j < len; j++) {
                double sum = 0;
                for (double[] p : part) if (p != null) sum += p[j];
                o[j] = (float) sum;
            }
            return;
        }
        Shape sh = x.shape();
        int rank = sh.rank();
        long[] os = broadcastStrides(sh, out.shape());
        double[] acc = new double[o.length];
        int[] idx = new int[rank];
        int[] dims = sh.dims();
        for (int i = 0; i < n; i++) {
            long oo = 0;
            for (int d = 0; d < rank; d++) oo += idx[d] * os[d];
            acc[(int) oo] += a[i];
            increment(idx, dims, rank);
        }
        for (int i = 0; i < o.length; i++) o[i] = (float) acc[i];
    }

    /** Sum of f over all elements in double, in parallel chunks. */
    private static double reduceDouble(float[] a, boolean squares) {
        int n = a.length;
        int chunks = (int) Math.max(1, Math.min(Parallel.THREADS * 4L, n / (4 * Parallel.MIN_WORK)));
        double[] part = new double[chunks];
        Parallel.forChunks(n, chunks, (Parallel.Chunk) (id, s, e) -> {
            double sum = 0;
            // blocks of float partial sums keep the inner loop fast; each block is added in double
            for (int i0 = s; i0 < e; i0 += 256) {
                int i1 = Math.min(e, i0 + 256);
                double blk = 0;
                if (squares) for (int i = i0; i < i1; i++) blk += (double) a[i] * a[i];
                else for (int i = i0; i < i1; i++) blk += a[i];
                sum += blk;
            }
            part[id] = sum;
        });
        double total = 0;
        for (double p : part) total += p;
        return total;
    }

    @Override public void sumAll(Tensor x, Tensor out) {
        if (out.numel() != 1) throw Checks.error("sumAll", "out must have one element, got", out);
        floats(out)[0] = (float) reduceDouble(floats(x), false);
    }

    @Override public double sumSquares(Tensor x) { return reduceDouble(floats(x), true); }

    private static final double INV_SQRT2 = 1.0 / Math.sqrt(2.0);
    private static final double INV_SQRT_2PI = 1.0 / Math.sqrt(2.0 * Math.PI);

    @Override public void gelu(Tensor x, Tensor out) {
        Checks.sameShape("gelu", x, out);
        float[] a = floats(x), o = floats(out);
        Parallel.forRange(a.length, 20, (s, e) -> {
            for (int i = s; i < e; i++) {
                double v = a[i], av = Math.abs(v);
                // x·Φ(x) = (x + |x|·erf(|x|/√2)) / 2
                o[i] = (float) (0.5 * (v + av * Erf.erfAbs(av * INV_SQRT2)));
            }
        });
    }

    @Override public void geluBackward(Tensor x, Tensor gy, Tensor gx) {
        Checks.sameShape("geluBackward", x, gy);
        Checks.sameShape("geluBackward", x, gx);
        float[] a = floats(x), g = floats(gy), o = floats(gx);
        Parallel.forRange(a.length, 30, (s, e) -> {
            for (int i = s; i < e; i++) {
                double v = a[i];
                double av = Math.abs(v);
                // GELU'(x) = Φ(x) + x·φ(x)
                double erfv = Erf.erfAbs(av * INV_SQRT2);
                double cdf = 0.5 + 0.5 * Math.copySign(erfv, v);
                double pdf = INV_SQRT_2PI * FastExp.exp((float) (-0.5 * v * v));
                o[i] = (float) (g[i] * (cdf + v * pdf));
            }
        });
    }

    @Override public void relu(Tensor x, Tensor out) {
        Checks.sameShape("relu", x, out);
        float[] a = floats(x), o = floats(out);
        Parallel.forRange(a.length, 1, (s, e) -> { for (int i = s; i < e; i++) o[i] = a[i] > 0f ? a[i] : 0f; });
    }

    @Override public void reluBackward(Tensor x, Tensor gy, Tensor gx) {
        Checks.sameShape("reluBackward", x, gy);
        Checks.sameShape("reluBackward", x, gx);
        float[] a = floats(x), g = floats(gy), o = floats(gx);
        Parallel.forRange(a.length, 1, (s, e) -> { for (int i = s; i < e; i++) o[i] = a[i] > 0f ? g[i] : 0f; });
    }

    private static int swigluHidden(String op, Tensor x12, Tensor half) {
        if (x12.rank() < 1 || half.rank() != x12.rank() || x12.dim(-1) != 2 * half.dim(-1)
                || !x12.shape().with(-1, half.dim(-1)).equals(half.shape()))
            throw Checks.error(op, "expected x12 [..., 2H] and [..., H], got", x12, half);
        return half.dim(-1);
    }

    @Override public void swiglu(Tensor x12, Tensor out) {
        int h = swigluHidden("swiglu", x12, out);
        float[] a = floats(x12), o = floats(out);
        if (a == o) throw Checks.error("swiglu", "out must not be x12", x12, out);
        int rows = h == 0 ? 0 : o.length / h;
        Parallel.forRange(rows, 10L * h, (s, e) -> {
            for (int r = s; r < e; r++) {
                int xi = r * 2 * h, oi = r * h;
                for (int j = 0; j < h; j++) {
                    float x1 = a[xi + j], x2 = a[xi + h + j];
                    o[oi + j] = (float) (x1 / (1.0 + Math.exp(-x1))) * x2;
                }
            }
        });
    }

    @Override public void swigluBackward(Tensor x12, Tensor gy, Tensor gx12) {
        int h = swigluHidden("swigluBackward", x12, gy);
        Checks.sameShape("swigluBackward", x12, gx12);
        float[] a = floats(x12), g = floats(gy), o = floats(gx12);
        int rows = h == 0 ? 0 : g.length / h;
        Parallel.forRange(rows, 12L * h, (s, e) -> {
            for (int r = s; r < e; r++) {
                int xi = r * 2 * h, gi = r * h;
                for (int j = 0; j < h; j++) {
                    double x1 = a[xi + j], x2 = a[xi + h + j], gv = g[gi + j];
                    double sig = 1.0 / (1.0 + Math.exp(-x1));
                    double silu = x1 * sig;
                    o[xi + j] = (float) (gv * x2 * sig * (1.0 + x1 * (1.0 - sig)));
                    o[xi + h + j] = (float) (gv * silu);
                }
            }
        });
    }

    @Override public void softmax(Tensor x, int axis, Tensor out) {
        Checks.sameShape("softmax", x, out);
        int ax = x.shape().axis(axis);
        float[] a = floats(x), o = floats(out);
        int k = x.dim(ax);
        int outer = (int) x.shape().prod(0, ax), inner = (int) x.shape().prod(ax + 1, x.rank());
        if (k == 0 || a.length == 0) return;
        if (inner == 1) {
            Parallel.forRange(outer, 8L * k, (s, e) -> {
                for (int r = s; r < e; r++) {
                    int base = r * k;
                    float mx = Float.NEGATIVE_INFINITY;
                    for (int j = 0; j < k; j++) mx = Math.max(mx, a[base + j]);
                    double sum = 0;
                    for (int j = 0; j < k; j++) {
                        float ev = (float) Math.exp(a[base + j] - mx);
                        o[base + j] = ev;
                        sum += ev;
                    }
                    float inv = (float) (1.0 / sum);
                    for (int j = 0; j < k; j++) o[base + j] *= inv;
                }
            });
            return;
        }
        // strided: split each outer slab's inner positions into chunks
        final int chunk = 256;
        int innerChunks = (inner + chunk - 1) / chunk;
        Parallel.forRange(outer * innerChunks, 8L * k * Math.min(inner, chunk), (s, e) -> {
            float[] mx = new float[chunk];
            double[] sum = new double[chunk];
            for (int t = s; t < e; t++) {
                int r = t / innerChunks, i0 = (t % innerChunks) * chunk, i1 = Math.min(inner, i0 + chunk), w = i1 - i0;
                int base = r * k * inner + i0;
                Arrays.fill(mx, 0, w, Float.NEGATIVE_INFINITY);
                Arrays.fill(sum, 0, w, 0.0);
                for (int j = 0; j < k; j++) {
                    int row = base + j * inner;
                    for (int i = 0; i < w; i++) mx[i] = Math.max(mx[i], a[row + i]);
                }
                for (int j = 0; j < k; j++) {
                    int row = base + j * inner;
                    for (int i = 0; i < w; i++) {
                        float ev = (float) Math.exp(a[row + i] - mx[i]);
                        o[row + i] = ev;
                        sum[i] += ev;
                    }
                }
                for (int j = 0; j < k; j++) {
                    int row = base + j * inner;
                    for (int i = 0; i < w; i++) o[row + i] = (float) (o[row + i] / sum[i]);
                }
            }
        });
    }

    @Override public void argmax(Tensor x, Tensor out) {
        if (x.rank() < 2) throw Checks.error("argmax", "x must be [B, K, ...], got", x);
        int[] od = new int[x.rank() - 1];
        od[0] = x.dim(0);
        for (int i = 2; i < x.rank(); i++) od[i - 1] = x.dim(i);
        Checks.shape("argmax", "out", out, Shape.of(od));
        float[] a = floats(x);
        int[] o = ints(out);
        int b = x.dim(0), k = x.dim(1), inner = (int) x.shape().prod(2, x.rank());
        if (k == 0) throw Checks.error("argmax", "no classes in", x);
        Parallel.forRange(b * inner, k, (s, e) -> {
            for (int t = s; t < e; t++) {
                int bi = t / inner, i = t % inner;
                int base = bi * k * inner + i;
                float best = a[base];
                int arg = 0;
                for (int j = 1; j < k; j++) {
                    float v = a[base + j * inner];
                    if (v > best || (Float.isNaN(v) && !Float.isNaN(best))) { best = v; arg = j; }
                }
                o[t] = arg;
            }
        });
    }

    @Override public void flipLastDim(Tensor x, Tensor out) {
        Checks.sameShape("flipLastDim", x, out);
        if (x.rank() < 1) throw Checks.error("flipLastDim", "needs rank >= 1, got", x);
        if (x.dtype() != out.dtype()) throw Checks.error("flipLastDim", "dtypes differ", x, out);
        if (x.storage() == out.storage()) throw Checks.error("flipLastDim", "out must not be x", x, out);
        int w = x.dim(-1);
        if (w == 0 || x.numel() == 0) return;
        int rows = (int) (x.numel() / w);
        if (x.dtype() == DType.F32) {
            float[] a = floats(x), o = floats(out);
            Parallel.forRange(rows, w, (s, e) -> {
                for (int r = s; r < e; r++) {
                    int base = r * w, last = base + w - 1;
                    for (int j = 0; j < w; j++) o[base + j] = a[last - j];
                }
            });
        } else {
            int[] a = ints(x), o = ints(out);
            Parallel.forRange(rows, w, (s, e) -> {
                for (int r = s; r < e; r++) {
                    int base = r * w, last = base + w - 1;
                    for (int j = 0; j < w; j++) o[base + j] = a[last - j];
                }
            });
        }
    }

    // ------------------------------------------------------------------ normalisation

    @Override public void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        String op = "layerNorm";
        if (x.rank() < 1) throw Checks.error(op, "x needs rank >= 1, got", x);
        Checks.sameShape(op, x, y);
        int c = x.dim(-1);
        int rows = c == 0 ? 0 : (int) (x.numel() / c);
        if (gamma != null) Checks.shape(op, "gamma", gamma, Shape.of(c));
        if (beta != null) Checks.shape(op, "beta", beta, Shape.of(c));
        if (mean.numel() != rows || rstd.numel() != rows)
            throw Checks.error(op, "mean/rstd must hold " + rows + " rows for x", x, mean, rstd);
        float[] a = floats(x), o = floats(y), mu = floats(mean), rs = floats(rstd);
        float[] g = gamma == null ? null : floats(gamma), bt = beta == null ? null : floats(beta);
        Parallel.forRange(rows, 6L * c, (s, e) -> {
            for (int r = s; r < e; r++) {
                int base = r * c;
                double sum = 0;
                for (int j = 0; j < c; j++) sum += a[base + j];
                double m = sum / c;
                double sq = 0;
                for (int j = 0; j < c; j++) { double dv = a[base + j] - m; sq += dv * dv; }
                double rsd = 1.0 / Math.sqrt(sq / c + eps);
                mu[r] = (float) m;
                rs[r] = (float) rsd;
                for (int j = 0; j < c; j++) {
                    float v = (float) ((a[base + j] - m) * rsd);
                    if (g != null) v *= g[j];
                    if (bt != null) v += bt[j];
                    o[base + j] = v;
                }
            }
        });
    }

    @Override public void layerNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd,
                                            Tensor gx, Tensor ggamma, Tensor gbeta) {
        String op = "layerNormBackward";
        Checks.sameShape(op, gy, x);
        Checks.sameShape(op, gx, x);
        int c = x.dim(-1);
        int rows = c == 0 ? 0 : (int) (x.numel() / c);
        if (gamma != null) Checks.shape(op, "gamma", gamma, Shape.of(c));
        if (ggamma != null) Checks.shape(op, "ggamma", ggamma, Shape.of(c));
        if (gbeta != null) Checks.shape(op, "gbeta", gbeta, Shape.of(c));
        if (mean.numel() != rows || rstd.numel() != rows)
            throw Checks.error(op, "mean/rstd must hold " + rows + " rows for x", x, mean, rstd);
        float[] g = floats(gy), a = floats(x), mu = floats(mean), rs = floats(rstd), o = floats(gx);
        float[] gm = gamma == null ? null : floats(gamma);
        boolean wantParams = ggamma != null || gbeta != null;
        int chunks = wantParams ? (int) Math.max(1, Math.min(Parallel.THREADS, (long) rows * c / Parallel.MIN_WORK)) : 1;
        double[][] pg = new double[chunks][], pb = new double[chunks][];
        Parallel.Chunk body = (id, s, e) -> {
            double[] accG = wantParams ? new double[c] : null, accB = wantParams ? new double[c] : null;
            for (int r = s; r < e; r++) {
                int base = r * c;
                float m = mu[r], rsd = rs[r];
                double sumD = 0, sumDX = 0;
                for (int j = 0; j < c; j++) {
                    float xh = (a[base + j] - m) * rsd;
                    float gv = g[base + j];
                    float d = gm == null ? gv : gv * gm[j];
                    sumD += d;
                    sumDX += d * xh;
                    if (wantParams) { accG[j] += gv * xh; accB[j] += gv; }
                }
                float meanD = (float) (sumD / c), meanDX = (float) (sumDX / c);
                for (int j = 0; j < c; j++) {
                    float xh = (a[base + j] - m) * rsd;
                    float d = gm == null ? g[base + j] : g[base + j] * gm[j];
                    o[base + j] = rsd * (d - meanD - xh * meanDX);
                }
            }
            if (wantParams) {
                pg[id] = accG;
                pb[id] = accB;
            }
        };
        if (!wantParams) Parallel.forRange(rows, 8L * c, (s, e) -> body.run(0, s, e));
        else Parallel.forChunks(rows, chunks, body);
        if (ggamma != null) reduceInto(pg, floats(ggamma), c);
        if (gbeta != null) reduceInto(pb, floats(gbeta), c);
    }

    private static void reduceInto(double[][] parts, float[] dst, int c) {
        for (int j = 0; j < c; j++) {
            double s = 0;
            for (double[] p : parts) if (p != null) s += p[j];
            dst[j] = (float) s;
        }
    }

    private static void checkBatchNorm(String op, Tensor x, Tensor... perChannel) {
        Checks.rank(op, "x", x, 4);
        Shape c = Shape.of(x.dim(1));
        for (Tensor t : perChannel) if (t != null) Checks.shape(op, "per-channel tensor", t, c);
    }

    @Override public void batchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                    boolean training, float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveRstd) {
        String op = "batchNorm";
        checkBatchNorm(op, x, gamma, beta, runningMean, runningVar, saveMean, saveRstd);
        Checks.sameShape(op, x, y);
        int b = x.dim(0), ch = x.dim(1), hw = x.dim(2) * x.dim(3);
        long count = (long) b * hw;
        if (training && count == 0) throw Checks.error(op, "no values per channel in training mode", x);
        float[] a = floats(x), o = floats(y);
        float[] g = gamma == null ? null : floats(gamma), bt = beta == null ? null : floats(beta);
        float[] rm = runningMean == null ? null : floats(runningMean), rv = runningVar == null ? null : floats(runningVar);
        if (!training && (rm == null || rv == null)) throw Checks.error(op, "eval mode needs running statistics for", x);
        float[] sm = saveMean == null ? null : floats(saveMean), sr = saveRstd == null ? null : floats(saveRstd);
        Parallel.forRange(ch, 6L * count, (s, e) -> {
            for (int c = s; c < e; c++) {
                double m, rsd;
                if (training) {
                    double sum = 0;
                    for (int bi = 0; bi < b; bi++) {
                        int base = (bi * ch + c) * hw;
                        for (int i = 0; i < hw; i++) sum += a[base + i];
                    }
                    m = sum / count;
                    double sq = 0;
                    for (int bi = 0; bi < b; bi++) {
                        int base = (bi * ch + c) * hw;
                        for (int i = 0; i < hw; i++) { double dv = a[base + i] - m; sq += dv * dv; }
                    }
                    double var = sq / count;
                    rsd = 1.0 / Math.sqrt(var + eps);
                    if (rm != null) rm[c] = (float) ((1 - momentum) * rm[c] + momentum * m);
                    if (rv != null) {
                        double unbiased = count > 1 ? sq / (count - 1) : var;
                        rv[c] = (float) ((1 - momentum) * rv[c] + momentum * unbiased);
                    }
                } else {
                    m = rm[c];
                    rsd = 1.0 / Math.sqrt(rv[c] + (double) eps);
                }
                if (sm != null) sm[c] = (float) m;
                if (sr != null) sr[c] = (float) rsd;
                float sc = (float) (rsd * (g == null ? 1.0 : g[c]));
                float sh = (float) ((bt == null ? 0.0 : bt[c]) - m * rsd * (g == null ? 1.0 : g[c]));
                for (int bi = 0; bi < b; bi++) {
                    int base = (bi * ch + c) * hw;
                    for (int i = 0; i < hw; i++) o[base + i] = a[base + i] * sc + sh;
                }
            }
        });
    }

    @Override public void batchNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor saveMean, Tensor saveRstd,
                                            boolean training, Tensor gx, Tensor ggamma, Tensor gbeta) {
        String op = "batchNormBackward";
        checkBatchNorm(op, x, gamma, saveMean, saveRstd, ggamma, gbeta);
        Checks.sameShape(op, gy, x);
        Checks.sameShape(op, gx, x);
        int b = x.dim(0), ch = x.dim(1), hw = x.dim(2) * x.dim(3);
        long count = (long) b * hw;
        float[] g = floats(gy), a = floats(x), o = floats(gx);
        float[] gm = gamma == null ? null : floats(gamma);
        float[] sm = floats(saveMean), sr = floats(saveRstd);
        float[] gg = ggamma == null ? null : floats(ggamma), gb = gbeta == null ? null : floats(gbeta);
        Parallel.forRange(ch, 8L * count, (s, e) -> {
            for (int c = s; c < e; c++) {
                double m = sm[c], rsd = sr[c], w = gm == null ? 1.0 : gm[c];
                double sumG = 0, sumGX = 0;
                for (int bi = 0; bi < b; bi++) {
                    int base = (bi * ch + c) * hw;
                    for (int i = 0; i < hw; i++) {
                        double gv = g[base + i];
                        sumG += gv;
                        sumGX += gv * (a[base + i] - m) * rsd;
                    }
                }
                if (gg != null) gg[c] = (float) sumGX;
                if (gb != null) gb[c] = (float) sumG;
                if (training) {
                    double meanG = sumG / count, meanGX = sumGX / count;
                    for (int bi = 0; bi < b; bi++) {
                        int base = (bi * ch + c) * hw;
                        for (int i = 0; i < hw; i++) {
                            double xh = (a[base + i] - m) * rsd;
                            o[base + i] = (float) (w * rsd * (g[base + i] - meanG - xh * meanGX));
                        }
                    }
                } else {
                    float f = (float) (w * rsd);
                    for (int bi = 0; bi < b; bi++) {
                        int base = (bi * ch + c) * hw;
                        for (int i = 0; i < hw; i++) o[base + i] = g[base + i] * f;
                    }
                }
            }
        });
    }

    // ------------------------------------------------------------------ attention

    private static int[] checkAttention(String op, Tensor qkv, int heads, Tensor out, Tensor lse) {
        Checks.rank(op, "qkv", qkv, 3);
        Checks.check(heads > 0, op, "heads must be positive, got " + heads);
        int b = qkv.dim(0), n = qkv.dim(1), w = qkv.dim(2);
        if (w % (3 * heads) != 0) throw Checks.error(op, "qkv's last dimension is not 3*heads*D for heads=" + heads + ":", qkv);
        int d = w / (3 * heads);
        Checks.shape(op, "out", out, Shape.of(b, n, heads * d));
        if (lse != null) Checks.shape(op, "lse", lse, Shape.of(b, heads, n));
        return new int[] {b, n, d};
    }

    @Override public void attention(Tensor qkv, int heads, float scale, Tensor out, Tensor lse) {
        int[] s = checkAttention("attention", qkv, heads, out, lse);
        if (s[0] * s[1] * s[2] == 0) return;
        CpuAttention.forward(floats(qkv), s[0], s[1], heads, s[2], scale, floats(out), lse == null ? null : floats(lse));
    }

    @Override public void attentionBackward(Tensor qkv, Tensor out, Tensor lse, Tensor gout, int heads, float scale, Tensor gqkv) {
        String op = "attentionBackward";
        int[] s = checkAttention(op, qkv, heads, out, lse);
        if (lse == null) throw Checks.error(op, "lse is required", qkv);
        Checks.sameShape(op, out, gout);
        Checks.sameShape(op, qkv, gqkv);
        if (s[0] * s[1] * s[2] == 0) { Arrays.fill(floats(gqkv), 0f); return; }
        CpuAttention.backward(floats(qkv), floats(out), floats(lse), floats(gout), s[0], s[1], heads, s[2], scale, floats(gqkv));
    }

    // ------------------------------------------------------------------ convolution helpers

    private static int[] convGeometry(String op, Tensor x, int kh, int kw, int stride, int pad, Tensor cols) {
        Checks.rank(op, "image", x, 4);
        Checks.check(kh > 0 && kw > 0 && stride > 0 && pad >= 0, op,
                "invalid kernel " + kh + "x" + kw + ", stride " + stride + ", pad " + pad);
        int b = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
        int oh = (h + 2 * pad - kh) / stride + 1, ow = (w + 2 * pad - kw) / stride + 1;
        if (h + 2 * pad < kh || w + 2 * pad < kw)
            throw Checks.error(op, "kernel " + kh + "x" + kw + " larger than padded image", x);
        Checks.shape(op, "cols", cols, Shape.of(b, oh * ow, c * kh * kw));
        return new int[] {b, c, h, w, oh, ow};
    }

    @Override public void im2col(Tensor x, int kh, int kw, int stride, int pad, Tensor cols) {
        int[] g = convGeometry("im2col", x, kh, kw, stride, pad, cols);
        int b = g[0], c = g[1], h = g[2], w = g[3], oh = g[4], ow = g[5];
        float[] a = floats(x), o = floats(cols);
        int rowLen = c * kh * kw;
        Parallel.forRange(b * oh, (long) ow * rowLen, (s, e) -> {
            for (int t = s; t < e; t++) {
                int bi = t / oh, oy = t % oh;
                for (int ox = 0; ox < ow; ox++) {
                    int dst = ((bi * oh + oy) * ow + ox) * rowLen;
                    for (int ci = 0; ci < c; ci++) {
                        int plane = (bi * c + ci) * h * w;
                        for (int ky = 0; ky < kh; ky++) {
                            int iy = oy * stride - pad + ky;
                            int d = dst + (ci * kh + ky) * kw;
                            if (iy < 0 || iy >= h) { Arrays.fill(o, d, d + kw, 0f); continue; }
                            int rowBase = plane + iy * w;
                            int ix0 = ox * stride - pad;
                            if (ix0 >= 0 && ix0 + kw <= w) System.arraycopy(a, rowBase + ix0, o, d, kw);
                            else for (int kx = 0; kx < kw; kx++) {
                                int ix = ix0 + kx;
                                o[d + kx] = ix >= 0 && ix < w ? a[rowBase + ix] : 0f;
                            }
                        }
                    }
                }
            }
        });
    }

    @Override public void col2im(Tensor cols, int kh, int kw, int stride, int pad, Tensor gx) {
        int[] g = convGeometry("col2im", gx, kh, kw, stride, pad, cols);
        int b = g[0], c = g[1], h = g[2], w = g[3], oh = g[4], ow = g[5];
        float[] a = floats(cols), o = floats(gx);
        int rowLen = c * kh * kw;
        Parallel.forRange(b * c, (long) oh * ow * kh * kw, (s, e) -> {
            for (int t = s; t < e; t++) {
                int bi = t / c, ci = t % c;
                int plane = t * h * w;
                Arrays.fill(o, plane, plane + h * w, 0f);
                for (int oy = 0; oy < oh; oy++) {
                    for (int ox = 0; ox < ow; ox++) {
                        int src = ((bi * oh + oy) * ow + ox) * rowLen + ci * kh * kw;
                        for (int ky = 0; ky < kh; ky++) {
                            int iy = oy * stride - pad + ky;
                            if (iy < 0 || iy >= h) continue;
                            int rowBase = plane + iy * w;
                            for (int kx = 0; kx < kw; kx++) {
                                int ix = ox * stride - pad + kx;
                                if (ix >= 0 && ix < w) o[rowBase + ix] += a[src + ky * kw + kx];
                            }
                        }
                    }
                }
            }
        });
    }

    // ------------------------------------------------------------------ layout

    @Override public void copyBlocks(Tensor src, long srcOff, long srcStride, Tensor dst, long dstOff, long dstStride,
                                     int rows, long rowLen, boolean accumulate) {
        String op = "copyBlocks";
        if (src.dtype() != dst.dtype()) throw Checks.error(op, "dtypes differ", src, dst);
        if (rows == 0 || rowLen == 0) return;
        Checks.check(rows > 0 && rowLen > 0 && srcOff >= 0 && dstOff >= 0 && srcStride >= 0 && dstStride >= 0, op,
                "invalid block geometry rows=" + rows + " rowLen=" + rowLen);
        long srcEnd = srcOff + (rows - 1) * srcStride + rowLen, dstEnd = dstOff + (rows - 1) * dstStride + rowLen;
        if (srcEnd > src.numel() || dstEnd > dst.numel())
            throw Checks.error(op, rows + " blocks of " + rowLen + " (src offset " + srcOff + " stride " + srcStride
                    + ", dst offset " + dstOff + " stride " + dstStride + ") exceed", src, dst);
        int len = (int) rowLen;
        if (src.dtype() == DType.I32) {
            int[] s = ints(src), d = ints(dst);
            Parallel.forRange(rows, len, (a, e) -> {
                for (int r = a; r < e; r++) {
                    int so = (int) (srcOff + r * srcStride), dO = (int) (dstOff + r * dstStride);
                    if (accumulate) for (int j = 0; j < len; j++) d[dO + j] += s[so + j];
                    else System.arraycopy(s, so, d, dO, len);
                }
            });
            return;
        }
        float[] s = floats(src), d = floats(dst);
        Parallel.forRange(rows, len, (a, e) -> {
            for (int r = a; r < e; r++) {
                int so = (int) (srcOff + r * srcStride), dO = (int) (dstOff + r * dstStride);
                if (accumulate) for (int j = 0; j < len; j++) d[dO + j] += s[so + j];
                else System.arraycopy(s, so, d, dO, len);
            }
        });
    }

    @Override public void permute(Tensor x, int[] perm, Tensor out) {
        String op = "permute";
        int rank = x.rank();
        if (perm.length != rank) throw Checks.error(op, "permutation " + Arrays.toString(perm) + " does not match rank of", x);
        boolean[] seen = new boolean[rank];
        int[] od = new int[rank];
        for (int i = 0; i < rank; i++) {
            int p = perm[i];
            if (p < 0 || p >= rank || seen[p]) throw Checks.error(op, "invalid permutation " + Arrays.toString(perm) + " for", x);
            seen[p] = true;
            od[i] = x.dim(p);
        }
        Checks.shape(op, "out", out, Shape.of(od));
        if (x.dtype() != out.dtype()) throw Checks.error(op, "dtypes differ", x, out);
        if (x.numel() == 0) return;
        if (x.storage() == out.storage()) throw Checks.error(op, "out must not be x", x, out);
        long[] xs = x.shape().strides();
        long[] ps = new long[rank];
        for (int i = 0; i < rank; i++) ps[i] = xs[perm[i]];
        if (rank == 0) { copy(x, out); return; }
        int last = od[rank - 1];
        long lastStride = ps[rank - 1];
        int rows = (int) (x.numel() / last);
        boolean isFloat = x.dtype() == DType.F32;
        float[] fa = isFloat ? floats(x) : null, fo = isFloat ? floats(out) : null;
        int[] ia = isFloat ? null : ints(x), io = isFloat ? null : ints(out);
        Parallel.forRange(rows, last, (s, e) -> {
            int[] idx = new int[rank];
            unravel(s, od, rank - 1, idx);
            for (int r = s; r < e; r++) {
                long src = 0;
                for (int i = 0; i < rank - 1; i++) src += idx[i] * ps[i];
                int dst = r * last;
                int si = (int) src;
                if (lastStride == 1) {
                    if (isFloat) System.arraycopy(fa, si, fo, dst, last);
                    else System.arraycopy(ia, si, io, dst, last);
                } else {
                    int st = (int) lastStride;
                    if (isFloat) for (int j = 0; j < last; j++) fo[dst + j] = fa[si + j * st];
                    else for (int j = 0; j < last; j++) io[dst + j] = ia[si + j * st];
                }
                increment(idx, od, rank - 1);
            }
        });
    }

    // ------------------------------------------------------------------ resampling

    /**
     * Source indices and weights along one axis, as PyTorch computes them in float:
     * src = max(scale*(dst+0.5)-0.5, 0), i0 = floor(src), i1 = i0 + (i0 < in-1), w1 = src - i0.
     */
    private static void axisWeights(int in, int outSize, int[] i0, int[] i1, float[] w0, float[] w1) {
        float scale = (float) in / outSize;
        for (int d = 0; d < outSize; d++) {
            float src = scale * (d + 0.5f) - 0.5f;
            if (src < 0f) src = 0f;
            int lo = Math.min((int) src, in - 1);
            int hi = lo + (lo < in - 1 ? 1 : 0);
            float l1 = Math.min(Math.max(src - lo, 0f), 1f);
            i0[d] = lo;
            i1[d] = hi;
            w1[d] = l1;
            w0[d] = 1f - l1;
        }
    }

    private static int[] resizeShapes(String op, Tensor x, Tensor out) {
        Checks.rank(op, "input", x, 4);
        Checks.rank(op, "output", out, 4);
        if (x.dim(0) != out.dim(0) || x.dim(1) != out.dim(1))
            throw Checks.error(op, "batch and channels must match:", x, out);
        if ((x.dim(2) == 0 || x.dim(3) == 0) && out.numel() > 0)
            throw Checks.error(op, "empty input cannot be resized:", x, out);
        return new int[] {x.dim(0) * x.dim(1), x.dim(2), x.dim(3), out.dim(2), out.dim(3)};
    }

    @Override public void resizeBilinear(Tensor x, Tensor out) {
        int[] g = resizeShapes("resizeBilinear", x, out);
        int planes = g[0], h = g[1], w = g[2], oh = g[3], ow = g[4];
        if (out.numel() == 0) return;
        float[] a = floats(x), o = floats(out);
        int[] y0 = new int[oh], y1 = new int[oh], x0 = new int[ow], x1 = new int[ow];
        float[] wy0 = new float[oh], wy1 = new float[oh], wx0 = new float[ow], wx1 = new float[ow];
        axisWeights(h, oh, y0, y1, wy0, wy1);
        axisWeights(w, ow, x0, x1, wx0, wx1);
        Parallel.forRange(planes * oh, 8L * ow, (s, e) -> {
            for (int t = s; t < e; t++) {
                int p = t / oh, oy = t % oh;
                int src = p * h * w, r0 = src + y0[oy] * w, r1 = src + y1[oy] * w;
                float h0 = wy0[oy], h1 = wy1[oy];
                int dst = t * ow;
                for (int ox = 0; ox < ow; ox++) {
                    int c0 = x0[ox], c1 = x1[ox];
                    o[dst + ox] = h0 * (wx0[ox] * a[r0 + c0] + wx1[ox] * a[r0 + c1])
                            + h1 * (wx0[ox] * a[r1 + c0] + wx1[ox] * a[r1 + c1]);
                }
            }
        });
    }

    @Override public void resizeBilinearBackward(Tensor gout, Tensor gx) {
        int[] g = resizeShapes("resizeBilinearBackward", gx, gout);
        int planes = g[0], h = g[1], w = g[2], oh = g[3], ow = g[4];
        float[] a = floats(gout), o = floats(gx);
        int[] y0 = new int[oh], y1 = new int[oh], x0 = new int[ow], x1 = new int[ow];
        float[] wy0 = new float[oh], wy1 = new float[oh], wx0 = new float[ow], wx1 = new float[ow];
        if (gout.numel() > 0) {
            axisWeights(h, oh, y0, y1, wy0, wy1);
            axisWeights(w, ow, x0, x1, wx0, wx1);
        }
        Parallel.forRange(planes, 8L * oh * ow, (s, e) -> {
            for (int p = s; p < e; p++) {
                int base = p * h * w;
                Arrays.fill(o, base, base + h * w, 0f);
                for (int oy = 0; oy < oh; oy++) {
                    int r0 = base + y0[oy] * w, r1 = base + y1[oy] * w;
                    float h0 = wy0[oy], h1 = wy1[oy];
                    int src = (p * oh + oy) * ow;
                    for (int ox = 0; ox < ow; ox++) {
                        float gv = a[src + ox];
                        int c0 = x0[ox], c1 = x1[ox];
                        o[r0 + c0] += h0 * wx0[ox] * gv;
                        o[r0 + c1] += h0 * wx1[ox] * gv;
                        o[r1 + c0] += h1 * wx0[ox] * gv;
                        o[r1 + c1] += h1 * wx1[ox] * gv;
                    }
                }
            }
        });
    }

    // ------------------------------------------------------------------ loss

    @Override public void softmaxCrossEntropy(Tensor logits, Tensor labels, Tensor classWeights, int ignoreIndex,
                                              Tensor loss, Tensor glogits) {
        String op = "softmaxCrossEntropy";
        if (logits.rank() < 2) throw Checks.error(op, "logits must be [B, K, ...], got", logits);
        int[] ld = new int[logits.rank() - 1];
        ld[0] = logits.dim(0);
        for (int i = 2; i < logits.rank(); i++) ld[i - 1] = logits.dim(i);
        if (!labels.shape().equals(Shape.of(ld)))
            throw Checks.error(op, "labels must be logits' shape without axis 1:", logits, labels);
        Checks.dtype(op, "labels", labels, DType.I32);
        int b = logits.dim(0), k = logits.dim(1), inner = (int) logits.shape().prod(2, logits.rank());
        if (classWeights != null) Checks.shape(op, "classWeights", classWeights, Shape.of(k));
        if (loss.numel() != 1) throw Checks.error(op, "loss must have one element, got", loss);
        if (glogits != null) Checks.sameShape(op, logits, glogits);
        float[] x = floats(logits), lossA = floats(loss);
        int[] y = ints(labels);
        float[] cw = classWeights == null ? null : floats(classWeights);
        float[] gr = glogits == null ? null : floats(glogits);
        int pixels = b * inner;
        // total weight of the kept pixels (needed to normalise the gradient in the same pass)
        double wsum = 0;
        for (int i = 0; i < pixels; i++) {
            int lab = y[i];
            if (lab == ignoreIndex || lab < 0 || lab >= k) continue;
            wsum += cw == null ? 1.0 : cw[lab];
        }
        final double norm = wsum == 0 ? 0.0 : 1.0 / wsum;
        int chunks = (int) Math.max(1, Math.min(Parallel.THREADS * 4L, (long) pixels * k * 8 / Parallel.MIN_WORK));
        double[] part = new double[chunks];
        Parallel.forChunks(pixels, chunks, (Parallel.Chunk) (id, s, e) -> {
            double acc = 0;
            for (int t = s; t < e; t++) {
                int bi = t / inner, i = t % inner;
                int base = bi * k * inner + i;
                int lab = y[t];
                boolean kept = lab != ignoreIndex && lab >= 0 && lab < k && norm != 0;
                if (!kept) {
                    if (gr != null) for (int j = 0; j < k; j++) gr[base + j * inner] = 0f;
                    continue;
                }
                float mx = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < k; j++) mx = Math.max(mx, x[base + j * inner]);
                double se = 0;
                for (int j = 0; j < k; j++) se += Math.exp(x[base + j * inner] - mx);
                double lse = mx + Math.log(se);
                double wy = cw == null ? 1.0 : cw[lab];
                acc += wy * (lse - x[base + lab * inner]);
                if (gr != null) {
                    double f = wy * norm;
                    for (int j = 0; j < k; j++) {
                        double p = Math.exp(x[base + j * inner] - lse);
                        gr[base + j * inner] = (float) (f * (p - (j == lab ? 1.0 : 0.0)));
                    }
                }
            }
            part[id] = acc;
        });
        double total = 0;
        for (double p : part) total += p;
        lossA[0] = (float) (total * norm);
    }

    // ------------------------------------------------------------------ optimisation

    @Override public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
                                float eps, float weightDecay, int step) {
        String op = "adamw";
        Checks.sameShape(op, param, grad);
        Checks.sameShape(op, param, m);
        Checks.sameShape(op, param, v);
        Checks.check(step >= 1, op, "step counts from 1, got " + step);
        float[] p = floats(param), g = floats(grad), fm = floats(m), fv = floats(v);
        double bc1 = 1.0 - Math.pow(beta1, step), bc2 = 1.0 - Math.pow(beta2, step);
        final float decay = 1f - lr * weightDecay;
        final float stepSize = (float) (lr / bc1);
        final float bc2Sqrt = (float) Math.sqrt(bc2);
        final float ob1 = 1f - beta1, ob2 = 1f - beta2;
        Parallel.forRange(p.length, 12, (s, e) -> {
            for (int i = s; i < e; i++) {
                float gi = g[i];
                float pi = p[i] * decay;
                float mi = fm[i] + ob1 * (gi - fm[i]);
                float vi = fv[i] * beta2 + ob2 * gi * gi;
                fm[i] = mi;
                fv[i] = vi;
                float denom = (float) Math.sqrt(vi) / bc2Sqrt + eps;
                p[i] = pi - stepSize * (mi / denom);
            }
        });
    }
}
