package dinoseg.backend.cpu;

import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import static dinoseg.backend.cpu.CpuStorage.floats;
import static dinoseg.backend.cpu.CpuIndex.broadcastStrides;
import static dinoseg.backend.cpu.CpuIndex.increment;
import static dinoseg.backend.cpu.CpuIndex.trailingLength;
import static dinoseg.backend.cpu.CpuIndex.unravel;

/** Elementwise CPU ops: broadcast add and mul, scale, axpy, GELU, ReLU, SwiGLU and their backwards. */
final class CpuElementwise {
    private CpuElementwise() { }

    private interface Binary { float apply(float x, float y); }

    private static void broadcastBinary(Tensor a, Tensor b, Tensor out, Binary f, boolean isAdd, float alpha) {
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

    static void add(Tensor a, Tensor b, float alpha, Tensor out) {
        broadcastBinary(a, b, out, (u, w) -> u + alpha * w, true, alpha);
    }

    static void mul(Tensor a, Tensor b, Tensor out) {
        broadcastBinary(a, b, out, (u, w) -> u * w, false, 1f);
    }

    /** out = input + t1 * t2 with t2 repeating every t2.numel() elements (Java rounds the product first: no FMA). */
    static void addcmul(Tensor input, Tensor t1, Tensor t2, Tensor out) {
        float[] x = floats(input), a = floats(t1), g = floats(t2), o = floats(out);
        int n = (int) input.numel(), len = (int) Math.max(1, t2.numel());
        if (n == 0) return;
        Parallel.forRange(n / len, len, (s, e) -> {
            for (int r = s; r < e; r++) {
                int base = r * len;
                for (int j = 0; j < len; j++) o[base + j] = x[base + j] + a[base + j] * g[j];
            }
        });
    }

    static void scale(Tensor x, float alpha, Tensor out) {
        float[] a = floats(x), o = floats(out);
        Parallel.forRange(a.length, 1, (s, e) -> { for (int i = s; i < e; i++) o[i] = alpha * a[i]; });
    }

    static void axpy(float alpha, Tensor x, Tensor y) {
        float[] a = floats(x), o = floats(y);
        Parallel.forRange(a.length, 1, (s, e) -> { for (int i = s; i < e; i++) o[i] += alpha * a[i]; });
    }

    static final double INV_SQRT2 = 1.0 / Math.sqrt(2.0);
    static final double INV_SQRT_2PI = 1.0 / Math.sqrt(2.0 * Math.PI);

    /** GELU; with the vector module {@link VectorGelu} (A&amp;S erf, as PyTorch's vectorised CPU erf), else the double erf table. */
    static void gelu(Tensor x, Tensor out) {
        float[] a = floats(x), o = floats(out);
        if (CpuGemm.VECTOR_AVAILABLE) { Parallel.forRange(a.length, 4, (s, e) -> VectorGelu.gelu(a, o, s, e)); return; }
        Parallel.forRange(a.length, 20, (s, e) -> {
            for (int i = s; i < e; i++) {
                double v = a[i], av = Math.abs(v);
                // x·Φ(x) = (x + |x|·erf(|x|/√2)) / 2
                o[i] = (float) (0.5 * (v + av * Erf.erfAbs(av * INV_SQRT2)));
            }
        });
    }

    static void geluBackward(Tensor x, Tensor gy, Tensor gx) {
        float[] a = floats(x), g = floats(gy), o = floats(gx);
        if (CpuGemm.VECTOR_AVAILABLE) { Parallel.forRange(a.length, 5, (s, e) -> VectorGelu.geluBackward(a, g, o, s, e)); return; }
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

    static void relu(Tensor x, Tensor out) {
        float[] a = floats(x), o = floats(out);
        Parallel.forRange(a.length, 1, (s, e) -> { for (int i = s; i < e; i++) o[i] = a[i] > 0f ? a[i] : 0f; });
    }

    static void reluBackward(Tensor x, Tensor gy, Tensor gx) {
        float[] a = floats(x), g = floats(gy), o = floats(gx);
        Parallel.forRange(a.length, 1, (s, e) -> { for (int i = s; i < e; i++) o[i] = a[i] > 0f ? g[i] : 0f; });
    }

    static void swiglu(Tensor x12, Tensor out) {
        int h = out.dim(-1);
        float[] a = floats(x12), o = floats(out);
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

    static void swigluBackward(Tensor x12, Tensor gy, Tensor gx12) {
        int h = gy.dim(-1);
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
}
