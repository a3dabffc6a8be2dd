package dinoseg.backend.cpu;

import dinoseg.backend.Backend;
import dinoseg.backend.MatrixView;
import dinoseg.backend.OpContract;
import dinoseg.backend.Precision;
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
 *
 * <p>This class holds the memory ops and the dispatch: each op checks its arguments with
 * {@link OpContract} (the same checks as every backend) and hands the work to the class of its op
 * family — {@link CpuGemm}, {@link CpuElementwise}, {@link CpuReductions}, {@link CpuNorms},
 * {@link CpuAttention}, {@link CpuConv}, {@link CpuLayout}, {@link CpuResize}, {@link CpuLoss},
 * {@link CpuAdamW}. A tensor of another backend fails with {@link IllegalArgumentException}.
 */
public final class CpuBackend implements Backend {

    /** Whether gemm runs the Vector API micro-kernel ({@link VectorGemm}) or the scalar one. */
    private final boolean vectorGemm;
    private final CpuArrayPool pool = new CpuArrayPool(CpuArrayPool.defaultCapBytes());

    /** The backend with the fastest GEMM kernel this JVM can run (see {@link #gemmKernel()}). */
    public CpuBackend() { this(CpuGemm.VECTOR_AVAILABLE); }

    /** Package-private: a backend pinned to one GEMM kernel (tests run both). */
    CpuBackend(boolean vectorGemm) {
        if (vectorGemm && !CpuGemm.VECTOR_AVAILABLE)
            throw new IllegalStateException("cpu backend: the Vector API GEMM kernel needs --add-modules " + CpuGemm.VECTOR_MODULE);
        this.vectorGemm = vectorGemm;
    }

    /** The GEMM micro-kernel in use, e.g. "vector 6x32 (512-bit)" or "scalar 4-row". */
    public String gemmKernel() { return CpuGemm.kernelName(vectorGemm); }

    @Override public String name() { return "cpu (gemm: " + gemmKernel() + ")"; }

    @Override public Device device() { return Device.CPU; }

    // ------------------------------------------------------------------ memory

    /**
     * Unspecified contents, as the Backend contract says: a cached array is handed out as its last
     * tensor left it (no zero-filling pass, which cost 5-6% of a step when every empty was zeroed);
     * the test suite poisons these arrays ({@link CpuArrayPool#POISON}) so an op reading what it did
     * not write fails there.
     */
    @Override public Tensor empty(Shape shape, DType dtype) {
        int n = shape.size();
        return dtype == DType.F32 ? new Tensor(new CpuStorage(pool.floatsUninitialized(n), pool), shape)
                : new Tensor(new CpuStorage(pool.intsUninitialized(n), pool), shape);
    }

    /** Zeros; the array comes from this backend's cache of closed tensors' arrays ({@link CpuArrayPool}) when one fits. */
    @Override public Tensor zeros(Shape shape, DType dtype) {
        int n = shape.size();
        return dtype == DType.F32 ? new Tensor(new CpuStorage(pool.floats(n), pool), shape)
                : new Tensor(new CpuStorage(pool.ints(n), pool), shape);
    }

    /** Bytes of closed tensors' arrays kept for reuse. */
    public long cachedBytes() { return pool.cachedBytes(); }

    /** Drops the cached arrays (the garbage collector then reclaims them). */
    public void emptyCache() { pool.clear(); }

    @Override public Tensor fromFloats(float[] data, Shape shape) {
        OpContract.hostData("fromFloats", data, data == null ? 0 : data.length, shape);
        float[] a = pool.floatsUninitialized(data.length);   // every element is copied over
        System.arraycopy(data, 0, a, 0, data.length);
        return new Tensor(new CpuStorage(a, pool), shape);
    }

