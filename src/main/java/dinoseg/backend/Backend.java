package dinoseg.backend;

import dinoseg.tensor.DType;
import dinoseg.tensor.Device;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/**
 * Every primitive operation of the engine. One interface, two implementations (pure-Java CPU and
 * CUDA); the autograd layer and the model never ask which one they run on.
 *
 * <p>Conventions shared by every method:
 * <ul>
 *   <li>Tensors are dense, contiguous and row-major; "NCHW" means [batch, channels, height, width].</li>
 *   <li>Output tensors are passed in, allocated by the caller with the right shape; an op
 *       <em>overwrites</em> them unless the method says it accumulates.</li>
 *   <li>Unless stated, an output may be the same tensor as an input of the same shape (in place).</li>
 *   <li>Shapes are checked where an op starts; a mismatch throws {@link IllegalArgumentException}
 *       whose message names the op and the shapes involved (see {@link Checks}).</li>
 *   <li>Optional outputs and inputs documented "or null" may be null.</li>
 *   <li>Ops are asynchronous on devices that queue work; {@link #toFloats} and {@link #synchronize}
 *       wait.</li>
 * </ul>
 */
public interface Backend extends AutoCloseable {

    /** A short name for logs: "cpu", "cuda:0 (NVIDIA H100 ...)". */
    String name();

    Device device();

    // ------------------------------------------------------------------ memory

    /** A new tensor with unspecified contents. */
    Tensor empty(Shape shape, DType dtype);

    default Tensor empty(Shape shape) { return empty(shape, DType.F32); }

    /** A new tensor filled with zeros. */
    Tensor zeros(Shape shape, DType dtype);

    default Tensor zeros(Shape shape) { return zeros(shape, DType.F32); }

    /** A new float tensor holding a copy of {@code data} (length must equal the shape's element count). */
    Tensor fromFloats(float[] data, Shape shape);

    /** A new int tensor holding a copy of {@code data}. */
    Tensor fromInts(int[] data, Shape shape);

    /** Copies a float tensor to a new host array (waits for pending work). */
    float[] toFloats(Tensor t);

    /** Copies an int tensor to a new host array (waits for pending work). */
    int[] toInts(Tensor t);

    /** Writes {@code len} host floats from {@code src[srcOff..]} into {@code dst} starting at element {@code dstOff}. */
    void writeFloats(float[] src, int srcOff, Tensor dst, long dstOff, int len);

    /** Writes {@code len} host ints from {@code src[srcOff..]} into {@code dst} starting at element {@code dstOff}. */
    void writeInts(int[] src, int srcOff, Tensor dst, long dstOff, int len);

    /** dst = src (same element count and dtype). */
    void copy(Tensor src, Tensor dst);

    /** Sets every element of a float tensor to {@code value}. */
    void fill(Tensor t, float value);

    /** Waits until all queued work has finished. */
    void synchronize();

    /** A new tensor filled with {@code value}. */
    default Tensor full(Shape shape, float value) {
        Tensor t = empty(shape, DType.F32);
        fill(t, value);
        return t;
    }

    /** A copy of {@code t} (which may live on any backend) on this backend. */
    default Tensor adopt(Tensor t, Backend owner) {
        if (owner == this) return t;
        return t.dtype() == DType.F32 ? fromFloats(owner.toFloats(t), t.shape()) : fromInts(owner.toInts(t), t.shape());
    }

    // ------------------------------------------------------------------ matrix products

    /**
     * Batched, strided single-precision GEMM on row-major matrices (BLAS sgemm, cuBLAS
     * cublasSgemmStridedBatched). For {@code i} in [0, batch):
     * <pre>C_i = alpha * op(A_i) * op(B_i) + beta * C_i</pre>
     * op(A_i) is m×k, op(B_i) is k×n and C_i is m×n; each operand is a {@link MatrixView}: matrix i
     * starts at element {@code offset + i*stride} of its tensor, rows are {@code ld} elements apart,
     * and a transposed view stores op(X)'s transpose (A stored k×m, B stored n×k). A stride of 0
     * reuses one matrix for every batch entry. When beta is 0, C is not read (NaNs in it do not
     * propagate); when k is 0, C = beta * C.
     *
     * @throws IllegalArgumentException (see {@link OpContract#gemm}) when a size is negative, an
     *         operand is null or not F32, an operand's batch of matrices does not lie inside its
     *         tensor ({@code ld} below the stored row length, a negative offset or stride, or the
     *         last element beyond the tensor), C is transposed, or C shares storage with A or B
     */
    void gemm(int m, int n, int k, float alpha, MatrixView a, MatrixView b, float beta, MatrixView c, int batch);

