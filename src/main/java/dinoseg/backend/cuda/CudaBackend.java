package dinoseg.backend.cuda;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends.UnavailableException;
import dinoseg.backend.MatrixView;
import dinoseg.backend.OpContract;
import dinoseg.backend.Precision;
import dinoseg.tensor.DType;
import dinoseg.tensor.Device;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import jcuda.CudaException;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;

/**
 * The CUDA backend: JCuda's driver API on the device's primary context, one stream, the kernels of
 * {@code kernels/*.cu} loaded from the jar's fatbin, a caching allocator, pinned staging buffers for
 * uploads, and cuBLAS for GEMM when libcublas.so.12 loads (our tiled kernel otherwise).
 *
 * <p>This class is the dispatch: each op checks its arguments with {@link OpContract} (the same
 * checks as every backend) and hands the work to the launcher of its op family —
 * {@link CudaGemmOps}, {@link CudaElementwiseOps}, {@link CudaReductionOps}, {@link CudaNormOps},
 * {@link CudaAttentionOps}, {@link CudaImageOps}, {@link CudaLayoutOps}, {@link CudaAdamW} — on top
 * of {@link CudaContext} (driver, context, stream, kernels, launches) and {@link CudaMemory}
 * (allocation and transfers). A tensor of another backend fails with {@link IllegalArgumentException}.
 *
 * <p>All work is queued on one stream in call order, so ops return before the GPU has finished;
 * {@link #toFloats}, {@link #toInts}, {@link #sumSquares} and {@link #synchronize} wait. A backend
 * instance is meant to be driven by one thread at a time (like the stream it owns); any thread may
 * call it, the context is made current on first use.
 */
public final class CudaBackend implements Backend {
    private final CudaContext ctx;
    private final CudaMemory mem;
    private final CudaGemmOps gemmOps;
    private final CudaElementwiseOps elementwise;
    private final CudaReductionOps reductions;
    private final CudaNormOps norms;
    private final CudaAttentionOps attentionOps;
    private final CudaImageOps images;
    private final CudaLayoutOps layout;
    private final CudaAdamW optimizer;
    private final String name;

    // ------------------------------------------------------------------ opening

    /** Opens device 0; throws {@link UnavailableException} with one line saying what is missing. */
    public static CudaBackend open() { return open(0); }

    /** Opens device {@code ordinal}; throws {@link UnavailableException} with one line saying what is missing. */
    public static CudaBackend open(int ordinal) { return new CudaBackend(CudaContext.open(ordinal)); }

    private CudaBackend(CudaContext ctx) {
        this.ctx = ctx;
        this.mem = new CudaMemory(ctx);
        this.gemmOps = new CudaGemmOps(ctx, mem);
        this.elementwise = new CudaElementwiseOps(ctx);
        this.reductions = new CudaReductionOps(ctx, mem);
        this.norms = new CudaNormOps(ctx, mem);
        this.attentionOps = new CudaAttentionOps(ctx, mem);
        this.images = new CudaImageOps(ctx, mem);
        this.layout = new CudaLayoutOps(ctx);
        this.optimizer = new CudaAdamW(ctx);
        this.name = String.format(java.util.Locale.ROOT, "cuda:%d (%s, sm_%d%d, %.0f GiB, driver CUDA %s, gemm: %s)",
                ctx.device.index(), ctx.gpu, ctx.major, ctx.minor, ctx.totalBytes / 1073741824.0, ctx.driverVersion,
                gemmOps.path().equals("cuBLAS") ? "cuBLAS" : "dinoseg kernel");
    }

    /** See {@link CudaContext#describeLinkError}. */
    static String describeLinkError(Throwable e) { return CudaContext.describeLinkError(e); }

    /** First line of a message, at most 200 characters. */
    static String oneLine(String m) { return CudaContext.oneLine(m); }

    /** The driver's description of a CUDA error (see {@link CudaContext#describe}). */
    static String describe(CudaException e) { return CudaContext.describe(e); }

    /** The device address of t (for tests that launch a kernel directly). */
    static CUdeviceptr ptr(Tensor t) { return CudaMemory.ptr(t); }

    /** Device address of element {@code elem} of t. */
    static CUdeviceptr ptr(Tensor t, long elem) { return CudaMemory.ptr(t, elem); }

    /** The loaded kernel {@code name} (for tests that launch a kernel directly). */
    CUfunction kernelFunction(String name) { ctx.bind(); return ctx.function(name); }