    @Override public Tensor fromInts(int[] data, Shape shape) {
        OpContract.hostData("fromInts", data, data == null ? 0 : data.length, shape);
        int[] a = pool.intsUninitialized(data.length);
        System.arraycopy(data, 0, a, 0, data.length);
        return new Tensor(new CpuStorage(a, pool), shape);
    }

    @Override public float[] toFloats(Tensor t) {
        OpContract.download("toFloats", t, DType.F32);
        return floats(t).clone();
    }

    @Override public int[] toInts(Tensor t) {
        OpContract.download("toInts", t, DType.I32);
        return ints(t).clone();
    }

    @Override public void writeFloats(float[] src, int srcOff, Tensor dst, long dstOff, int len) {
        OpContract.write("writeFloats", src, src == null ? 0 : src.length, srcOff, dst, dstOff, len, DType.F32);
        System.arraycopy(src, srcOff, floats(dst), (int) dstOff, len);
    }

    @Override public void writeInts(int[] src, int srcOff, Tensor dst, long dstOff, int len) {
        OpContract.write("writeInts", src, src == null ? 0 : src.length, srcOff, dst, dstOff, len, DType.I32);
        System.arraycopy(src, srcOff, ints(dst), (int) dstOff, len);
    }

    @Override public void copy(Tensor src, Tensor dst) {
        OpContract.copy(src, dst);
        if (src.dtype() == DType.F32) {
            float[] s = floats(src), d = floats(dst);
            if (s != d) System.arraycopy(s, 0, d, 0, s.length);
        } else {
            int[] s = ints(src), d = ints(dst);
            if (s != d) System.arraycopy(s, 0, d, 0, s.length);
        }
    }

    @Override public void fill(Tensor t, float value) {
        OpContract.fill(t);
        float[] a = floats(t);
        Parallel.forRange(a.length, 1, (s, e) -> Arrays.fill(a, s, e, value));
    }

    @Override public void synchronize() { }

    // ------------------------------------------------------------------ matrix products

    private volatile Precision matmulPrecision = Precision.FP32;

    /** Whether a linear weight read unchanged {@link CpuStorage#PACK_AFTER_READS} times is packed once for the GEMM (property {@code dinoseg.cpu.prepack}, default true). */
    private volatile boolean prepack = !"false".equals(System.getProperty("dinoseg.cpu.prepack"));

    /**
     * Turns weight prepacking on or off (default on; the system property {@code dinoseg.cpu.prepack=false}
     * starts it off, as ONNX Runtime's {@code session.disable_prepacking}). With it on, a B operand read
     * as a linear weight w [n, k] (B = wᵀ: transposed, at offset 0, ld = k, batch 1, fp32) three times
     * with no write in between is packed once into the vector GEMM's panel layout and kept beside w until
     * an op next writes w; products with it skip packing B and have the same bits as without. A
     * frozen ViT-S/14 keeps 81 MiB of such copies. No copy is made when it would take more than a
     * quarter of the free heap. {@code bench --mode gemm} turns it off, to time whole products as BLAS does.
     */
    public void setPrepack(boolean on) { prepack = on; }

    /** Whether weight prepacking is on ({@link #setPrepack}). */
    public boolean prepack() { return prepack; }

    /** Room for a packed copy of {@code bytes}: at most a quarter of what the heap can still grow to hold. */
    private static boolean packFits(long bytes) {
        Runtime rt = Runtime.getRuntime();
        return bytes * 4 <= rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
    }

    @Override public Precision matmulPrecision() { return matmulPrecision; }

    @Override public void setMatmulPrecision(Precision precision) {
        matmulPrecision = java.util.Objects.requireNonNull(precision, "precision");
    }

