package dinoseg.backend.cpu;

import java.util.Arrays;

import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import static dinoseg.backend.cpu.CpuStorage.floats;
import static dinoseg.backend.cpu.CpuStorage.ints;
import static dinoseg.backend.cpu.CpuIndex.broadcastStrides;
import static dinoseg.backend.cpu.CpuIndex.increment;
import static dinoseg.backend.cpu.CpuIndex.leadingLength;
import static dinoseg.backend.cpu.CpuIndex.trailingLength;

/** Reductions on the CPU: sumTo (broadcast adjoint), sums in double, softmax and argmax over an axis. */
final class CpuReductions {
    private CpuReductions() { }

    static void sumTo(Tensor x, Tensor out) {
        float[] a = floats(x), o = floats(out);
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
        long ll = leadingLength(x.shape(), out.shape());
        if (ll > 0) {   // row sums ([n, k] -> [n, 1]: LayerScale's sum_k W ⊙ G), each in double from the row's start
            rowSums(a, o, (int) ll);
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

    /**
     * o[r] = sum of a[r*len .. r*len + len) in double, added in index order (the bits of the general
     * path); four rows at a time so that the four sums' dependency chains overlap.
     */
    private static void rowSums(float[] a, float[] o, int len) {
        int rows = o.length;
        Parallel.forRange((rows + 3) / 4, 4L * len, (s, e) -> {
            for (int g = s; g < e; g++) {
                int r = 4 * g;
                if (r + 4 <= rows) {
                    int b0 = r * len, b1 = b0 + len, b2 = b1 + len, b3 = b2 + len;
                    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                    for (int j = 0; j < len; j++) {
                        s0 += a[b0 + j];
                        s1 += a[b1 + j];
                        s2 += a[b2 + j];
                        s3 += a[b3 + j];
                    }
                    o[r] = (float) s0; o[r + 1] = (float) s1; o[r + 2] = (float) s2; o[r + 3] = (float) s3;
                } else {
                    for (; r < rows; r++) {
                        double sum = 0;
                        for (int j = 0, b = r * len; j < len; j++) sum += a[b + j];
                        o[r] = (float) sum;
                    }
                }
            }
        });
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

    static void sumAll(Tensor x, Tensor out) {
        floats(out)[0] = (float) reduceDouble(floats(x), false);
    }

    static double sumSquares(Tensor x) { return reduceDouble(floats(x), true); }

    /** Softmax over the non-negative axis {@code ax}. */
    static void softmax(Tensor x, int ax, Tensor out) {
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

    /** Pixels per block of {@link #argmax}: the running maxima (2 KiB) stay in L1 while each class's row streams by. */
    private static final int ARGMAX_BLOCK = 512;

    /**
     * out[b, i] = the first index of the largest x[b, :, i] (NaN counts as largest, as torch.argmax).
     * Pixels are taken in blocks: for each class in turn its contiguous run of the block is compared
     * with the block's running maxima, so memory is read along rows instead of across k planes per
     * pixel. Every pixel still sees its classes in order 0..k−1 with the same comparison.
     */
    static void argmax(Tensor x, Tensor out) {
        float[] a = floats(x);
        int[] o = ints(out);
        int b = x.dim(0), k = x.dim(1), inner = (int) x.shape().prod(2, x.rank());
        int blocks = (inner + ARGMAX_BLOCK - 1) / ARGMAX_BLOCK;
        Parallel.forRange(b * blocks, (long) k * ARGMAX_BLOCK, (s, e) -> {
            float[] best = new float[ARGMAX_BLOCK];
            for (int t = s; t < e; t++) {
                int bi = t / blocks, i0 = t % blocks * ARGMAX_BLOCK, w = Math.min(ARGMAX_BLOCK, inner - i0);
                int plane = bi * k * inner + i0, dst = bi * inner + i0;
                System.arraycopy(a, plane, best, 0, w);
                java.util.Arrays.fill(o, dst, dst + w, 0);
                for (int j = 1; j < k; j++) {
                    int row = plane + j * inner;
                    for (int i = 0; i < w; i++) {
                        float v = a[row + i], cur = best[i];
                        if (v > cur || (v != v && cur == cur)) { best[i] = v; o[dst + i] = j; }
                    }
                }
            }
        });
    }

    /** counts[label * K + argmax] += 1 over the kept pixels; per-chunk histograms, then one sum. */
    static void confusionMatrix(Tensor logits, Tensor labels, int ignoreIndex, Tensor counts) {
        float[] a = floats(logits);
        int[] y = ints(labels), c = ints(counts);
        int b = logits.dim(0), k = logits.dim(1), inner = (int) logits.shape().prod(2, logits.rank());
        int pixels = b * inner;
        int chunks = (int) Math.max(1, Math.min(Parallel.THREADS * 2L, (long) pixels * k / Parallel.MIN_WORK));
        int[][] hist = new int[chunks][];
        Parallel.forChunks(pixels, chunks, (Parallel.Chunk) (id, s, e) -> {
            int[] h = new int[k * k];
            for (int t = s; t < e; t++) {
                int lab = y[t];
                if (lab == ignoreIndex || lab < 0 || lab >= k) continue;
                int base = t / inner * k * inner + t % inner;
                float best = a[base];
                int arg = 0;
                for (int j = 1; j < k; j++) {
                    float v = a[base + j * inner];
                    if (v > best || (Float.isNaN(v) && !Float.isNaN(best))) { best = v; arg = j; }
                }
                h[lab * k + arg]++;
            }
            hist[id] = h;
        });
        for (int[] h : hist) if (h != null) for (int i = 0; i < h.length; i++) c[i] += h[i];
    }
}