    /** Which GEMM implementation runs: "cuBLAS" or "kernel". */
    public String gemmPath() { return gemmOps.path(); }

    /** Bytes held by live tensors. */
    public long liveBytes() { return mem.liveBytes(); }

    /** Bytes the allocator holds cached for reuse. */
    public long cachedBytes() { return mem.cachedBytes(); }

    @Override public long peakDeviceBytes() { return mem.peakBytes(); }

    /** How often cuMemAlloc was called. */
    public long deviceAllocations() { return mem.deviceAllocations(); }

    @Override public void resetPeakDeviceBytes() { mem.resetPeak(); }

    /** Tensors the garbage collector had to free because nobody closed them (0 when every owner frees what it made). */
    public long cleanerReleases() { return mem.cleanerReleases(); }

    /** Returns cached device memory to the driver. */
    public void emptyCache() { mem.emptyCache(); }

    @Override public String name() { return name; }

    @Override public Device device() { return ctx.device; }

    // ------------------------------------------------------------------ memory

    @Override public Tensor empty(Shape shape, DType dtype) { return mem.empty(shape, dtype); }

    @Override public Tensor zeros(Shape shape, DType dtype) { return mem.zeros(shape, dtype); }

    @Override public Tensor fromFloats(float[] data, Shape shape) {
        OpContract.hostData("fromFloats", data, data == null ? 0 : data.length, shape);
        return mem.fromFloats(data, shape);
    }

    @Override public Tensor fromInts(int[] data, Shape shape) {
        OpContract.hostData("fromInts", data, data == null ? 0 : data.length, shape);
        return mem.fromInts(data, shape);
    }

    @Override public float[] toFloats(Tensor t) {
        OpContract.download("toFloats", t, DType.F32);
        return mem.toFloats(t);
    }

    @Override public int[] toInts(Tensor t) {
        OpContract.download("toInts", t, DType.I32);
        return mem.toInts(t);
    }

    /** {@inheritDoc} cuMemcpyDtoHAsync into a page-locked slot and an event (see PinnedReads). */
    @Override public PendingRead readLater(Tensor t) {
        OpContract.readLater(t);
        return mem.readLater(t);
    }

    @Override public void writeFloats(float[] src, int srcOff, Tensor dst, long dstOff, int len) {
        OpContract.write("writeFloats", src, src == null ? 0 : src.length, srcOff, dst, dstOff, len, DType.F32);
        mem.writeFloats(src, srcOff, dst, dstOff, len);
    }

    @Override public void writeInts(int[] src, int srcOff, Tensor dst, long dstOff, int len) {
        OpContract.write("writeInts", src, src == null ? 0 : src.length, srcOff, dst, dstOff, len, DType.I32);
        mem.writeInts(src, srcOff, dst, dstOff, len);
    }

    @Override public void copy(Tensor src, Tensor dst) {
        OpContract.copy(src, dst);
        mem.copy(src, dst);
    }

    @Override public void fill(Tensor t, float value) {
        OpContract.fill(t);
        elementwise.fill(t, value);
    }

    @Override public void synchronize() {
        ctx.bind();
        ctx.sync();
    }

    // ------------------------------------------------------------------ graphs

    @Override public boolean capturesGraphs() { return true; }

    /**
     * {@inheritDoc} The stream is captured in CU_STREAM_CAPTURE_MODE_GLOBAL; the allocator serves the
     * body from a pool kept for the graph (new device memory, if needed, is allocated in relaxed mode).
     */
    @Override public Graph capture(Runnable body) {
        java.util.Objects.requireNonNull(body, "body");
        return CudaGraph.capture(ctx, mem, body);
    }

    /** Bytes held by open graphs (their intermediates and outputs). */
    public long graphBytes() { return mem.graphBytes(); }

    // ------------------------------------------------------------------ gemm

    @Override public Precision matmulPrecision() { return gemmOps.precision(); }

    /** {@inheritDoc} BF16 and TF32 run on the tensor-core kernels (sm_80+; the fatbin holds nothing older). */
    @Override public void setMatmulPrecision(Precision precision) {
        gemmOps.setPrecision(java.util.Objects.requireNonNull(precision, "precision"));
        attentionOps.setPrecision(precision);
    }

    @Override public void gemm(int m, int n, int k, float alpha, MatrixView a, MatrixView b, float beta, MatrixView c, int batch) {
        OpContract.gemm(m, n, k, a, b, c, batch);
        gemmOps.gemm(m, n, k, alpha, a, b, beta, c, batch);
    }