    /**
     * As {@link Backend#linear}, with the bias written into y first and the product added to it
     * (beta = 1), so the bias costs no pass of its own over y; y = b + x·wᵀ then sums in the GEMM's
     * order (the product's slabs onto the bias), within float rounding of x·wᵀ + b.
     */
    @Override public void linear(Tensor x, Tensor w, Tensor bias, int rows, int n, int k, Tensor y) {
        if (bias == null || rows == 0) { Backend.super.linear(x, w, bias, rows, n, k, y); return; }
        if (bias.numel() != n)
            throw new IllegalArgumentException("linear: bias has " + bias.numel() + " elements, not " + n + " (one per output column)");
        OpContract.gemm(rows, n, k, MatrixView.of(x, k), MatrixView.of(w, k).t(), MatrixView.of(y, n), 1);
        float[] b = floats(bias), o = floats(y);
        Parallel.forRange(rows, n, (s, e) -> { for (int r = s; r < e; r++) System.arraycopy(b, 0, o, r * n, n); });
        gemm(rows, n, k, 1f, MatrixView.of(x, k), MatrixView.of(w, k).t(), 1f, MatrixView.of(y, n), 1);
        if (matmulPrecision == Precision.BF16) roundTo(y, Precision.BF16, y);
    }

    /**
     * {@inheritDoc} Under BF16/TF32 the operands' tensors are rounded into copies first (correct,
     * not fast: one pass over each operand's storage per call), then multiplied in fp32.
     */
    @Override public void gemm(int m, int n, int k, float alpha, MatrixView a, MatrixView b, float beta, MatrixView c, int batch) {
        OpContract.gemm(m, n, k, a, b, c, batch);
        float[] fa = CpuStorage.floatsToRead(a.tensor()), fb = CpuStorage.floatsToRead(b.tensor()), fc = floats(c.tensor());
        if (m == 0 || n == 0 || batch == 0) return;
        Precision p = matmulPrecision;
        if (p == Precision.FP32 && prepack && vectorGemm && batch == 1 && b.transposed() && b.offset() == 0 && b.ld() == k
                && (long) n * k == b.tensor().numel() && VectorGemm.packedBFits(m)) {
            float[] packed = CpuStorage.linearPack(b.tensor(), n, k, CpuBackend::packFits);
            if (packed != null) {
                VectorGemm.gemmPackedB(a.transposed(), m, n, k, alpha, fa, a.offset(), a.ld(), packed, beta, fc, c.offset(), c.ld(), true);
                return;
            }
        }
        if (p != Precision.FP32) {
            float[] ra = p.rounded(fa);
            fb = fb == fa ? ra : p.rounded(fb);
            fa = ra;
        }
        CpuGemm.gemm(a.transposed(), b.transposed(), m, n, k, alpha, fa, a.offset(), a.ld(), a.stride(),
                fb, b.offset(), b.ld(), b.stride(), beta, fc, c.offset(), c.ld(), c.stride(), batch, vectorGemm);
    }

    // ------------------------------------------------------------------ elementwise and reductions

    @Override public void add(Tensor a, Tensor b, float alpha, Tensor out) {
        OpContract.binary("add", a, b, out);
        CpuElementwise.add(a, b, alpha, out);
    }

    @Override public void mul(Tensor a, Tensor b, Tensor out) {
        OpContract.binary("mul", a, b, out);
        CpuElementwise.mul(a, b, out);
    }

    @Override public void addcmul(Tensor input, Tensor t1, Tensor t2, Tensor out) {
        OpContract.addcmul(input, t1, t2, out);
        CpuElementwise.addcmul(input, t1, t2, out);
    }

    @Override public void roundTo(Tensor x, Precision precision, Tensor out) {
        OpContract.sameCount("roundTo", "x", x, "out", out);
        java.util.Objects.requireNonNull(precision, "precision");
        float[] a = floats(x), r = floats(out);
        int n = (int) x.numel();
        for (int i = 0; i < n; i++) r[i] = precision.round(a[i]);
    }

    @Override public void scale(Tensor x, float alpha, Tensor out) {
        OpContract.sameCount("scale", "x", x, "out", out);
        CpuElementwise.scale(x, alpha, out);
    }

