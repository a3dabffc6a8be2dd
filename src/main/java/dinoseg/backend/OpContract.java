package dinoseg.backend;

import static dinoseg.backend.Checks.check;
import static dinoseg.backend.Checks.distinct;
import static dinoseg.backend.Checks.error;
import static dinoseg.backend.Checks.f32;
import static dinoseg.backend.Checks.f32OrNull;
import static dinoseg.backend.Checks.i32;
import static dinoseg.backend.Checks.required;

import java.util.Arrays;

import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/**
 * The argument checks of every {@link Backend} op, in one place: each backend calls the method
 * named for the op before it touches memory, so a bad call fails the same way everywhere — an
 * {@link IllegalArgumentException} whose one-line message starts with the op's name and names the
 * shapes involved (see {@link Checks}). The rules are those documented on {@link Backend}; where a
 * choice was open they follow PyTorch (e.g. a LayerNorm weight has exactly the normalised shape,
 * optional saved statistics of a forward may be null, the backward needs them).
 *
 * <p>Only what the contract says is checked here. What one backend cannot do although the contract
 * allows it (a CUDA head dimension above 128, more than 6 collapsed broadcast dims) is that
 * backend's own check, made after this one; a tensor of another backend fails in the backend's
 * storage accessor.
 */
public final class OpContract {
    private OpContract() { }

    // ------------------------------------------------------------------ memory

    /** fromFloats/fromInts: {@code length} host values fill {@code shape}. */
    public static void hostData(String op, Object data, int length, Shape shape) {
        required(op, "data", data);
        required(op, "shape", shape);
        if (length != shape.numel()) throw error(op, length + " values do not fill shape " + shape);
    }

    /** toFloats/toInts: t is present and of the dtype copied out. */
    public static void download(String op, Tensor t, DType dtype) {
        required(op, "t", t);
        Checks.dtype(op, "t", t, dtype);
    }

    /** writeFloats/writeInts: [srcOff, srcOff+len) of the host array fits at dst[dstOff..]. */
    public static void write(String op, Object src, int srcLength, int srcOff, Tensor dst, long dstOff, int len, DType dtype) {
        required(op, "src", src);
        required(op, "dst", dst);
        Checks.dtype(op, "dst", dst, dtype);
        if (len < 0 || srcOff < 0 || dstOff < 0 || (long) srcOff + len > srcLength || dstOff + len > dst.numel())
            throw error(op, "range [" + srcOff + ", +" + len + ") of " + srcLength + " host values to offset " + dstOff
                    + " does not fit tensor", dst);
    }

    /** copy: same element count and dtype. */
    public static void copy(Tensor src, Tensor dst) {
        String op = "copy";
        required(op, "src", src);
        required(op, "dst", dst);
        Checks.sameNumel(op, src, dst);
        if (src.dtype() != dst.dtype()) throw error(op, "dtypes differ: " + src.dtype() + " vs " + dst.dtype(), src, dst);
    }

    /** fill: a float tensor. */
    public static void fill(Tensor t) { f32("fill", "t", t); }

    // ------------------------------------------------------------------ gemm

    /**
     * The epilogue operands of {@link Backend#linearGelu} / {@link Backend#linearScaled} (each may be null):
     * aux and residual [rows, n], gamma [n].
     *
     * @throws IllegalArgumentException naming the op and the operand whose size is wrong
     */
    public static void linearEpilogue(String op, int rows, int n, Tensor aux, Tensor gamma, Tensor residual) {
        if (aux != null && aux.numel() != (long) rows * n)
            throw new IllegalArgumentException(op + ": aux has " + aux.numel() + " elements, not " + rows + "x" + n);
        if (gamma != null && gamma.numel() != n)
            throw new IllegalArgumentException(op + ": gamma has " + gamma.numel() + " elements, not " + n + " (one per output column)");
        if (residual != null && residual.numel() != (long) rows * n)
            throw new IllegalArgumentException(op + ": residual has " + residual.numel() + " elements, not " + rows + "x" + n);
    }

