package dinoseg.ref;

import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.simple.SimpleMatrix;

import java.util.List;

/**
 * Double-precision reference forwards of every op in {@code dinoseg.autograd.Ops}, written
 * independently of the float CPU backend: matrix products through EJML, everything else as plain
 * loops that follow the PyTorch definitions. Used by the gradient checks (forward comparison and
 * central finite differences).
 */
public final class Ref {
    private Ref() { }

    // ------------------------------------------------------------------ matrices

    /** Rows r0.. of a flat array as an EJML matrix (copy). */
    static DMatrixRMaj mat(double[] d, int off, int rows, int cols) {
        DMatrixRMaj m = new DMatrixRMaj(rows, cols);
        System.arraycopy(d, off, m.data, 0, rows * cols);
        return m;
    }

    /** PyTorch Linear: x [..., K] times w [N, K] transposed, plus b [N] (or null). */
    public static DTensor linear(DTensor x, DTensor w, DTensor b) {
        int k = w.dim(1), n = w.dim(0), rows = x.numel() / k;
        SimpleMatrix xs = SimpleMatrix.wrap(mat(x.data, 0, rows, k));
        SimpleMatrix ws = SimpleMatrix.wrap(mat(w.data, 0, n, k));
        SimpleMatrix y = xs.mult(ws.transpose());
        int[] od = x.shape();
        od[od.length - 1] = n;
        DTensor out = DTensor.zeros(od);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < n; j++) out.data[r * n + j] = y.get(r, j) + (b == null ? 0 : b.data[j]);
        return out;
    }

    /** Batched op(a) @ op(b) over the last two dims; b rank 2 is shared by every batch entry. */
    public static DTensor matmul(DTensor a, boolean transA, DTensor b, boolean transB) {
        int ar = a.dim(-2), ac = a.dim(-1), br = b.dim(-2), bc = b.dim(-1);
        int m = transA ? ac : ar, n = transB ? br : bc;
        int batch = a.prod(0, a.rank() - 2);
        boolean shared = b.rank() == 2;
        int[] od = a.shape();
        od[od.length - 2] = m;
        od[od.length - 1] = n;
        DTensor out = DTensor.zeros(od);
        for (int i = 0; i < batch; i++) {
            DMatrixRMaj am = mat(a.data, i * ar * ac, ar, ac);
            DMatrixRMaj bm = mat(b.data, shared ? 0 : i * br * bc, br, bc);
            DMatrixRMaj c = new DMatrixRMaj(m, n);
            if (!transA && !transB) CommonOps_DDRM.mult(am, bm, c);
            else if (transA && !transB) CommonOps_DDRM.multTransA(am, bm, c);
            else if (!transA) CommonOps_DDRM.multTransB(am, bm, c);
            else CommonOps_DDRM.multTransAB(am, bm, c);
            System.arraycopy(c.data, 0, out.data, i * m * n, m * n);
        }
        return out;
    }

    // ------------------------------------------------------------------ elementwise

    private interface Bin { double apply(double a, double b); }

    /** Element-wise with broadcasting in either direction (right-aligned; dims equal or 1). */
    private static DTensor broadcast(DTensor a, DTensor b, Bin f) {
        int r = Math.max(a.rank(), b.rank());
        int[] od = new int[r];
        for (int i = 0; i < r; i++) {
            int da = i - (r - a.rank()) >= 0 ? a.dim(i - (r - a.rank())) : 1;
            int db = i - (r - b.rank()) >= 0 ? b.dim(i - (r - b.rank())) : 1;
            if (da != db && da != 1 && db != 1) throw new IllegalArgumentException("ref broadcast: " + a + " vs " + b);
            od[i] = Math.max(da, db);
        }
        DTensor out = DTensor.zeros(od);
        int[] idx = new int[r];
        for (int e = 0; e < out.numel(); e++) {
            int rem = e;
            for (int i = r - 1; i >= 0; i--) { idx[i] = rem % od[i]; rem /= od[i]; }
            out.data[e] = f.apply(a.data[offset(a, idx, r)], b.data[offset(b, idx, r)]);
        }
        return out;
    }

    private static int offset(DTensor t, int[] idx, int r) {
        int off = 0, lead = r - t.rank();
        for (int i = 0; i < t.rank(); i++) {
            int d = t.dim(i);
            off = off * d + (d == 1 ? 0 : idx[lead + i]);
        }
        return off;
    }

    public static DTensor add(DTensor a, DTensor b) { return broadcast(a, b, Double::sum); }

    public static DTensor mul(DTensor a, DTensor b) { return broadcast(a, b, (x, y) -> x * y); }

    public static DTensor scale(DTensor x, double s) {
        DTensor out = x.copy();
        for (int i = 0; i < out.data.length; i++) out.data[i] *= s;
        return out;
    }

    private interface Un { double apply(double v); }

    private static DTensor map(DTensor x, Un f) {
        DTensor out = x.copy();
        for (int i = 0; i < out.data.length; i++) out.data[i] = f.apply(x.data[i]);
        return out;
    }

    /** Exact GELU x * Phi(x) with a double erf. */
    public static DTensor gelu(DTensor x) { return map(x, v -> 0.5 * v * (1 + Erf.erf(v / Math.sqrt(2)))); }

    public static DTensor relu(DTensor x) { return map(x, v -> Math.max(v, 0)); }

    /** silu(x[..., :H]) * x[..., H:]. */
    public static DTensor swiglu(DTensor x12) {
        int two = x12.dim(-1), h = two / 2, rows = x12.numel() / two;
        int[] od = x12.shape();
        od[od.length - 1] = h;
        DTensor out = DTensor.zeros(od);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < h; j++) {
                double a = x12.data[r * two + j], b = x12.data[r * two + h + j];
                out.data[r * h + j] = a / (1 + Math.exp(-a)) * b;
            }
        return out;
    }

    // ------------------------------------------------------------------ normalisation

    public static DTensor layerNorm(DTensor x, DTensor gamma, DTensor beta, double eps) {
        int c = x.dim(-1), rows = x.numel() / c;
        DTensor out = DTensor.zeros(x.shape());
        for (int r = 0; r < rows; r++) {
            double mean = 0;
            for (int j = 0; j < c; j++) mean += x.data[r * c + j];
            mean /= c;
            double var = 0;
            for (int j = 0; j < c; j++) { double d = x.data[r * c + j] - mean; var += d * d; }
            var /= c;
            double rstd = 1 / Math.sqrt(var + eps);
            for (int j = 0; j < c; j++)
                out.data[r * c + j] = (x.data[r * c + j] - mean) * rstd * gamma.data[j] + beta.data[j];
        }
        return out;
    }

    /** Per-channel mean and biased variance of x [B, C, H, W]. */
    public static double[][] channelStats(DTensor x) {
        int b = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3);
        double[] mean = new double[c], var = new double[c];
        for (int ch = 0; ch < c; ch++) {
            double s = 0;
            for (int i = 0; i < b; i++) for (int p = 0; p < hw; p++) s += x.data[(i * c + ch) * hw + p];
            mean[ch] = s / (b * hw);
            double v = 0;
            for (int i = 0; i < b; i++) for (int p = 0; p < hw; p++) { double d = x.data[(i * c + ch) * hw + p] - mean[ch]; v += d * d; }
            var[ch] = v / (b * hw);
        }
        return new double[][]{mean, var};
    }

    /**
     * BatchNorm2d forward. Training: batch statistics (biased variance) normalise x; eval: the
     * running statistics. (The running-statistic update is {@link #batchNormRunning}.)
     */
    public static DTensor batchNorm2d(DTensor x, DTensor gamma, DTensor beta, DTensor runMean, DTensor runVar,
                                      boolean training, double eps) {
        int b = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3);
        double[] mean, var;
        if (training) { double[][] s = channelStats(x); mean = s[0]; var = s[1]; }
        else { mean = runMean.data; var = runVar.data; }
        DTensor out = DTensor.zeros(x.shape());
        for (int i = 0; i < b; i++)
            for (int ch = 0; ch < c; ch++) {
                double rstd = 1 / Math.sqrt(var[ch] + eps);
                for (int p = 0; p < hw; p++) {
                    int e = (i * c + ch) * hw + p;
                    out.data[e] = (x.data[e] - mean[ch]) * rstd * gamma.data[ch] + beta.data[ch];
                }
            }
        return out;
    }

    /** New running mean and var after one training step (PyTorch: unbiased variance, momentum). */
    public static DTensor[] batchNormRunning(DTensor x, DTensor runMean, DTensor runVar, double momentum) {
        double[][] s = channelStats(x);
        int c = x.dim(1), n = x.dim(0) * x.dim(2) * x.dim(3);
        DTensor m = DTensor.zeros(c), v = DTensor.zeros(c);
        for (int ch = 0; ch < c; ch++) {
            m.data[ch] = (1 - momentum) * runMean.data[ch] + momentum * s[0][ch];
            v.data[ch] = (1 - momentum) * runVar.data[ch] + momentum * s[1][ch] * n / (n - 1);
        }
        return new DTensor[]{m, v};
    }

    // ------------------------------------------------------------------ attention

    /**
     * Multi-head softmax attention on packed qkv [B, N, 3*H*D] laid out (3, H, D) -> [B, N, H*D]
     * laid out (H, D), scores scaled by {@code scale}.
     */
    public static DTensor attention(DTensor qkv, int heads, double scale) {
        int b = qkv.dim(0), n = qkv.dim(1), c = qkv.dim(2) / 3, d = c / heads;
        DTensor out = DTensor.zeros(b, n, c);
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < heads; h++) {
                SimpleMatrix q = new SimpleMatrix(n, d), k = new SimpleMatrix(n, d), v = new SimpleMatrix(n, d);
                for (int t = 0; t < n; t++)
                    for (int j = 0; j < d; j++) {
                        int base = (bi * n + t) * 3 * c + h * d + j;
                        q.set(t, j, qkv.data[base]);
                        k.set(t, j, qkv.data[base + c]);
                        v.set(t, j, qkv.data[base + 2 * c]);
                    }
                SimpleMatrix s = q.mult(k.transpose()).scale(scale);
                for (int t = 0; t < n; t++) {
                    double mx = Double.NEGATIVE_INFINITY;
                    for (int u = 0; u < n; u++) mx = Math.max(mx, s.get(t, u));
                    double z = 0;
                    for (int u = 0; u < n; u++) z += Math.exp(s.get(t, u) - mx);
                    for (int u = 0; u < n; u++) s.set(t, u, Math.exp(s.get(t, u) - mx) / z);
                }
                SimpleMatrix o = s.mult(v);
                for (int t = 0; t < n; t++)
                    for (int j = 0; j < d; j++) out.data[(bi * n + t) * c + h * d + j] = o.get(t, j);
            }
        return out;
    }

    // ------------------------------------------------------------------ convolutions

    /** Direct 2-D convolution with zero padding: x [B, Cin, H, W], w [Cout, Cin, kh, kw], b [Cout] or null. */
    public static DTensor conv2d(DTensor x, DTensor w, DTensor b, int stride, int pad) {
        int bs = x.dim(0), cin = x.dim(1), h = x.dim(2), wd = x.dim(3);
        int cout = w.dim(0), kh = w.dim(2), kw = w.dim(3);
        int oh = (h + 2 * pad - kh) / stride + 1, ow = (wd + 2 * pad - kw) / stride + 1;
        DTensor out = DTensor.zeros(bs, cout, oh, ow);
        for (int i = 0; i < bs; i++)
            for (int co = 0; co < cout; co++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++) {
                        double s = b == null ? 0 : b.data[co];
                        for (int ci = 0; ci < cin; ci++)
                            for (int ky = 0; ky < kh; ky++)
                                for (int kx = 0; kx < kw; kx++) {
                                    int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                    s += w.data[((co * cin + ci) * kh + ky) * kw + kx] * x.data[((i * cin + ci) * h + iy) * wd + ix];
                                }
                        out.data[((i * cout + co) * oh + oy) * ow + ox] = s;
                    }
        return out;
    }

    /** DINOv2 patch embedding: a p x p stride-p conv, then tokens [B, (H/p)(W/p), C] in row-major patch order. */
    public static DTensor patchEmbed(DTensor x, DTensor w, DTensor b, int patch) {
        DTensor y = conv2d(x, w, b, patch, 0); // [B, C, gh, gw]
        int bs = y.dim(0), c = y.dim(1), np = y.dim(2) * y.dim(3);
        DTensor out = DTensor.zeros(bs, np, c);
        for (int i = 0; i < bs; i++)
            for (int ch = 0; ch < c; ch++)
                for (int p = 0; p < np; p++) out.data[(i * np + p) * c + ch] = y.data[(i * c + ch) * np + p];
        return out;
    }

    // ------------------------------------------------------------------ layout

    public static DTensor reshape(DTensor x, int... dims) { return new DTensor(x.data.clone(), dims); }

    /** out.dim(i) = x.dim(perm[i]). */
    public static DTensor permute(DTensor x, int... perm) {
        int r = x.rank();
        int[] od = new int[r];
        for (int i = 0; i < r; i++) od[i] = x.dim(perm[i]);
        long[] xs = strides(x.shape());
        DTensor out = DTensor.zeros(od);
        int[] idx = new int[r];
        for (int e = 0; e < out.numel(); e++) {
            int rem = e;
            for (int i = r - 1; i >= 0; i--) { idx[i] = rem % od[i]; rem /= od[i]; }
            long src = 0;
            for (int i = 0; i < r; i++) src += idx[i] * xs[perm[i]];
            out.data[e] = x.data[(int) src];
        }
        return out;
    }

    static long[] strides(int[] shape) {
        long[] s = new long[shape.length];
        long acc = 1;
        for (int i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    public static DTensor concat(List<DTensor> xs, int axis) {
        DTensor x0 = xs.get(0);
        int ax = axis < 0 ? x0.rank() + axis : axis;
        int total = 0;
        for (DTensor x : xs) total += x.dim(ax);
        int[] od = x0.shape();
        od[ax] = total;
        DTensor out = DTensor.zeros(od);
        int outer = x0.prod(0, ax), inner = x0.prod(ax + 1, x0.rank());
        int off = 0;
        for (DTensor x : xs) {
            int len = x.dim(ax) * inner;
            for (int o = 0; o < outer; o++) System.arraycopy(x.data, o * len, out.data, o * total * inner + off, len);
            off += len;
        }
        return out;
    }

    public static DTensor slice(DTensor x, int axis, int start, int len) {
        int ax = axis < 0 ? x.rank() + axis : axis;
        int[] od = x.shape();
        od[ax] = len;
        DTensor out = DTensor.zeros(od);
        int outer = x.prod(0, ax), inner = x.prod(ax + 1, x.rank());
        for (int o = 0; o < outer; o++)
            System.arraycopy(x.data, (o * x.dim(ax) + start) * inner, out.data, o * len * inner, len * inner);
        return out;
    }

    // ------------------------------------------------------------------ resampling

    /** PyTorch's source coordinate for align_corners=False: (dst + 0.5) * in/out - 0.5, clamped at 0. */
    static double source(int dst, int in, int out) {
        double s = (dst + 0.5) * ((double) in / out) - 0.5;
        return s < 0 ? 0 : s;
    }

    /** F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False) on x [B, C, H, W]. */
    public static DTensor resizeBilinear(DTensor x, int oh, int ow) {
        int bc = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3);
        DTensor out = DTensor.zeros(x.dim(0), x.dim(1), oh, ow);
        for (int p = 0; p < bc; p++)
            for (int oy = 0; oy < oh; oy++) {
                double sy = source(oy, h, oh);
                int y0 = (int) Math.floor(sy), y1 = Math.min(y0 + 1, h - 1);
                double ly = sy - y0;
                for (int ox = 0; ox < ow; ox++) {
                    double sx = source(ox, w, ow);
                    int x0 = (int) Math.floor(sx), x1 = Math.min(x0 + 1, w - 1);
                    double lx = sx - x0;
                    int base = p * h * w;
                    double v = (1 - ly) * ((1 - lx) * x.data[base + y0 * w + x0] + lx * x.data[base + y0 * w + x1])
                            + ly * ((1 - lx) * x.data[base + y1 * w + x0] + lx * x.data[base + y1 * w + x1]);
                    out.data[(p * oh + oy) * ow + ox] = v;
                }
            }
        return out;
    }

    // ------------------------------------------------------------------ reductions and loss

    public static DTensor sum(DTensor x) {
        double s = 0;
        for (double v : x.data) s += v;
        return new DTensor(new double[]{s});
    }

    public static DTensor mean(DTensor x) { return scale(sum(x), 1.0 / x.numel()); }

    /**
     * Mean softmax cross-entropy of logits [B, K, ...] against labels [B, ...] (flat int array):
     * sum(w[y] * nll) / sum(w[y]) over pixels whose label is in [0, K) and not ignoreIndex; 0 when
     * no pixel is kept. weights [K] or null.
     */
    public static DTensor crossEntropy(DTensor logits, int[] labels, DTensor weights, int ignoreIndex) {
        int b = logits.dim(0), k = logits.dim(1), s = logits.prod(2, logits.rank());
        double num = 0, den = 0;
        for (int i = 0; i < b; i++)
            for (int p = 0; p < s; p++) {
                int y = labels[i * s + p];
                if (y == ignoreIndex || y < 0 || y >= k) continue;
                double mx = Double.NEGATIVE_INFINITY;
                for (int c = 0; c < k; c++) mx = Math.max(mx, logits.data[(i * k + c) * s + p]);
                double z = 0;
                for (int c = 0; c < k; c++) z += Math.exp(logits.data[(i * k + c) * s + p] - mx);
                double nll = mx + Math.log(z) - logits.data[(i * k + y) * s + p];
                double w = weights == null ? 1 : weights.data[y];
                num += w * nll;
                den += w;
            }
        return new DTensor(new double[]{den == 0 ? 0 : num / den});
    }
}
