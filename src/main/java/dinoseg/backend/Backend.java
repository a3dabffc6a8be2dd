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
 *   <li>Tensors hold F32 unless a method says otherwise: labels and argmax's output are I32;
 *       copy, copyBlocks, permute and flipLastDim move either dtype.</li>
 *   <li>Arguments are checked where an op starts, by every backend through the same code
 *       ({@link OpContract}): a wrong shape, rank or dtype, a null where a tensor is required,
 *       an out-of-range size, offset or stride, or an output that must not alias an input throws
 *       {@link IllegalArgumentException} whose one-line message starts with the op's name and
 *       names the shapes involved (see {@link Checks}), identical on the CPU and on CUDA.
 *       A tensor of another backend is an {@link IllegalArgumentException} too.</li>
 *   <li>Optional outputs and inputs documented "or null" may be null. The statistics a forward
 *       saves for its backward (layerNorm's mean/rstd, batchNorm's saveMean/saveRstd,
 *       attention's lse) are such optional outputs — PyTorch's F.layer_norm, F.batch_norm and
 *       scaled_dot_product_attention return none — and required inputs of the backward.</li>
 *   <li>Per-channel and per-feature parameters have exactly the documented shape ([C], not
 *       [1, C]), as PyTorch requires of a norm's weight.</li>
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

    /** A new float tensor holding a copy of {@code data}; its length must equal the shape's element count. */
    Tensor fromFloats(float[] data, Shape shape);

    /** A new int tensor holding a copy of {@code data}. */
    Tensor fromInts(int[] data, Shape shape);

    /** Copies a float tensor to a new host array (waits for pending work). */
    float[] toFloats(Tensor t);

    /** Copies an int tensor to a new host array (waits for pending work). */
    int[] toInts(Tensor t);

    /** The values of a {@link #readLater} read, once the work queued before it has run. */
    interface PendingRead {
        /** Waits for the copy (not for work queued after it) and returns the values. */
        float[] get();
    }

    /**
     * Starts copying the small F32 tensor {@code t} (at most {@link #READ_LATER_MAX} elements) to
     * the host after the work queued so far, without waiting: as {@code loss.to("cpu",
     * non_blocking=True)} with an event in PyTorch, the host queues the next step before it reads a
     * step's loss. t may be freed or overwritten by later work at once. A backend that does not
     * queue work reads at once. The read must be taken with {@code get()} before
     * {@link #READ_LATER_SLOTS} later reads have started.
     *
     * @throws IllegalArgumentException when t is not F32 or has more than READ_LATER_MAX elements
     */
    default PendingRead readLater(Tensor t) {
        OpContract.readLater(t);
        float[] v = toFloats(t);
        return () -> v;
    }

    /** Largest tensor {@link #readLater} takes, and how many reads may be pending at once. */
    int READ_LATER_MAX = 64, READ_LATER_SLOTS = 8;

    /**
     * Writes {@code len} host floats from {@code src[srcOff..]} into the F32 tensor {@code dst}
     * starting at element {@code dstOff}; both ranges must lie inside their arrays.
     */
    void writeFloats(float[] src, int srcOff, Tensor dst, long dstOff, int len);

    /** As {@link #writeFloats} for ints into an I32 tensor. */
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

    /**
     * PyTorch's {@code F.linear} on rows: y [rows, n] = x [rows, k] · w [n, k]ᵀ + bias [n] (bias null:
     * none), the product under {@link #matmulPrecision()}; under {@link Precision#BF16} y is then rounded
     * to bf16 once, after the bias, as autocast's bf16 {@code addmm} stores it ({@link #roundTo}). x, w and
     * y are contiguous with rows·k, n·k and rows·n elements (any shapes: a patch-embedding weight [n, 3, p, p]
     * is a [n, k] matrix); y must not share storage with x or w; bias may be null.
     * Default: {@link #gemm}, {@link #add}, {@link #roundTo}. The CUDA backend makes it one tensor-core
     * launch under BF16 and TF32, with the bias and the rounding in the GEMM's epilogue.
     *
     * @throws IllegalArgumentException as {@link #gemm}, or when bias does not have n elements
     */
    default void linear(Tensor x, Tensor w, Tensor bias, int rows, int n, int k, Tensor y) {
        if (bias != null && bias.numel() != n)
            throw new IllegalArgumentException("linear: bias has " + bias.numel() + " elements, not " + n + " (one per output column)");
        gemm(rows, n, k, 1f, MatrixView.of(x, k), MatrixView.of(w, k).t(), 0f, MatrixView.of(y, n), 1);
        if (bias != null) add(y, bias.reshape(n), 1f, y);
        if (matmulPrecision() == Precision.BF16) roundTo(y, Precision.BF16, y);
    }

    /**
     * {@link #linear} followed by exact GELU in one pass where the backend can (cuBLASLt's
     * {@code CUBLASLT_EPILOGUE_GELU_AUX_BIAS}): aux [rows, n] = x · wᵀ + bias (under BF16 rounded to
     * bf16, exactly what {@link #linear} writes), y [rows, n] = gelu(aux) ({@link #gelu}, not rounded).
     * aux may be null when the pre-activation is not wanted (no backward); y must not share storage with
     * x, w or aux. The MLP's fc1 of a DINOv2 block: its backward needs aux, the next layer reads y.
     * Default: {@link #linear} into aux (or y), then {@link #gelu}. The CUDA backend makes it one GEMM
     * launch with the bias, rounding, aux store and GELU in the epilogue (kernels/tc.cuh TcEpilogue).
     *
     * @throws IllegalArgumentException as {@link #linear}, or when aux does not have rows·n elements
     */
    default void linearGelu(Tensor x, Tensor w, Tensor bias, int rows, int n, int k, Tensor aux, Tensor y) {
        OpContract.linearEpilogue("linearGelu", rows, n, aux, null, null);
        Tensor pre = aux != null ? aux : y;
        linear(x, w, bias, rows, n, k, pre);
        gelu(pre, y);
    }

    /**
     * y [rows, n] = residual + gamma ⊙ linear(x, w, bias): a Linear, DINOv2's LayerScale (gamma [n], one
     * factor per output column) and the residual add in one pass where the backend can. Either of gamma
     * and residual [rows, n] may be null (the step is skipped). Rounded as the separate ops: the linear
     * output as {@link #linear} stores it (bf16 under BF16), then the product and the sum each rounded to
     * float with no fused multiply-add, as {@link #addcmul}, {@link #mul} and {@link #add} round them, so
     * the result has the same bits. residual may be y only when this backend's {@link #linear} reads all
     * of x and w before writing y (always: y must not share storage with x or w).
     * Default: {@link #linear}, then {@link #addcmul} / {@link #mul} / {@link #add}. The CUDA backend
     * makes it one GEMM launch with the LayerScale and residual in the epilogue.
     *
     * @throws IllegalArgumentException as {@link #linear}, or when gamma does not have n elements or
     *         residual not rows·n
     */
    default void linearScaled(Tensor x, Tensor w, Tensor bias, Tensor gamma, Tensor residual, int rows, int n, int k, Tensor y) {
        OpContract.linearEpilogue("linearScaled", rows, n, null, gamma, residual);
        linear(x, w, bias, rows, n, k, y);
        if (gamma != null && residual != null) addcmul(residual, y, gamma.reshape(n), y);
        else if (gamma != null) mul(y, gamma.reshape(n), y);
        else if (residual != null) add(residual, y, 1f, y);
    }

    /**
     * The arithmetic of {@link #gemm} (and so of linear layers, convolutions and every op built on
     * it) and, under BF16, of {@link #attention}'s two products (see there): with {@link Precision#BF16} or {@link Precision#TF32} every element of op(A) and op(B) is
     * first rounded to that format ({@link Precision#round}) and the products are summed in fp32 — on
     * CUDA by the tensor-core kernels of kernels/gemm_tc.cu, on the CPU by rounding the operands
     * before its fp32 GEMM, so both backends compute the same values up to summation order.
     * Default FP32.
     */
    default Precision matmulPrecision() { return Precision.FP32; }

    /**
     * Sets {@link #matmulPrecision()} for the gemm calls that follow (like PyTorch's
     * {@code torch.backends.cuda.matmul.allow_tf32} flag, a setting of the backend, not of a call).
     *
     * @throws UnsupportedOperationException when this backend computes products in fp32 only and
     *         the precision is not FP32
     */
    default void setMatmulPrecision(Precision precision) {
        if (precision != Precision.FP32)
            throw new UnsupportedOperationException(name() + " computes matrix products in fp32 only, not " + precision.flag());
    }

    // ------------------------------------------------------------------ elementwise and reductions

    /** out = a + alpha * b, where b's shape broadcasts to a's (right-aligned; each dim equal or 1). out has a's shape. */
    void add(Tensor a, Tensor b, float alpha, Tensor out);

    /** out = a * b, where b broadcasts to a (LayerScale, per-channel factors, masks). out has a's shape and may be a. */
    void mul(Tensor a, Tensor b, Tensor out);

    /**
     * out = input + t1 * t2 in one pass (torch.addcmul with value 1), rounded as the two ops are: the
     * product is rounded to float before the sum (no fused multiply-add), so the result is bit for bit
     * {@code add(input, mul(t1, t2))}. input, t1 and out have one shape; t2's shape is a suffix of it
     * (a per-channel factor [C] of [..., C], or t1's shape); out may be input or t1. A residual branch's
     * LayerScale and the residual add of a DINOv2 block run as this one op.
     */
    void addcmul(Tensor input, Tensor t1, Tensor t2, Tensor out);

    /** out = alpha * x (same element count). */
    void scale(Tensor x, float alpha, Tensor out);

    /**
     * out = x with every element rounded to {@code precision} ({@link Precision#round}: bf16 to nearest
     * even, tf32 to nearest with ties away; FP32 copies). Same element count; out may be x. This is
     * autocast's storage point: under {@code torch.autocast(dtype=torch.bfloat16)} the output of a
     * matrix product is a bf16 tensor, and {@link dinoseg.autograd.Ops} rounds the fp32 outputs (and
     * the gradients of those products) with this op so fp32 storage holds the values autocast stores.
     *
     * @throws NullPointerException when precision is null
     */
    void roundTo(Tensor x, Precision precision, Tensor out);

    /** y += alpha * x (same element count). Used to accumulate gradients. */
    void axpy(float alpha, Tensor x, Tensor y);

    /**
     * Sums {@code x} over the dimensions along which {@code out}'s shape was broadcast, so that
     * {@code out} (whose shape broadcasts to x's) receives the gradient of a broadcast operand.
     * Overwrites {@code out}, which must not share storage with x.
     */
    void sumTo(Tensor x, Tensor out);

    /** out (one element) = sum of all elements of x, accumulated in double precision on the CPU. */
    void sumAll(Tensor x, Tensor out);

    /** Sum of squares of all elements (gradient norms), returned to the host. */
    double sumSquares(Tensor x);

    /** Exact GELU (PyTorch's approximate="none"): out = x * 0.5 * (1 + erf(x / sqrt(2))), same shape. */
    void gelu(Tensor x, Tensor out);

    /** gx = gy * GELU'(x); x, gy, gx of one shape. gx may be gy. */
    void geluBackward(Tensor x, Tensor gy, Tensor gx);

    /** out = max(x, 0) (same shape). */
    void relu(Tensor x, Tensor out);

    /** gx = gy where x &gt; 0, else 0. gx may be gy. */
    void reluBackward(Tensor x, Tensor gy, Tensor gx);

    /**
     * SwiGLU gate (DINOv2's SwiGLUFFN): x12 is [..., 2H] holding x1 = x12[..., :H] and
     * x2 = x12[..., H:]; out [..., H] = silu(x1) * x2 (so the last dimension of x12 is even and
     * the others equal out's). out must not share storage with x12.
     */
    void swiglu(Tensor x12, Tensor out);

    /** gx12 [..., 2H] = gradient of {@link #swiglu} given gy [..., H]; gx12 must not share storage with gy (it may be x12). */
    void swigluBackward(Tensor x12, Tensor gy, Tensor gx12);

    /** Softmax over {@code axis} in [-rank, rank) (e.g. axis 1 of NCHW logits); out has x's shape and may be x. */
    void softmax(Tensor x, int axis, Tensor out);

    /**
     * Index of the largest value over axis 1 of x [B, K, ...] (K &gt; 0, rank &gt;= 2) into the I32
     * tensor out [B, ...], the first on ties and NaN counting as largest (torch.argmax).
     */
    void argmax(Tensor x, Tensor out);

    /**
     * Adds one batch to a confusion matrix without leaving the device: for every pixel of logits
     * [B, K, ...] whose int label in labels [B, ...] is in [0, K) and not {@code ignoreIndex},
     * {@code counts[label * K + pred] += 1}, where pred is {@link #argmax}'s class for that pixel (the
     * first maximum, NaN counting as largest). counts is an I32 tensor [K, K] (rows: true class,
     * columns: prediction, as MMSegmentation's and torchmetrics' confusion matrices) that is added to,
     * not cleared; its cells are exact 32-bit integers, so the caller reads them back before a cell
     * could pass 2^31 - 1 pixels. The result is deterministic (integer counts).
     */
    void confusionMatrix(Tensor logits, Tensor labels, int ignoreIndex, Tensor counts);

    /** Reverses the last dimension (horizontal flip of NCHW images); x (rank &gt;= 1) and out of one shape and dtype, not sharing storage. */
    void flipLastDim(Tensor x, Tensor out);

    // ------------------------------------------------------------------ normalisation

    /**
     * LayerNorm over the last dimension C of x [..., C] (rank &gt;= 1), PyTorch's F.layer_norm:
     * y = (x - mean) * rstd * gamma + beta with rstd = 1/sqrt(var + eps) (biased variance). y has
     * x's shape; gamma and beta are [C] or null (no scale, no shift). mean and rstd, each null or
     * holding rows = numel / C floats ([rows] or x's shape with C replaced by 1), receive the row
     * statistics for the backward.
     */
    void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd);

    /**
     * Gradients of {@link #layerNorm}: gy, x and gx of one shape; gamma [C] or null; mean and
     * rstd required (the forward's). gx is overwritten and may be gy; ggamma and gbeta (each [C],
     * or null) are overwritten with the sums over rows.
     */
    void layerNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd,
                           Tensor gx, Tensor ggamma, Tensor gbeta);

    /**
     * BatchNorm2d over x [B, C, H, W] (statistics per channel over B, H, W); y has x's shape.
     * gamma, beta, runningMean, runningVar, saveMean and saveRstd are each [C] or null.
     * Training (needs B*H*W &gt; 0): batch mean and biased variance normalise x; saveMean/saveRstd
     * receive them (rstd = 1/sqrt(var + eps)); running stats, when given, are updated in place as
     * {@code run = (1 - momentum) * run + momentum * stat} with the unbiased variance (PyTorch).
     * Eval (needs runningMean and runningVar): the running statistics normalise x, and
     * saveMean/saveRstd receive them.
     */
    void batchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                   boolean training, float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveRstd);

    /**
     * Gradients of {@link #batchNorm}: gy, x, gx [B, C, H, W]; saveMean and saveRstd [C] required
     * (the forward's); gamma [C] or null. In training mode the statistics depend on x; in eval
     * mode they are constants. gx overwritten; ggamma, gbeta ([C] or null) overwritten.
     */
    void batchNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor saveMean, Tensor saveRstd,
                           boolean training, Tensor gx, Tensor ggamma, Tensor gbeta);

    // ------------------------------------------------------------------ attention

    /**
     * Fused multi-head scaled dot-product attention, softmax streamed (flash-attention style: no
     * tokens×tokens matrix is stored). qkv is [B, N, 3*H*D] laid out as (3, H, D) along the last
     * dimension, the output of DINOv2's qkv Linear. out is [B, N, H*D] laid out as (H, D) — the
     * input of the projection, and must not share storage with qkv. lse [B, H, N] (or null)
     * receives the log-sum-exp of each row of scaled scores, the only statistic the backward
     * needs. heads &gt; 0 divides the last dimension by 3; typically scale = 1/sqrt(D). The CUDA
     * kernels take D &lt;= 128 (an {@link IllegalArgumentException} beyond).
     *
     * <p>Under {@link #matmulPrecision()} {@link Precision#BF16} the arithmetic is that of bf16
     * scaled_dot_product_attention on tensor cores (FlashAttention-2): q, k and v rounded to bf16;
     * scores scale·q·k summed in fp32; over key tiles of 64 the running max and sum in fp32, and
     * P = exp(score − running max) rounded to bf16 for P·V, whose sum accumulates in fp32. Both
     * backends tile keys by 64 so they round the same values. FP32 and TF32 compute in fp32.
     */
    void attention(Tensor qkv, int heads, float scale, Tensor out, Tensor lse);

    /**
     * Gradient of {@link #attention}: gqkv [B, N, 3*H*D] overwritten from gout [B, N, H*D], given
     * the forward's qkv, out and lse (required). gqkv must share storage with neither qkv nor gout.
     * Under {@link Precision#BF16} the arithmetic is FlashAttention-2's bf16 backward (PyTorch's bf16
     * scaled_dot_product_attention): q, k, v and gout rounded to bf16; Δ = rowsum(gout∘out), P =
     * exp(scale·q·k − lse), dP = gout·v and dS = P∘(dP − Δ) in fp32; P rounded to bf16 for gv = Pᵀ·gout,
     * dS rounded to bf16 for gq = scale·dS·k and gk = scale·dSᵀ·q; every sum in fp32.
     */
    void attentionBackward(Tensor qkv, Tensor out, Tensor lse, Tensor gout, int heads, float scale, Tensor gqkv);

    // ------------------------------------------------------------------ convolution helpers

    /**
     * Unfolds x [B, C, H, W] for a kh×kw convolution with the given stride and zero padding into
     * cols [B, OH*OW, C*kh*kw]: one row per output position, columns ordered (c, ky, kx) like a
     * PyTorch conv weight [Cout, C, kh, kw] flattened. OH = (H + 2*pad - kh)/stride + 1. kh, kw
     * and stride are positive, pad &gt;= 0, and the kernel fits the padded image.
     */
    void im2col(Tensor x, int kh, int kw, int stride, int pad, Tensor cols);

    /** Adjoint of {@link #im2col}: gx [B, C, H, W] is overwritten with the folded sum of cols. */
    void col2im(Tensor cols, int kh, int kw, int stride, int pad, Tensor gx);

    // ------------------------------------------------------------------ layout

    /**
     * Copies {@code rows} blocks of {@code rowLen} elements: block r goes from
     * {@code src[srcOff + r*srcStride ...]} to {@code dst[dstOff + r*dstStride ...]}; adds into dst
     * instead when {@code accumulate} (F32 only). src and dst have one dtype; sizes, offsets and
     * strides are non-negative and every block lies inside its tensor. The building block of
     * concat and slice. The blocks read and written must not overlap (views of one storage may
     * be copied between).
     */
    void copyBlocks(Tensor src, long srcOff, long srcStride, Tensor dst, long dstOff, long dstStride,
                    int rows, long rowLen, boolean accumulate);

    /** out = x with its dimensions permuted: out.dim(i) = x.dim(perm[i]); same dtype; out must not share storage with x. */
    void permute(Tensor x, int[] perm, Tensor out);

    // ------------------------------------------------------------------ resampling

    /**
     * Bilinear resize of x [B, C, H, W] to out [B, C, OH, OW] with align_corners=false, the
     * semantics of PyTorch's {@code F.interpolate(x, size=(OH, OW), mode="bilinear")}. H and W are
     * positive unless out is empty.
     */
    void resizeBilinear(Tensor x, Tensor out);

    /** Adjoint of {@link #resizeBilinear}: gx [B, C, H, W] overwritten from gout [B, C, OH, OW]. */
    void resizeBilinearBackward(Tensor gout, Tensor gx);

    // ------------------------------------------------------------------ loss

    /**
     * Softmax cross-entropy over classes (axis 1) of logits [B, K, ...] with int labels [B, ...].
     * Pixels whose label equals {@code ignoreIndex}, or is outside [0, K), are ignored. With class
     * weights w, exactly [K] (or null for ones), the loss is sum(w[y] * nll) / sum(w[y]) over kept pixels,
     * PyTorch's reduction="mean". When every pixel is ignored the loss is 0 (PyTorch gives NaN).
     * loss has one element. glogits (or null), same shape as logits, is overwritten with
     * d loss / d logits; it may be logits itself (the gradient then replaces the logits in place).
     */
    void softmaxCrossEntropy(Tensor logits, Tensor labels, Tensor classWeights, int ignoreIndex,
                             Tensor loss, Tensor glogits);

    // ------------------------------------------------------------------ optimisation

    /**
     * One AdamW step (PyTorch's torch.optim.AdamW) on a parameter, in place:
     * p -= lr*wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
     * p -= lr * (m/(1-b1^step)) / (sqrt(v/(1-b2^step)) + eps). param, grad, m and v have one
     * shape; step counts from 1.
     */
    void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
               float eps, float weightDecay, int step);

    /**
     * The same AdamW step with its per-step scalars read from memory of this backend, as
     * {@code torch.optim.AdamW(capturable=True)} keeps its step on the device: row {@code row} of
     * {@code scalars} [R, 3] (F32) holds lr, lr / (1 - beta1^step) and sqrt(1 - beta2^step), each
     * rounded to float from double. A captured graph ({@link #capture}) that holds this launch then
     * steps with whatever the row holds when it replays. Same values as the other overload with the
     * same lr and step.
     *
     * @throws IllegalArgumentException when the shapes differ or row is not a row of scalars
     */
    void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor scalars, int row, float beta1, float beta2,
               float eps, float weightDecay);

    // ------------------------------------------------------------------ graphs

    /**
     * Work queued on the device, recorded once and replayed with one call: a CUDA graph
     * ({@code cuStreamBeginCapture} .. {@code cuGraphInstantiate}, as {@code torch.cuda.CUDAGraph}).
     * A replay runs the recorded kernels and copies again on the same memory: the tensors the work
     * read or wrote when it was recorded (made before the capture, or by it and still alive) hold the
     * inputs and outputs of every replay.
     */
    interface Graph extends AutoCloseable {
        /** Queues the recorded work once more (asynchronous, like the ops it recorded). */
        void replay();

        /** The nodes of the graph (kernels, copies, memsets). */
        int nodes();

        /** Bytes of device memory the graph keeps for its replays (its intermediates and outputs). */
        long bytes();

        /** Frees the graph and returns the memory it kept for its intermediates. */
        @Override void close();
    }

    /** Whether {@link #capture} records graphs on this backend (CUDA). */
    default boolean capturesGraphs() { return false; }

    /**
     * Runs {@code body} while recording the device work it queues into a {@link Graph}; the work
     * does not run now (replay it). The tensors the body makes come from memory kept for the graph,
     * and stay valid for every replay: those still alive after the body are its outputs, rewritten
     * by each replay. The body must not read values back to the host, upload, or wait.
     *
     * @throws UnsupportedOperationException where {@link #capturesGraphs} is false
     * @throws IllegalStateException when the body reads, uploads or waits (the capture is discarded)
     */
    default Graph capture(Runnable body) {
        throw new UnsupportedOperationException("the " + device() + " backend cannot capture graphs (CUDA graphs need a CUDA device)");
    }

    /**
     * Peak bytes of device memory held by live tensors since the backend opened (PyTorch's
     * max_memory_allocated), or -1 where the backend does not track it (the CPU: its tensors live
     * on the Java heap, which the JVM's memory pools measure).
     */
    default long peakDeviceBytes() { return -1; }

    /**
     * Starts a new peak: {@link #peakDeviceBytes} becomes the bytes live now (PyTorch's
     * reset_peak_memory_stats). Nothing where the backend does not track device memory.
     */
    default void resetPeakDeviceBytes() { }

    /** Releases the backend's resources (device memory, threads). */
    @Override default void close() { }
}