    // ------------------------------------------------------------------ elementwise and reductions

    /** out = a + alpha * b, where b's shape broadcasts to a's (right-aligned; each dim equal or 1). out has a's shape. */
    void add(Tensor a, Tensor b, float alpha, Tensor out);

    /** out = a * b, where b broadcasts to a (LayerScale, per-channel factors, masks). out has a's shape. */
    void mul(Tensor a, Tensor b, Tensor out);

    /** out = alpha * x. */
    void scale(Tensor x, float alpha, Tensor out);

    /** y += alpha * x (same element count). Used to accumulate gradients. */
    void axpy(float alpha, Tensor x, Tensor y);

    /**
     * Sums {@code x} over the dimensions along which {@code out}'s shape was broadcast, so that
     * {@code out} (whose shape broadcasts to x's) receives the gradient of a broadcast operand.
     * Overwrites {@code out}. out must not be x.
     */
    void sumTo(Tensor x, Tensor out);

    /** out (one element) = sum of all elements of x, accumulated in double precision on the CPU. */
    void sumAll(Tensor x, Tensor out);

    /** Sum of squares of all elements (gradient norms), returned to the host. */
    double sumSquares(Tensor x);

    /** Exact GELU: out = x * 0.5 * (1 + erf(x / sqrt(2))). */
    void gelu(Tensor x, Tensor out);

    /** gx = gy * GELU'(x). gx may be gy. */
    void geluBackward(Tensor x, Tensor gy, Tensor gx);

    /** out = max(x, 0). */
    void relu(Tensor x, Tensor out);

    /** gx = gy where x &gt; 0, else 0. gx may be gy. */
    void reluBackward(Tensor x, Tensor gy, Tensor gx);

    /**
     * SwiGLU gate (DINOv2's SwiGLUFFN): x12 is [..., 2H] holding x1 = x12[..., :H] and
     * x2 = x12[..., H:]; out [..., H] = silu(x1) * x2. out must not be x12.
     */
    void swiglu(Tensor x12, Tensor out);

    /** gx12 [..., 2H] = gradient of {@link #swiglu} given gy [..., H]. */
    void swigluBackward(Tensor x12, Tensor gy, Tensor gx12);

    /** Softmax over {@code axis} (e.g. axis 1 of NCHW logits). out may be x. */
    void softmax(Tensor x, int axis, Tensor out);

    /** Index of the largest value over axis 1 of x [B, K, ...] into the int tensor out [B, ...] (first on ties). */
    void argmax(Tensor x, Tensor out);

    /** Reverses the last dimension (horizontal flip of NCHW images). out must not be x. */
    void flipLastDim(Tensor x, Tensor out);

    // ------------------------------------------------------------------ normalisation