    @Override public void axpy(float alpha, Tensor x, Tensor y) {
        OpContract.sameCount("axpy", "x", x, "y", y);
        CpuElementwise.axpy(alpha, x, y);
    }

    @Override public void sumTo(Tensor x, Tensor out) {
        OpContract.sumTo(x, out);
        CpuReductions.sumTo(x, out);
    }

    @Override public void sumAll(Tensor x, Tensor out) {
        OpContract.sumAll(x, out);
        CpuReductions.sumAll(x, out);
    }

    @Override public double sumSquares(Tensor x) {
        OpContract.sumSquares(x);
        return CpuReductions.sumSquares(x);
    }

    @Override public void gelu(Tensor x, Tensor out) {
        OpContract.unary("gelu", x, out);
        CpuElementwise.gelu(x, out);
    }

    @Override public void geluBackward(Tensor x, Tensor gy, Tensor gx) {
        OpContract.unaryBackward("geluBackward", x, gy, gx);
        CpuElementwise.geluBackward(x, gy, gx);
    }

    @Override public void relu(Tensor x, Tensor out) {
        OpContract.unary("relu", x, out);
        CpuElementwise.relu(x, out);
    }

    @Override public void reluBackward(Tensor x, Tensor gy, Tensor gx) {
        OpContract.unaryBackward("reluBackward", x, gy, gx);
        CpuElementwise.reluBackward(x, gy, gx);
    }

    @Override public void swiglu(Tensor x12, Tensor out) {
        OpContract.swiglu(x12, out);
        CpuElementwise.swiglu(x12, out);
    }

    @Override public void swigluBackward(Tensor x12, Tensor gy, Tensor gx12) {
        OpContract.swigluBackward(x12, gy, gx12);
        CpuElementwise.swigluBackward(x12, gy, gx12);
    }

    @Override public void softmax(Tensor x, int axis, Tensor out) {
        CpuReductions.softmax(x, OpContract.softmax(x, axis, out), out);
    }

    @Override public void argmax(Tensor x, Tensor out) {
        OpContract.argmax(x, out);
        CpuReductions.argmax(x, out);
    }

    @Override public void confusionMatrix(Tensor logits, Tensor labels, int ignoreIndex, Tensor counts) {
        OpContract.confusionMatrix(logits, labels, counts);
        CpuReductions.confusionMatrix(logits, labels, ignoreIndex, counts);
    }

    @Override public void flipLastDim(Tensor x, Tensor out) {
        OpContract.flipLastDim(x, out);
        CpuLayout.flipLastDim(x, out);
    }

    // ------------------------------------------------------------------ normalisation