    /** {@inheritDoc} Under BF16 and TF32: one launch of gemm_bf16_tc / gemm_tf32_tc with the bias (and bf16 rounding) in the epilogue. */
    @Override public void linear(Tensor x, Tensor w, Tensor bias, int rows, int n, int k, Tensor y) {
        Precision p = gemmOps.precision();
        if (p == Precision.FP32) { Backend.super.linear(x, w, bias, rows, n, k, y); return; }
        fusedLinear("linear", x, w, bias, rows, n, k, y, null, false, null, null);
    }

    /**
     * {@inheritDoc} One GEMM launch (gemm_bf16_tc / gemm_tf32_tc, or sgemm_batched in fp32 when cuBLAS is
     * not loaded) whose epilogue adds the bias, rounds, stores aux and applies GELU.
     */
    @Override public void linearGelu(Tensor x, Tensor w, Tensor bias, int rows, int n, int k, Tensor aux, Tensor y) {
        OpContract.linearEpilogue("linearGelu", rows, n, aux, null, null);
        if (aux != null) dinoseg.backend.Checks.f32("linearGelu", "aux", aux);
        if (!fusedLinear("linearGelu", x, w, bias, rows, n, k, y, aux, true, null, null))
            Backend.super.linearGelu(x, w, bias, rows, n, k, aux, y);
    }

    /** {@inheritDoc} One GEMM launch (as {@link #linearGelu}) whose epilogue applies gamma and adds the residual. */
    @Override public void linearScaled(Tensor x, Tensor w, Tensor bias, Tensor gamma, Tensor residual, int rows, int n, int k, Tensor y) {
        OpContract.linearEpilogue("linearScaled", rows, n, null, gamma, residual);
        if (gamma != null) dinoseg.backend.Checks.f32("linearScaled", "gamma", gamma);
        if (residual != null) dinoseg.backend.Checks.f32("linearScaled", "residual", residual);
        if (!fusedLinear("linearScaled", x, w, bias, rows, n, k, y, null, false, gamma, residual))
            Backend.super.linearScaled(x, w, bias, gamma, residual, rows, n, k, y);
    }

    /**
     * y = epilogue(x · wᵀ) as one GEMM launch: the tensor-core kernels under BF16/TF32, sgemm_batched in
     * FP32 when cuBLAS is not loaded; false (nothing done) when FP32 runs on cuBLAS, whose product has no
     * epilogue here.
     */
    private boolean fusedLinear(String op, Tensor x, Tensor w, Tensor bias, int rows, int n, int k, Tensor y,
                                Tensor aux, boolean gelu, Tensor gamma, Tensor residual) {
        if (bias != null && bias.numel() != n)
            throw new IllegalArgumentException(op + ": bias has " + bias.numel() + " elements, not " + n + " (one per output column)");
        MatrixView a = MatrixView.of(x, k), b = MatrixView.of(w, k).t(), c = MatrixView.of(y, n);
        OpContract.gemm(rows, n, k, a, b, c, 1);
        if (bias != null) dinoseg.backend.Checks.f32(op, "bias", bias);
        Precision p = gemmOps.precision();
        CudaGemmOps.Epilogue ep = new CudaGemmOps.Epilogue(CudaMemory.ptrOrNull(bias), p == Precision.BF16, gelu,
                CudaMemory.ptrOrNull(aux), CudaMemory.ptrOrNull(gamma), CudaMemory.ptrOrNull(residual));
        if (p != Precision.FP32) { gemmOps.tensorCoreGemm(p, rows, n, k, 1f, a, b, 0f, c, 1, ep); return true; }
        return gemmOps.fp32LinearKernel(rows, n, k, a, b, c, ep);
    }

    /** {@link #gemm} on our tiled kernel regardless of cuBLAS (same checks; the tests compare both paths). */
    public void gemmKernel(int m, int n, int k, float alpha, MatrixView a, MatrixView b, float beta, MatrixView c, int batch) {
        OpContract.gemm(m, n, k, a, b, c, batch);
        gemmOps.kernelGemm(m, n, k, alpha, a, b, beta, c, batch);
    }