    /**
     * LayerNorm over the last dimension C of x [..., C]: y = (x - mean) * rstd * gamma + beta with
     * rstd = 1/sqrt(var + eps) (biased variance). mean and rstd are [rows] (rows = numel / C),
     * saved for the backward.
     */
    void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd);

    /**
     * Gradients of {@link #layerNorm}: gx is overwritten; ggamma and gbeta (each [C], or null)
     * are overwritten with the sums over rows.
     */
    void layerNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd,
                           Tensor gx, Tensor ggamma, Tensor gbeta);

    /**
     * BatchNorm2d over x [B, C, H, W] (statistics per channel over B, H, W).
     * Training: batch mean and biased variance normalise x; saveMean/saveRstd [C] receive them
     * (rstd = 1/sqrt(var + eps)); running stats are updated in place as
     * {@code run = (1 - momentum) * run + momentum * stat} with the unbiased variance (PyTorch).
     * Eval: the running statistics normalise x, and saveMean/saveRstd receive them.
     */
    void batchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                   boolean training, float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveRstd);

    /**
     * Gradients of {@link #batchNorm}. In training mode the statistics depend on x; in eval mode
     * they are constants. gx overwritten; ggamma, gbeta (or null) overwritten.
     */
    void batchNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor saveMean, Tensor saveRstd,
                           boolean training, Tensor gx, Tensor ggamma, Tensor gbeta);

    // ------------------------------------------------------------------ attention

    /**
     * Fused multi-head scaled dot-product attention, softmax streamed (flash-attention style: no
     * tokens×tokens matrix is stored). qkv is [B, N, 3*H*D] laid out as (3, H, D) along the last
     * dimension, the output of DINOv2's qkv Linear. out is [B, N, H*D] laid out as (H, D) — the
     * input of the projection. lse [B, H, N] receives the log-sum-exp of each row of scaled
     * scores, the only statistic the backward needs. Typically scale = 1/sqrt(D).
     */
    void attention(Tensor qkv, int heads, float scale, Tensor out, Tensor lse);

    /** Gradient of {@link #attention}: gqkv [B, N, 3*H*D] overwritten from gout [B, N, H*D]. */
    void attentionBackward(Tensor qkv, Tensor out, Tensor lse, Tensor gout, int heads, float scale, Tensor gqkv);

    // ------------------------------------------------------------------ convolution helpers

    /**
     * Unfolds x [B, C, H, W] for a kh×kw convolution with the given stride and zero padding into
     * cols [B, OH*OW, C*kh*kw]: one row per output position, columns ordered (c, ky, kx) like a
     * PyTorch conv weight [Cout, C, kh, kw] flattened. OH = (H + 2*pad - kh)/stride + 1.
     */
    void im2col(Tensor x, int kh, int kw, int stride, int pad, Tensor cols);

    /** Adjoint of {@link #im2col}: gx [B, C, H, W] is overwritten with the folded sum of cols. */
    void col2im(Tensor cols, int kh, int kw, int stride, int pad, Tensor gx);

    // ------------------------------------------------------------------ layout

    /**
     * Copies {@code rows} blocks of {@code rowLen} elements: block r goes from
     * {@code src[srcOff + r*srcStride ...]} to {@code dst[dstOff + r*dstStride ...]}; adds into dst
     * instead when {@code accumulate}. The building block of concat and slice. src and dst must not
     * overlap.
     */
    void copyBlocks(Tensor src, long srcOff, long srcStride, Tensor dst, long dstOff, long dstStride,
                    int rows, long rowLen, boolean accumulate);

    /** out = x with its dimensions permuted: out.dim(i) = x.dim(perm[i]). out must not be x. */
    void permute(Tensor x, int[] perm, Tensor out);

    // ------------------------------------------------------------------ resampling

    /**
     * Bilinear resize of x [B, C, H, W] to out [B, C, OH, OW] with align_corners=false, the
     * semantics of PyTorch's {@code F.interpolate(x, size=(OH, OW), mode="bilinear")}.
     */
    void resizeBilinear(Tensor x, Tensor out);

    /** Adjoint of {@link #resizeBilinear}: gx [B, C, H, W] overwritten from gout [B, C, OH, OW]. */
    void resizeBilinearBackward(Tensor gout, Tensor gx);

    // ------------------------------------------------------------------ loss

    /**
     * Softmax cross-entropy over classes (axis 1) of logits [B, K, ...] with int labels [B, ...].
     * Pixels whose label equals {@code ignoreIndex}, or is outside [0, K), are ignored. With class
     * weights w [K] (or null for ones) the loss is sum(w[y] * nll) / sum(w[y]) over kept pixels,
     * PyTorch's reduction="mean". When every pixel is ignored the loss is 0 (PyTorch gives NaN).
     * loss has one element. glogits (or null), same shape as logits, is overwritten with
     * d loss / d logits.
     */
    void softmaxCrossEntropy(Tensor logits, Tensor labels, Tensor classWeights, int ignoreIndex,
                             Tensor loss, Tensor glogits);

    // ------------------------------------------------------------------ optimisation

    /**
     * One AdamW step (PyTorch's torch.optim.AdamW) on a parameter, in place:
     * p -= lr*wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
     * p -= lr * (m/(1-b1^step)) / (sqrt(v/(1-b2^step)) + eps). step counts from 1.
     */
    void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
               float eps, float weightDecay, int step);

    /**
     * Peak bytes of device memory held by live tensors since the backend opened (PyTorch's
     * max_memory_allocated), or -1 where the backend does not track it (the CPU: its tensors live
     * on the Java heap, which the JVM's memory pools measure).
     */
    default long peakDeviceBytes() { return -1; }

    /** Releases the backend's resources (device memory, threads). */
    @Override default void close() { }
}