    @Override public void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        OpContract.layerNorm(x, gamma, beta, y, mean, rstd);
        CpuNorms.layerNorm(x, gamma, beta, eps, y, mean, rstd);
    }

    @Override public void layerNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd,
                                            Tensor gx, Tensor ggamma, Tensor gbeta) {
        OpContract.layerNormBackward(gy, x, gamma, mean, rstd, gx, ggamma, gbeta);
        CpuNorms.layerNormBackward(gy, x, gamma, mean, rstd, gx, ggamma, gbeta);
    }

    @Override public void batchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                    boolean training, float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveRstd) {
        OpContract.batchNorm(x, gamma, beta, runningMean, runningVar, training, y, saveMean, saveRstd);
        CpuNorms.batchNorm(x, gamma, beta, runningMean, runningVar, training, momentum, eps, y, saveMean, saveRstd);
    }

    @Override public void batchNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor saveMean, Tensor saveRstd,
                                            boolean training, Tensor gx, Tensor ggamma, Tensor gbeta) {
        OpContract.batchNormBackward(gy, x, gamma, saveMean, saveRstd, gx, ggamma, gbeta);
        CpuNorms.batchNormBackward(gy, x, gamma, saveMean, saveRstd, training, gx, ggamma, gbeta);
    }

    // ------------------------------------------------------------------ attention

    @Override public void attention(Tensor qkv, int heads, float scale, Tensor out, Tensor lse) {
        OpContract.Heads s = OpContract.attention(qkv, heads, out, lse);
        if (s.empty()) return;
        boolean bf16 = matmulPrecision == Precision.BF16;
        CpuAttention.forward(bf16 ? Precision.BF16.rounded(floats(qkv)) : floats(qkv), s.batch(), s.tokens(), heads, s.headDim(), scale,
                floats(out), lse == null ? null : floats(lse), bf16);
    }

    @Override public void attentionBackward(Tensor qkv, Tensor out, Tensor lse, Tensor gout, int heads, float scale, Tensor gqkv) {
        OpContract.Heads s = OpContract.attentionBackward(qkv, out, lse, gout, heads, gqkv);
        if (s.empty()) { Arrays.fill(floats(gqkv), 0f); return; }
        boolean bf16 = matmulPrecision == Precision.BF16;
        CpuAttention.backward(bf16 ? Precision.BF16.rounded(floats(qkv)) : floats(qkv), floats(out), floats(lse),
                bf16 ? Precision.BF16.rounded(floats(gout)) : floats(gout), s.batch(), s.tokens(), heads, s.headDim(), scale,
                floats(gqkv), bf16);
    }

    // ------------------------------------------------------------------ convolution helpers

    @Override public void im2col(Tensor x, int kh, int kw, int stride, int pad, Tensor cols) {
        CpuConv.im2col(x, kh, kw, stride, pad, cols, OpContract.im2col(x, kh, kw, stride, pad, cols));
    }

    @Override public void col2im(Tensor cols, int kh, int kw, int stride, int pad, Tensor gx) {
        CpuConv.col2im(cols, kh, kw, stride, pad, gx, OpContract.col2im(cols, kh, kw, stride, pad, gx));
    }

    // ------------------------------------------------------------------ layout

    @Override public void copyBlocks(Tensor src, long srcOff, long srcStride, Tensor dst, long dstOff, long dstStride,
                                     int rows, long rowLen, boolean accumulate) {
        if (OpContract.copyBlocks(src, srcOff, srcStride, dst, dstOff, dstStride, rows, rowLen, accumulate))
            CpuLayout.copyBlocks(src, srcOff, srcStride, dst, dstOff, dstStride, rows, rowLen, accumulate);
    }

    @Override public void permute(Tensor x, int[] perm, Tensor out) {
        CpuLayout.permute(x, perm, OpContract.permute(x, perm, out), out);
    }

    // ------------------------------------------------------------------ resampling

    @Override public void resizeBilinear(Tensor x, Tensor out) {
        OpContract.resizeBilinear(x, out);
        CpuResize.resizeBilinear(x, out);
    }

    @Override public void resizeBilinearBackward(Tensor gout, Tensor gx) {
        OpContract.resizeBilinearBackward(gout, gx);
        CpuResize.resizeBilinearBackward(gout, gx);
    }

    // ------------------------------------------------------------------ loss and optimisation

    @Override public void softmaxCrossEntropy(Tensor logits, Tensor labels, Tensor classWeights, int ignoreIndex,
                                              Tensor loss, Tensor glogits) {
        OpContract.softmaxCrossEntropy(logits, labels, classWeights, loss, glogits);
        CpuLoss.softmaxCrossEntropy(logits, labels, classWeights, ignoreIndex, loss, glogits);
    }

    @Override public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
                                float eps, float weightDecay, int step) {
        OpContract.adamw(param, grad, m, v, step);
        CpuAdamW.adamw(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step);
    }

    @Override public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor scalars, int row, float beta1,
                                float beta2, float eps, float weightDecay) {
        OpContract.adamw(param, grad, m, v, scalars, row);
        CpuAdamW.adamw(param, grad, m, v, scalars, row, beta1, beta2, eps, weightDecay);
    }
}
