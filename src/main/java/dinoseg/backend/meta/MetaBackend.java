package dinoseg.backend.meta;

import dinoseg.backend.Backend;
import dinoseg.backend.MatrixView;
import dinoseg.backend.OpContract;
import dinoseg.tensor.DType;
import dinoseg.tensor.Device;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Storage;
import dinoseg.tensor.Tensor;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The {@link Device#META meta} device, as PyTorch's {@code device="meta"}: tensors have a shape and
 * a dtype but no memory, so a model of any size can be built, its parameters counted and its
 * forward traced for shapes (a ViT-g summary needs no 4.5 GB). Every op runs the same
 * {@link OpContract} checks as the CPU and CUDA backends — so a call with wrong shapes fails here
 * with the same one-line message — and then computes nothing: the caller has already allocated
 * outputs of the right shape, which is all a meta tensor is.
 *
 * <p>What cannot be answered without values is refused: {@link #toFloats}, {@link #toInts} and
 * {@link #sumSquares} throw {@link UnsupportedOperationException} after their argument checks.
 * Host data given to {@link #fromFloats}/{@link #fromInts}/{@link #writeFloats} is checked and
 * dropped. A tensor of another backend is an {@link IllegalArgumentException}.
 *
 * <p>Memory: {@link #peakDeviceBytes} is the most bytes the live meta tensors would have held at
 * once ({@link DType#bytes} per element), counting a tensor from its creation until it is
 * {@linkplain Tensor#close closed} (a tensor that is dropped without closing stays counted) — the
 * figure a device's caching allocator would report for the same sequence of allocations.
 */
public final class MetaBackend implements Backend {
    private final AtomicLong liveBytes = new AtomicLong(), peakBytes = new AtomicLong();

    /** Storage of a meta tensor: a length and a dtype, no elements. */
    private static final class MetaStorage implements Storage {
        private final long length;
        private final DType dtype;
        private final MetaBackend owner;
        private volatile boolean closed;

        MetaStorage(MetaBackend owner, long length, DType dtype) {
            this.owner = owner;
            this.length = length;
            this.dtype = dtype;
        }

        @Override public Device device() { return Device.META; }
        @Override public long length() { return length; }
        @Override public DType dtype() { return dtype; }
        @Override public boolean isClosed() { return closed; }

        @Override public synchronized void close() {
            if (closed) return;
            closed = true;
            owner.liveBytes.addAndGet(-length * dtype.bytes());
        }
    }

    @Override public String name() { return "meta"; }

    @Override public Device device() { return Device.META; }

    /** Bytes of the meta tensors created and not yet closed. */
    public long liveBytes() { return liveBytes.get(); }

    @Override public long peakDeviceBytes() { return peakBytes.get(); }

    @Override public void resetPeakDeviceBytes() { peakBytes.set(liveBytes.get()); }

    private volatile dinoseg.backend.Precision matmulPrecision = dinoseg.backend.Precision.FP32;

    /** Any precision: nothing is computed here, so a summary or an estimate of a bf16 run works as of an fp32 one. */
    @Override public void setMatmulPrecision(dinoseg.backend.Precision precision) {
        matmulPrecision = java.util.Objects.requireNonNull(precision, "precision");
    }

    @Override public dinoseg.backend.Precision matmulPrecision() { return matmulPrecision; }

    private Tensor allocate(Shape shape, DType dtype) {
        Tensor t = new Tensor(new MetaStorage(this, shape.numel(), dtype), shape);
        long now = liveBytes.addAndGet(shape.numel() * dtype.bytes());
        peakBytes.accumulateAndGet(now, Math::max);
        return t;
    }

    /** The tensors are this backend's (the other backends fail the same way in their storage accessors). */
    private void own(Tensor... ts) {
        for (Tensor t : ts) {
            if (t == null) continue;
            if (!(t.storage() instanceof MetaStorage s && s.owner == this))
                throw new IllegalArgumentException("meta backend: tensor " + t.shape() + " lives on " + t.device() + ", not on this meta backend");
            if (s.closed) throw new IllegalStateException("meta backend: tensor " + t.shape() + " was closed");
        }
    }

    private static UnsupportedOperationException noValues(String op, Tensor t) {
        return new UnsupportedOperationException(op + ": meta tensor " + t.shape() + " holds no values");
    }

    // ------------------------------------------------------------------ memory

    @Override public Tensor empty(Shape shape, DType dtype) { return allocate(shape, dtype); }

    @Override public Tensor zeros(Shape shape, DType dtype) { return allocate(shape, dtype); }

    @Override public Tensor fromFloats(float[] data, Shape shape) {
        OpContract.hostData("fromFloats", data, data == null ? 0 : data.length, shape);
        return allocate(shape, DType.F32);
    }

    @Override public Tensor fromInts(int[] data, Shape shape) {
        OpContract.hostData("fromInts", data, data == null ? 0 : data.length, shape);
        return allocate(shape, DType.I32);
    }

    /** A meta tensor of t's shape and dtype; t's values (on any backend) are not read. */
    @Override public Tensor adopt(Tensor t, Backend owner) {
        if (owner == this) return t;
        return allocate(t.shape(), t.dtype());
    }

    @Override public float[] toFloats(Tensor t) {
        OpContract.download("toFloats", t, DType.F32);
        own(t);
        throw noValues("toFloats", t);
    }

    @Override public int[] toInts(Tensor t) {
        OpContract.download("toInts", t, DType.I32);
        own(t);
        throw noValues("toInts", t);
    }

    @Override public void writeFloats(float[] src, int srcOff, Tensor dst, long dstOff, int len) {
        OpContract.write("writeFloats", src, src == null ? 0 : src.length, srcOff, dst, dstOff, len, DType.F32);
        own(dst);
    }

    @Override public void writeInts(int[] src, int srcOff, Tensor dst, long dstOff, int len) {
        OpContract.write("writeInts", src, src == null ? 0 : src.length, srcOff, dst, dstOff, len, DType.I32);
        own(dst);
    }

    @Override public void copy(Tensor src, Tensor dst) {
        OpContract.copy(src, dst);
        own(src, dst);
    }

    @Override public void fill(Tensor t, float value) {
        OpContract.fill(t);
        own(t);
    }

    @Override public void synchronize() { }

    // ------------------------------------------------------------------ matrix products

    @Override public void gemm(int m, int n, int k, float alpha, MatrixView a, MatrixView b, float beta, MatrixView c, int batch) {
        OpContract.gemm(m, n, k, a, b, c, batch);
        own(a.tensor(), b.tensor(), c.tensor());
    }

    // ------------------------------------------------------------------ elementwise and reductions

    @Override public void add(Tensor a, Tensor b, float alpha, Tensor out) {
        OpContract.binary("add", a, b, out);
        own(a, b, out);
    }

    @Override public void mul(Tensor a, Tensor b, Tensor out) {
        OpContract.binary("mul", a, b, out);
        own(a, b, out);
    }

    @Override public void roundTo(Tensor x, dinoseg.backend.Precision precision, Tensor out) {
        OpContract.sameCount("roundTo", "x", x, "out", out);
        java.util.Objects.requireNonNull(precision, "precision");
        own(x, out);
    }

    @Override public void scale(Tensor x, float alpha, Tensor out) {
        OpContract.sameCount("scale", "x", x, "out", out);
        own(x, out);
    }

    @Override public void axpy(float alpha, Tensor x, Tensor y) {
        OpContract.sameCount("axpy", "x", x, "y", y);
        own(x, y);
    }

    @Override public void sumTo(Tensor x, Tensor out) {
        OpContract.sumTo(x, out);
        own(x, out);
    }

    @Override public void sumAll(Tensor x, Tensor out) {
        OpContract.sumAll(x, out);
        own(x, out);
    }

    @Override public double sumSquares(Tensor x) {
        OpContract.sumSquares(x);
        own(x);
        throw noValues("sumSquares", x);
    }

    @Override public void gelu(Tensor x, Tensor out) {
        OpContract.unary("gelu", x, out);
        own(x, out);
    }

    @Override public void geluBackward(Tensor x, Tensor gy, Tensor gx) {
        OpContract.unaryBackward("geluBackward", x, gy, gx);
        own(x, gy, gx);
    }

    @Override public void relu(Tensor x, Tensor out) {
        OpContract.unary("relu", x, out);
        own(x, out);
    }

    @Override public void reluBackward(Tensor x, Tensor gy, Tensor gx) {
        OpContract.unaryBackward("reluBackward", x, gy, gx);
        own(x, gy, gx);
    }

    @Override public void swiglu(Tensor x12, Tensor out) {
        OpContract.swiglu(x12, out);
        own(x12, out);
    }

    @Override public void swigluBackward(Tensor x12, Tensor gy, Tensor gx12) {
        OpContract.swigluBackward(x12, gy, gx12);
        own(x12, gy, gx12);
    }

    @Override public void softmax(Tensor x, int axis, Tensor out) {
        OpContract.softmax(x, axis, out);
        own(x, out);
    }

    @Override public void argmax(Tensor x, Tensor out) {
        OpContract.argmax(x, out);
        own(x, out);
    }

    @Override public void addcmul(Tensor input, Tensor t1, Tensor t2, Tensor out) {
        OpContract.addcmul(input, t1, t2, out);
        own(input, t1, t2, out);
    }

    @Override public void confusionMatrix(Tensor logits, Tensor labels, int ignoreIndex, Tensor counts) {
        OpContract.confusionMatrix(logits, labels, counts);
        own(logits, labels, counts);
    }

    @Override public void flipLastDim(Tensor x, Tensor out) {
        OpContract.flipLastDim(x, out);
        own(x, out);
    }

    // ------------------------------------------------------------------ normalisation

    @Override public void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        OpContract.layerNorm(x, gamma, beta, y, mean, rstd);
        own(x, gamma, beta, y, mean, rstd);
    }

    @Override public void layerNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd,
                                            Tensor gx, Tensor ggamma, Tensor gbeta) {
        OpContract.layerNormBackward(gy, x, gamma, mean, rstd, gx, ggamma, gbeta);
        own(gy, x, gamma, mean, rstd, gx, ggamma, gbeta);
    }

    @Override public void batchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                    boolean training, float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveRstd) {
        OpContract.batchNorm(x, gamma, beta, runningMean, runningVar, training, y, saveMean, saveRstd);
        own(x, gamma, beta, runningMean, runningVar, y, saveMean, saveRstd);
    }

    @Override public void batchNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor saveMean, Tensor saveRstd,
                                            boolean training, Tensor gx, Tensor ggamma, Tensor gbeta) {
        OpContract.batchNormBackward(gy, x, gamma, saveMean, saveRstd, gx, ggamma, gbeta);
        own(gy, x, gamma, saveMean, saveRstd, gx, ggamma, gbeta);
    }

    // ------------------------------------------------------------------ attention

    @Override public void attention(Tensor qkv, int heads, float scale, Tensor out, Tensor lse) {
        OpContract.attention(qkv, heads, out, lse);
        own(qkv, out, lse);
    }

    @Override public void attentionBackward(Tensor qkv, Tensor out, Tensor lse, Tensor gout, int heads, float scale, Tensor gqkv) {
        OpContract.attentionBackward(qkv, out, lse, gout, heads, gqkv);
        own(qkv, out, lse, gout, gqkv);
    }

    // ------------------------------------------------------------------ convolution helpers

    @Override public void im2col(Tensor x, int kh, int kw, int stride, int pad, Tensor cols) {
        OpContract.im2col(x, kh, kw, stride, pad, cols);
        own(x, cols);
    }

    @Override public void col2im(Tensor cols, int kh, int kw, int stride, int pad, Tensor gx) {
        OpContract.col2im(cols, kh, kw, stride, pad, gx);
        own(cols, gx);
    }

    // ------------------------------------------------------------------ layout

    @Override public void copyBlocks(Tensor src, long srcOff, long srcStride, Tensor dst, long dstOff, long dstStride,
                                     int rows, long rowLen, boolean accumulate) {
        OpContract.copyBlocks(src, srcOff, srcStride, dst, dstOff, dstStride, rows, rowLen, accumulate);
        own(src, dst);
    }

    @Override public void permute(Tensor x, int[] perm, Tensor out) {
        OpContract.permute(x, perm, out);
        own(x, out);
    }

    // ------------------------------------------------------------------ resampling

    @Override public void resizeBilinear(Tensor x, Tensor out) {
        OpContract.resizeBilinear(x, out);
        own(x, out);
    }

    @Override public void resizeBilinearBackward(Tensor gout, Tensor gx) {
        OpContract.resizeBilinearBackward(gout, gx);
        own(gout, gx);
    }

    // ------------------------------------------------------------------ loss and optimisation

    @Override public void softmaxCrossEntropy(Tensor logits, Tensor labels, Tensor classWeights, int ignoreIndex,
                                              Tensor loss, Tensor glogits) {
        OpContract.softmaxCrossEntropy(logits, labels, classWeights, loss, glogits);
        own(logits, labels, classWeights, loss, glogits);
    }

    @Override public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2,
                                float eps, float weightDecay, int step) {
        OpContract.adamw(param, grad, m, v, step);
        own(param, grad, m, v);
    }

    @Override public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor scalars, int row, float beta1,
                                float beta2, float eps, float weightDecay) {
        OpContract.adamw(param, grad, m, v, scalars, row);
        own(param, grad, m, v, scalars);
    }
}