    /**
     * gemm: sizes are non-negative; each operand is a float tensor whose batch of stored matrices
     * (op(A) m×k, op(B) k×n, C m×n) lies inside it with {@code ld} at least the stored row length
     * and non-negative offset and stride (an operand with no elements is not checked for extent);
     * C is not transposed and shares no storage with A or B.
     */
    public static void gemm(int m, int n, int k, MatrixView a, MatrixView b, MatrixView c, int batch) {
        String op = "gemm";
        check(m >= 0 && n >= 0 && k >= 0 && batch >= 0, op, "negative size m=" + m + " n=" + n + " k=" + k + " batch=" + batch);
        operand(op, "A", a, batch, a != null && a.transposed() ? k : m, a != null && a.transposed() ? m : k);
        operand(op, "B", b, batch, b != null && b.transposed() ? n : k, b != null && b.transposed() ? k : n);
        operand(op, "C", c, batch, m, n);
        check(!c.transposed(), op, "C cannot be transposed " + c.tensor().shape());
        if (c.tensor().storage() == a.tensor().storage() || c.tensor().storage() == b.tensor().storage())
            throw error(op, "C must not share storage with A or B:", c.tensor(), a.tensor(), b.tensor());
    }

    private static void operand(String op, String name, MatrixView v, int batch, int rows, int cols) {
        required(op, name, v);
        f32(op, name, v.tensor());
        if (rows == 0 || cols == 0 || batch == 0) return;
        Tensor t = v.tensor();
        if (v.ld() < cols || v.offset() < 0 || v.stride() < 0)
            throw error(op, name + " is " + rows + "x" + cols + " but leading dimension " + v.ld() + ", offset " + v.offset()
                    + ", batch stride " + v.stride() + " are invalid for tensor", t);
        long last = v.offset() + (long) (batch - 1) * v.stride() + (long) (rows - 1) * v.ld() + cols;
        if (last > t.numel())
            throw error(op, name + " (" + batch + " x " + rows + "x" + cols + ", ld " + v.ld() + ", offset " + v.offset()
                    + ", stride " + v.stride() + ") reaches element " + last + " beyond tensor", t);
    }

    // ------------------------------------------------------------------ elementwise and reductions

    /** add/mul: float tensors; b broadcasts to a; out has a's shape. */
    public static void binary(String op, Tensor a, Tensor b, Tensor out) {
        f32(op, "a", a);
        f32(op, "b", b);
        f32(op, "out", out);
        Checks.broadcasts(op, a, b);
        Checks.sameShape(op, a, out);
    }

    /** addcmul: float input, t1, out of one shape; float t2 whose shape is a suffix of it. */
    public static void addcmul(Tensor input, Tensor t1, Tensor t2, Tensor out) {
        String op = "addcmul";
        f32(op, "input", input);
        f32(op, "t1", t1);
        f32(op, "t2", t2);
        f32(op, "out", out);
        Checks.sameShape(op, input, t1);
        Checks.sameShape(op, input, out);
        Shape s = t1.shape(), f = t2.shape();
        boolean suffix = f.rank() <= s.rank();
        for (int i = 1; suffix && i <= f.rank(); i++) suffix = f.dim(f.rank() - i) == s.dim(s.rank() - i);
        if (!suffix) throw error(op, "t2's shape must be the trailing dimensions of t1's:", t1, t2);
    }

    /** scale/axpy: float tensors of the same element count. */
    public static void sameCount(String op, String xName, Tensor x, String yName, Tensor y) {
        f32(op, xName, x);
        f32(op, yName, y);
        Checks.sameNumel(op, x, y);
    }

    /** sumTo: float tensors; out broadcasts to x; out is not x. */
    public static void sumTo(Tensor x, Tensor out) {
        String op = "sumTo";
        f32(op, "x", x);
        f32(op, "out", out);
        Checks.broadcasts(op, x, out);
        distinct(op, "out", out, "x", x);
    }

    /** sumAll: float tensors; out has one element. */
    public static void sumAll(Tensor x, Tensor out) {
        String op = "sumAll";
        f32(op, "x", x);
        f32(op, "out", out);
        if (out.numel() != 1) throw error(op, "out must have one element, got", out);
    }