    /** The tiled kernel on raw device pointers, unchecked (for tests that drive the kernel directly). */
    void kernelGemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                    CUdeviceptr pa, int lda, long strideA, CUdeviceptr pb, int ldb, long strideB,
                    float beta, CUdeviceptr pc, int ldc, long strideC, int batch) {
        ctx.bind();
        gemmOps.kernelGemm(transA, transB, m, n, k, alpha, pa, lda, strideA, pb, ldb, strideB, beta, pc, ldc, strideC, batch);
    }

    // ------------------------------------------------------------------ elementwise and reductions

    @Override public void add(Tensor a, Tensor b, float alpha, Tensor out) {
        OpContract.binary("add", a, b, out);
        elementwise.add(a, b, alpha, out);
    }

    @Override public void mul(Tensor a, Tensor b, Tensor out) {
        OpContract.binary("mul", a, b, out);
        elementwise.mul(a, b, out);
    }

    @Override public void roundTo(Tensor x, Precision precision, Tensor out) {
        OpContract.sameCount("roundTo", "x", x, "out", out);
        if (java.util.Objects.requireNonNull(precision, "precision") == Precision.FP32) {
            if (x != out) copy(x, out);   // bit for bit (a multiply by 1 would quiet a signalling NaN)
        } else {
            elementwise.roundTo(x, precision, out);
        }
    }

    @Override public void scale(Tensor x, float alpha, Tensor out) {
        OpContract.sameCount("scale", "x", x, "out", out);
        elementwise.scale(x, alpha, out);
    }

    @Override public void axpy(float alpha, Tensor x, Tensor y) {
        OpContract.sameCount("axpy", "x", x, "y", y);
        elementwise.axpy(alpha, x, y);
    }

    @Override public void sumTo(Tensor x, Tensor out) {
        OpContract.sumTo(x, out);
        reductions.sumTo(x, out);
    }

    @Override public void sumAll(Tensor x, Tensor out) {
        OpContract.sumAll(x, out);
        reductions.sumAll(x, out);
    }

    @Override public double sumSquares(Tensor x) {
        OpContract.sumSquares(x);
        return reductions.sumSquares(x);
    }

    @Override public void gelu(Tensor x, Tensor out) {
        OpContract.unary("gelu", x, out);
        elementwise.unary("gelu_fwd", x, out);
    }

    @Override public void geluBackward(Tensor x, Tensor gy, Tensor gx) {
        OpContract.unaryBackward("geluBackward", x, gy, gx);
        elementwise.unaryBackward("gelu_bwd", x, gy, gx);
    }

    @Override public void relu(Tensor x, Tensor out) {
        OpContract.unary("relu", x, out);
        elementwise.unary("relu_fwd", x, out);
    }

    @Override public void reluBackward(Tensor x, Tensor gy, Tensor gx) {
        OpContract.unaryBackward("reluBackward", x, gy, gx);
        elementwise.unaryBackward("relu_bwd", x, gy, gx);
    }

    @Override public void swiglu(Tensor x12, Tensor out) {
        elementwise.swiglu(x12, out, OpContract.swiglu(x12, out));
    }

    @Override public void swigluBackward(Tensor x12, Tensor gy, Tensor gx12) {
        elementwise.swigluBackward(x12, gy, gx12, OpContract.swigluBackward(x12, gy, gx12));
    }

    @Override public void softmax(Tensor x, int axis, Tensor out) {
        reductions.softmax(x, OpContract.softmax(x, axis, out), out);
    }

    @Override public void argmax(Tensor x, Tensor out) {
        OpContract.argmax(x, out);
        reductions.argmax(x, out);
    }

    @Override public void addcmul(Tensor input, Tensor t1, Tensor t2, Tensor out) {
        OpContract.addcmul(input, t1, t2, out);
        elementwise.addcmul(input, t1, t2, out);
    }

    @Override public void confusionMatrix(Tensor logits, Tensor labels, int ignoreIndex, Tensor counts) {
        OpContract.confusionMatrix(logits, labels, counts);
        reductions.confusionMatrix(logits, labels, ignoreIndex, counts);
    }

    @Override public void flipLastDim(Tensor x, Tensor out) {
        OpContract.flipLastDim(x, out);
        layout.flipLastDim(x, out);
    }

    // ------------------------------------------------------------------ normalisation

    @Override public void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        int rows = OpContract.layerNorm(x, gamma, beta, y, mean, rstd);
        norms.layerNorm(x, gamma, beta, eps, y, mean, rstd, rows);
    }

    @Override public void layerNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd,
                                            Tensor gx, Tensor ggamma, Tensor gbeta) {
        int rows = OpContract.layerNormBackward(gy, x, gamma, mean, rstd, gx, ggamma, gbeta);
        norms.layerNormBackward(gy, x, gamma, mean, rstd, gx, ggamma, gbeta, rows);
    }

    @Override public void batchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                    boolean training, float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveRstd) {
        OpContract.batchNorm(x, gamma, beta, runningMean, runningVar, training, y, saveMean, saveRstd);
        norms.batchNorm(x, gamma, beta, runningMean, runningVar, training, momentum, eps, y, saveMean, saveRstd);
    }

    @Override public void batchNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor saveMean, Tensor saveRstd,
                                            boolean training, Tensor gx, Tensor ggamma, Tensor gbeta) {
        OpContract.batchNormBackward(gy, x, gamma, saveMean, saveRstd, gx, ggamma, gbeta);
        norms.batchNormBackward(gy, x, gamma, saveMean, saveRstd, training, gx, ggamma, gbeta);
    }

    // ------------------------------------------------------------------ attention

    @Override public void attention(Tensor qkv, int heads, float scale, Tensor out, Tensor lse) {
        attentionOps.attention(qkv, OpContract.attention(qkv, heads, out, lse), scale, out, lse);
    }

    @Override public void attentionBackward(Tensor qkv, Tensor out, Tensor lse, Tensor gout, int heads, float scale, Tensor gqkv) {
        attentionOps.attentionBackward(qkv, out, lse, gout, OpContract.attentionBackward(qkv, out, lse, gout, heads, gqkv), scale, gqkv);
    }

    // ------------------------------------------------------------------ convolution helpers, layout, resampling

    @Override public void im2col(Tensor x, int kh, int kw, int stride, int pad, Tensor cols) {
        images.im2col(x, kh, kw, stride, pad, cols, OpContract.im2col(x, kh, kw, stride, pad, cols));
    }

    @Override public void col2im(Tensor cols, int kh, int kw, int stride, int pad, Tensor gx) {
        images.col2im(cols, kh, kw, stride, pad, gx, OpContract.col2im(cols, kh, kw, stride, pad, gx));
    }

    @Override public void copyBlocks(Tensor src, long srcOff, long srcStride, Tensor dst, long dstOff, long dstStride,
                                     int rows, long rowLen, boolean accumulate) {
        if (OpContract.copyBlocks(src, srcOff, srcStride, dst, dstOff, dstStride, rows, rowLen, accumulate))
            layout.copyBlocks(src, srcOff, srcStride, dst, dstOff, dstStride, rows, rowLen, accumulate);
    }

    @Override public void permute(Tensor x, int[] perm, Tensor out) {
        OpContract.permute(x, perm, out);
        layout.permute(x, perm, out);
    }

    @Override public void resizeBilinear(Tensor x, Tensor out) {
        OpContract.resizeBilinear(x, out);
        images.resizeBilinear(x, out);
    }

    @Override public void resizeBilinearBackward(Tensor gout, Tensor gx) {
        OpContract.resizeBilinearBackward(gout, gx);
        images.resizeBilinearBackward(gout, gx);
    }

    // ------------------------------------------------------------------ loss and optimisation

    @Override public void softmaxCrossEntropy(Tensor logits, Tensor labels, Tensor classWeights, int ignoreIndex,
                                              Tensor loss, Tensor glogits) {
        OpContract.softmaxCrossEntropy(logits, labels, classWeights, loss, glogits);
        reductions.softmaxCrossEntropy(logits, labels, classWeights, ignoreIndex, loss, glogits);
    }

    @Override public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
                                float eps, float weightDecay, int step) {
        OpContract.adamw(param, grad, m, v, step);
        optimizer.adamw(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step);
    }

    @Override public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor scalars, int row, float beta1,
                                float beta2, float eps, float weightDecay) {
        OpContract.adamw(param, grad, m, v, scalars, row);
        optimizer.adamw(param, grad, m, v, scalars, row, beta1, beta2, eps, weightDecay);
    }

    // ------------------------------------------------------------------ closing

    /** Waits for queued work, then frees device memory, cuBLAS, the kernels, the stream and the context. */
    @Override public synchronized void close() {
        if (ctx.isClosed()) return;
        ctx.bind();
        ctx.sync();
        gemmOps.close();
        mem.close();
        ctx.close();
    }

    @Override public String toString() { return name; }
}