    /** sumSquares: a float tensor. */
    public static void sumSquares(Tensor x) { f32("sumSquares", "x", x); }

    /** gelu/relu: float tensors of the same shape. */
    public static void unary(String op, Tensor x, Tensor out) {
        f32(op, "x", x);
        f32(op, "out", out);
        Checks.sameShape(op, x, out);
    }

    /** geluBackward/reluBackward: x, gy, gx float tensors of the same shape. */
    public static void unaryBackward(String op, Tensor x, Tensor gy, Tensor gx) {
        f32(op, "x", x);
        f32(op, "gy", gy);
        f32(op, "gx", gx);
        Checks.sameShape(op, x, gy);
        Checks.sameShape(op, x, gx);
    }

    /** swiglu: x12 [..., 2H] and out [..., H] (float); out is not x12. Returns H. */
    public static int swiglu(Tensor x12, Tensor out) {
        String op = "swiglu";
        int h = swigluHidden(op, x12, "out", out);
        distinct(op, "out", out, "x12", x12);
        return h;
    }

    /** swigluBackward: x12 and gx12 [..., 2H], gy [..., H] (float); gx12 is not gy. Returns H. */
    public static int swigluBackward(Tensor x12, Tensor gy, Tensor gx12) {
        String op = "swigluBackward";
        int h = swigluHidden(op, x12, "gy", gy);
        f32(op, "gx12", gx12);
        Checks.sameShape(op, x12, gx12);
        distinct(op, "gx12", gx12, "gy", gy);
        return h;
    }

    private static int swigluHidden(String op, Tensor x12, String halfName, Tensor half) {
        f32(op, "x12", x12);
        f32(op, halfName, half);
        if (x12.rank() < 1 || half.rank() != x12.rank() || x12.dim(-1) != 2 * half.dim(-1)
                || !x12.shape().with(-1, half.dim(-1)).equals(half.shape()))
            throw error(op, "expected x12 [..., 2H] and " + halfName + " [..., H], got", x12, half);
        return half.dim(-1);
    }

    /** softmax: float tensors of the same shape; axis in [-rank, rank). Returns the axis, non-negative. */
    public static int softmax(Tensor x, int axis, Tensor out) {
        String op = "softmax";
        f32(op, "x", x);
        f32(op, "out", out);
        Checks.sameShape(op, x, out);
        int ax = axis < 0 ? axis + x.rank() : axis;
        if (ax < 0 || ax >= x.rank()) throw error(op, "axis " + axis + " out of range for", x);
        return ax;
    }

    /** The shape of x [B, K, ...] without axis 1. */
    private static Shape dropAxis1(Tensor x) {
        int[] d = x.shape().dims();
        int[] od = new int[d.length - 1];
        od[0] = d[0];
        System.arraycopy(d, 2, od, 1, d.length - 2);
        return Shape.of(od);
    }

    /** argmax: float x [B, K, ...] with K &gt; 0; int out [B, ...]. */
    public static void argmax(Tensor x, Tensor out) {
        String op = "argmax";
        f32(op, "x", x);
        i32(op, "out", out);
        if (x.rank() < 2) throw error(op, "x must be [B, K, ...], got", x);
        Checks.shape(op, "out", out, dropAxis1(x));
        if (x.dim(1) == 0) throw error(op, "no classes in", x);
    }

    /** confusionMatrix: float logits [B, K, ...] with K &gt; 0; int labels [B, ...]; int counts [K, K]. */
    public static void confusionMatrix(Tensor logits, Tensor labels, Tensor counts) {
        String op = "confusionMatrix";
        f32(op, "logits", logits);
        if (logits.rank() < 2) throw error(op, "logits must be [B, K, ...], got", logits);
        required(op, "labels", labels);
        Checks.dtype(op, "labels", labels, DType.I32);
        if (!labels.shape().equals(dropAxis1(logits)))
            throw error(op, "labels must be logits' shape without axis 1:", logits, labels);
        if (logits.dim(1) == 0) throw error(op, "no classes in", logits);
        i32(op, "counts", counts);
        Checks.shape(op, "counts", counts, Shape.of(logits.dim(1), logits.dim(1)));
    }

    /** flipLastDim: same shape and dtype, rank &gt;= 1, out is not x. */
    public static void flipLastDim(Tensor x, Tensor out) {
        String op = "flipLastDim";
        required(op, "x", x);
        required(op, "out", out);
        if (x.rank() < 1) throw error(op, "x needs rank >= 1, got", x);
        Checks.sameShape(op, x, out);
        if (x.dtype() != out.dtype()) throw error(op, "dtypes differ: " + x.dtype() + " vs " + out.dtype(), x, out);
        distinct(op, "out", out, "x", x);
    }

    // ------------------------------------------------------------------ normalisation

    /** The number of rows of a LayerNorm over the last dimension of x. */
    private static int rows(Tensor x) {
        int c = x.dim(-1);
        return c == 0 ? 0 : (int) (x.numel() / c);
    }

    private static void rowStats(String op, String name, Tensor t, int rows, Tensor x) {
        Checks.dtype(op, name, t, DType.F32);
        if (t.numel() != rows) throw error(op, name + " must hold " + rows + " rows for x", x, t);
    }

    /**
     * layerNorm: float x [..., C] (rank &gt;= 1) and y of its shape; gamma, beta [C] or null; mean,
     * rstd each null or holding one float per row. Returns the number of rows.
     */
    public static int layerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd) {
        String op = "layerNorm";
        f32(op, "x", x);
        if (x.rank() < 1) throw error(op, "x needs rank >= 1, got", x);
        f32(op, "y", y);
        Checks.sameShape(op, x, y);
        Shape c = Shape.of(x.dim(-1));
        f32OrNull(op, "gamma", gamma, c);
        f32OrNull(op, "beta", beta, c);
        int rows = rows(x);
        if (mean != null) rowStats(op, "mean", mean, rows, x);
        if (rstd != null) rowStats(op, "rstd", rstd, rows, x);
        return rows;
    }

    /**
     * layerNormBackward: float gy, x, gx of one shape [..., C]; gamma, ggamma, gbeta [C] or null;
     * mean and rstd required, one float per row. Returns the number of rows.
     */
    public static int layerNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd,
                                        Tensor gx, Tensor ggamma, Tensor gbeta) {
        String op = "layerNormBackward";
        f32(op, "x", x);
        if (x.rank() < 1) throw error(op, "x needs rank >= 1, got", x);
        f32(op, "gy", gy);
        f32(op, "gx", gx);
        Checks.sameShape(op, x, gy);
        Checks.sameShape(op, x, gx);
        Shape c = Shape.of(x.dim(-1));
        f32OrNull(op, "gamma", gamma, c);
        int rows = rows(x);
        required(op, "mean", mean);
        required(op, "rstd", rstd);
        rowStats(op, "mean", mean, rows, x);
        rowStats(op, "rstd", rstd, rows, x);
        f32OrNull(op, "ggamma", ggamma, c);
        f32OrNull(op, "gbeta", gbeta, c);
        return rows;
    }

    /**
     * batchNorm: float x [B, C, H, W] and y of its shape; gamma, beta, runningMean, runningVar,
     * saveMean, saveRstd each [C] or null; eval mode needs the running statistics, training mode
     * at least one value per channel.
     */
    public static void batchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                 boolean training, Tensor y, Tensor saveMean, Tensor saveRstd) {
        String op = "batchNorm";
        f32(op, "x", x);
        Checks.rank(op, "x", x, 4);
        f32(op, "y", y);
        Checks.sameShape(op, x, y);
        Shape c = Shape.of(x.dim(1));
        f32OrNull(op, "gamma", gamma, c);
        f32OrNull(op, "beta", beta, c);
        f32OrNull(op, "runningMean", runningMean, c);
        f32OrNull(op, "runningVar", runningVar, c);
        f32OrNull(op, "saveMean", saveMean, c);
        f32OrNull(op, "saveRstd", saveRstd, c);
        if (!training && (runningMean == null || runningVar == null))
            throw error(op, "eval mode needs runningMean and runningVar for", x);
        if (training && (long) x.dim(0) * x.dim(2) * x.dim(3) == 0)
            throw error(op, "no values per channel in training mode:", x);
    }

    /**
     * batchNormBackward: float gy, x, gx [B, C, H, W]; saveMean and saveRstd [C] required; gamma,
     * ggamma, gbeta [C] or null.
     */
    public static void batchNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor saveMean, Tensor saveRstd,
                                         Tensor gx, Tensor ggamma, Tensor gbeta) {
        String op = "batchNormBackward";
        f32(op, "x", x);
        Checks.rank(op, "x", x, 4);
        f32(op, "gy", gy);
        f32(op, "gx", gx);
        Checks.sameShape(op, x, gy);
        Checks.sameShape(op, x, gx);
        Shape c = Shape.of(x.dim(1));
        f32OrNull(op, "gamma", gamma, c);
        required(op, "saveMean", saveMean);
        required(op, "saveRstd", saveRstd);
        f32OrNull(op, "saveMean", saveMean, c);
        f32OrNull(op, "saveRstd", saveRstd, c);
        f32OrNull(op, "ggamma", ggamma, c);
        f32OrNull(op, "gbeta", gbeta, c);
    }

    // ------------------------------------------------------------------ attention

    /** Sizes of packed attention: batch, tokens, heads, head dimension. */
    public record Heads(int batch, int tokens, int heads, int headDim) {
        /** True when there is nothing to compute. */
        public boolean empty() { return (long) batch * tokens * headDim == 0; }
    }

    /**
     * attention: float qkv [B, N, 3*H*D] with heads H &gt; 0; out [B, N, H*D], not qkv; lse
     * [B, H, N] or null.
     */
    public static Heads attention(Tensor qkv, int heads, Tensor out, Tensor lse) {
        String op = "attention";
        Heads s = heads(op, qkv, heads, out);
        f32OrNull(op, "lse", lse, Shape.of(s.batch, heads, s.tokens));
        distinct(op, "out", out, "qkv", qkv);
        return s;
    }

    /**
     * attentionBackward: qkv, out as for {@link #attention}; lse [B, H, N] required; gout of out's
     * shape; gqkv of qkv's shape, sharing storage with neither qkv nor gout.
     */
    public static Heads attentionBackward(Tensor qkv, Tensor out, Tensor lse, Tensor gout, int heads, Tensor gqkv) {
        String op = "attentionBackward";
        Heads s = heads(op, qkv, heads, out);
        required(op, "lse", lse);
        f32OrNull(op, "lse", lse, Shape.of(s.batch, heads, s.tokens));
        f32(op, "gout", gout);
        Checks.sameShape(op, out, gout);
        f32(op, "gqkv", gqkv);
        Checks.sameShape(op, qkv, gqkv);
        distinct(op, "gqkv", gqkv, "qkv", qkv);
        distinct(op, "gqkv", gqkv, "gout", gout);
        return s;
    }

    private static Heads heads(String op, Tensor qkv, int heads, Tensor out) {
        f32(op, "qkv", qkv);
        Checks.rank(op, "qkv", qkv, 3);
        check(heads > 0, op, "heads must be positive, got " + heads);
        int b = qkv.dim(0), n = qkv.dim(1), w = qkv.dim(2);
        if (w % (3 * heads) != 0)
            throw error(op, "qkv's last dimension is not 3*heads*D for heads=" + heads + ":", qkv);
        int d = w / (3 * heads);
        f32(op, "out", out);
        Checks.shape(op, "out", out, Shape.of(b, n, heads * d));
        return new Heads(b, n, heads, d);
    }

    // ------------------------------------------------------------------ convolution helpers

    /** Sizes of an im2col/col2im: image [b, c, h, w], output positions oh x ow. */
    public record Conv(int b, int c, int h, int w, int oh, int ow) { }

    /** im2col: float x [B, C, H, W], kernel and stride positive, pad &gt;= 0, kernel within the padded image, cols [B, OH*OW, C*kh*kw]. */
    public static Conv im2col(Tensor x, int kh, int kw, int stride, int pad, Tensor cols) {
        return conv("im2col", "x", x, kh, kw, stride, pad, cols);
    }

    /** col2im: as {@link #im2col} with gx in the image's place. */
    public static Conv col2im(Tensor cols, int kh, int kw, int stride, int pad, Tensor gx) {
        return conv("col2im", "gx", gx, kh, kw, stride, pad, cols);
    }

    private static Conv conv(String op, String imageName, Tensor x, int kh, int kw, int stride, int pad, Tensor cols) {
        f32(op, imageName, x);
        f32(op, "cols", cols);
        Checks.rank(op, imageName, x, 4);
        check(kh > 0 && kw > 0 && stride > 0 && pad >= 0, op,
                "invalid kernel " + kh + "x" + kw + ", stride " + stride + ", pad " + pad);
        int b = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
        if (h + 2 * pad < kh || w + 2 * pad < kw)
            throw error(op, "kernel " + kh + "x" + kw + " larger than padded image", x);
        int oh = (h + 2 * pad - kh) / stride + 1, ow = (w + 2 * pad - kw) / stride + 1;
        Checks.shape(op, "cols", cols, Shape.of(b, oh * ow, c * kh * kw));
        return new Conv(b, c, h, w, oh, ow);
    }

    // ------------------------------------------------------------------ layout

    /**
     * copyBlocks: src and dst of one dtype (float when accumulating); sizes, offsets and strides
     * non-negative; every block inside its tensor (that blocks do not overlap is the caller's
     * promise: views of one storage may be copied between). Returns false when there is nothing to copy.
     */
    public static boolean copyBlocks(Tensor src, long srcOff, long srcStride, Tensor dst, long dstOff, long dstStride,
                                     int rows, long rowLen, boolean accumulate) {
        String op = "copyBlocks";
        required(op, "src", src);
        required(op, "dst", dst);
        if (src.dtype() != dst.dtype()) throw error(op, "dtypes differ: " + src.dtype() + " vs " + dst.dtype(), src, dst);
        check(!accumulate || src.dtype() == DType.F32, op, "accumulate needs float tensors, got " + src.dtype());
        check(rows >= 0 && rowLen >= 0 && srcOff >= 0 && dstOff >= 0 && srcStride >= 0 && dstStride >= 0, op,
                "negative size, offset or stride: rows=" + rows + " rowLen=" + rowLen + " src offset " + srcOff
                        + " stride " + srcStride + ", dst offset " + dstOff + " stride " + dstStride);
        if (rows == 0 || rowLen == 0) return false;
        long srcEnd = srcOff + (rows - 1) * srcStride + rowLen, dstEnd = dstOff + (rows - 1) * dstStride + rowLen;
        if (srcEnd > src.numel() || dstEnd > dst.numel())
            throw error(op, rows + " blocks of " + rowLen + " (src offset " + srcOff + " stride " + srcStride
                    + ", dst offset " + dstOff + " stride " + dstStride + ") exceed", src, dst);
        return true;
    }

    /** permute: perm is a permutation of x's axes; out has the permuted shape and x's dtype; out is not x. Returns out's dims. */
    public static int[] permute(Tensor x, int[] perm, Tensor out) {
        String op = "permute";
        required(op, "x", x);
        required(op, "perm", perm);
        required(op, "out", out);
        int rank = x.rank();
        if (perm.length != rank) throw error(op, "permutation " + Arrays.toString(perm) + " does not match rank of", x);
        boolean[] seen = new boolean[rank];
        int[] od = new int[rank];
        for (int i = 0; i < rank; i++) {
            int p = perm[i];
            if (p < 0 || p >= rank || seen[p]) throw error(op, "invalid permutation " + Arrays.toString(perm) + " for", x);
            seen[p] = true;
            od[i] = x.dim(p);
        }
        Checks.shape(op, "out", out, Shape.of(od));
        if (x.dtype() != out.dtype()) throw error(op, "dtypes differ: " + x.dtype() + " vs " + out.dtype(), x, out);
        distinct(op, "out", out, "x", x);
        return od;
    }

    // ------------------------------------------------------------------ resampling

    /** resizeBilinear: float x [B, C, H, W] and out [B, C, OH, OW]; H, W &gt; 0 unless out is empty. */
    public static void resizeBilinear(Tensor x, Tensor out) { resize("resizeBilinear", "x", x, "out", out); }

    /** resizeBilinearBackward: float gout [B, C, OH, OW] and gx [B, C, H, W]; H, W &gt; 0 unless gout is empty. */
    public static void resizeBilinearBackward(Tensor gout, Tensor gx) { resize("resizeBilinearBackward", "gx", gx, "gout", gout); }

    private static void resize(String op, String inName, Tensor in, String outName, Tensor out) {
        f32(op, inName, in);
        f32(op, outName, out);
        Checks.rank(op, inName, in, 4);
        Checks.rank(op, outName, out, 4);
        if (in.dim(0) != out.dim(0) || in.dim(1) != out.dim(1))
            throw error(op, "batch and channels must match:", in, out);
        if ((in.dim(2) == 0 || in.dim(3) == 0) && out.numel() > 0)
            throw error(op, "empty input cannot be resized:", in, out);
    }

    // ------------------------------------------------------------------ loss

    /**
     * softmaxCrossEntropy: float logits [B, K, ...] (rank &gt;= 2); int labels [B, ...]; classWeights
     * [K] or null; float loss with one element; glogits of logits' shape or null.
     */
    public static void softmaxCrossEntropy(Tensor logits, Tensor labels, Tensor classWeights, Tensor loss, Tensor glogits) {
        String op = "softmaxCrossEntropy";
        f32(op, "logits", logits);
        if (logits.rank() < 2) throw error(op, "logits must be [B, K, ...], got", logits);
        required(op, "labels", labels);
        if (!labels.shape().equals(dropAxis1(logits)))
            throw error(op, "labels must be logits' shape without axis 1:", logits, labels);
        Checks.dtype(op, "labels", labels, DType.I32);
        f32OrNull(op, "classWeights", classWeights, Shape.of(logits.dim(1)));
        f32(op, "loss", loss);
        if (loss.numel() != 1) throw error(op, "loss must have one element, got", loss);
        if (glogits != null) {
            Checks.dtype(op, "glogits", glogits, DType.F32);
            Checks.sameShape(op, logits, glogits);
        }
    }

    // ------------------------------------------------------------------ optimisation

    /** adamw: param, grad, m, v float tensors of one shape; step &gt;= 1. */
    public static void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, int step) {
        String op = "adamw";
        f32(op, "param", param);
        f32(op, "grad", grad);
        f32(op, "m", m);
        f32(op, "v", v);
        Checks.sameShape(op, param, grad);
        Checks.sameShape(op, param, m);
        Checks.sameShape(op, param, v);
        check(step >= 1, op, "step counts from 1, got " + step);
    }

    /** readLater: an F32 tensor of at most Backend.READ_LATER_MAX elements. */
    public static void readLater(Tensor t) {
        f32("readLater", "t", t);
        check(t.numel() <= Backend.READ_LATER_MAX, "readLater", "reads at most " + Backend.READ_LATER_MAX + " elements, got " + t.shape());
    }

    /** adamw with device scalars: as above, and scalars an F32 [R, 3] tensor with 0 &lt;= row &lt; R. */
    public static void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor scalars, int row) {
        adamw(param, grad, m, v, 1);
        String op = "adamw";
        f32(op, "scalars", scalars);
        check(scalars.shape().rank() == 2 && scalars.shape().dim(1) == 3, op, "scalars must be [R, 3], got " + scalars.shape());
        check(row >= 0 && row < scalars.shape().dim(0), op, "row " + row + " is not a row of scalars " + scalars.shape());
    }
}
