package dinoseg.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;
import java.util.function.Consumer;
import java.util.stream.Stream;

import dinoseg.backend.cuda.CudaTestSupport;
import dinoseg.backend.meta.MetaBackend;
import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The op contract ({@link OpContract}) holds on every backend: a table of bad calls — per op a
 * wrong shape, dtype or rank, a null where a tensor is required, a too-small or badly described
 * GEMM operand, bad offsets, strides or sizes, an output aliasing an input — each run on the CPU
 * backend, on the CUDA backend (the emulated driver under {@code mvn test}) and on the meta backend
 * (shapes without values), each expected to throw {@link IllegalArgumentException} with exactly the
 * same one-line message. A backend that
 * skips the contract for an op fails here (with another message, a NullPointerException, or no
 * exception at all).
 *
 * <p>And the optional outputs the contract allows to be null (LayerNorm's mean/rstd, BatchNorm's
 * saved statistics, attention's lse) are honoured by both backends: leaving them out changes
 * nothing else.
 */
class OpContractTest {

    /** One bad call: what it breaks, the exact message every backend must give, the call itself. */
    record BadCall(String name, String message, Consumer<Backend> call) {
        @Override public String toString() { return name; }
    }

    private static BadCall bad(String name, String message, Consumer<Backend> call) { return new BadCall(name, message, call); }

    private static Tensor f(Backend be, int... dims) { return be.zeros(Shape.of(dims)); }

    private static Tensor i(Backend be, int... dims) { return be.zeros(Shape.of(dims), DType.I32); }

    private static MatrixView m(Tensor t, int ld) { return MatrixView.of(t, ld); }

    static Stream<BadCall> badCalls() {
        return Stream.of(
                // ---- memory
                bad("fromFloats: too few values", "fromFloats: 5 values do not fill shape [2, 3]",
                        be -> be.fromFloats(new float[5], Shape.of(2, 3))),
                bad("fromInts: null data", "fromInts: data is required, got null",
                        be -> be.fromInts(null, Shape.of(2))),
                bad("toInts: float tensor", "toInts: t must be I32, got F32 [2, 3]",
                        be -> be.toInts(f(be, 2, 3))),
                bad("toFloats: int tensor", "toFloats: t must be F32, got I32 [2]",
                        be -> be.toFloats(i(be, 2))),
                bad("writeFloats: past the end", "writeFloats: range [0, +3) of 4 host values to offset 4 does not fit tensor [2, 3]",
                        be -> be.writeFloats(new float[4], 0, f(be, 2, 3), 4, 3)),
                bad("writeFloats: negative source offset", "writeFloats: range [-1, +1) of 4 host values to offset 0 does not fit tensor [3]",
                        be -> be.writeFloats(new float[4], -1, f(be, 3), 0, 1)),
                bad("writeInts: float tensor", "writeInts: dst must be I32, got F32 [3]",
                        be -> be.writeInts(new int[3], 0, f(be, 3), 0, 3)),
                bad("copy: counts differ", "copy: element counts differ: [2, 3] vs [5]",
                        be -> be.copy(f(be, 2, 3), f(be, 5))),
                bad("copy: dtypes differ", "copy: dtypes differ: F32 vs I32 [2] [2]",
                        be -> be.copy(f(be, 2), i(be, 2))),
                bad("copy: null dst", "copy: dst is required, got null",
                        be -> be.copy(f(be, 2), null)),
                bad("fill: int tensor", "fill: t must be F32, got I32 [2]",
                        be -> be.fill(i(be, 2), 1f)),
                // ---- gemm
                bad("gemm: C too small", "gemm: C (1 x 4x4, ld 4, offset 0, stride 0) reaches element 16 beyond tensor [4, 3]",
                        be -> be.gemm(4, 4, 4, 1f, m(f(be, 4, 4), 4), m(f(be, 4, 4), 4), 0f, m(f(be, 4, 3), 4), 1)),
                bad("gemm: leading dimension below the row", "gemm: A is 4x4 but leading dimension 3, offset 0, batch stride 0 are invalid for tensor [4, 4]",
                        be -> be.gemm(4, 4, 4, 1f, m(f(be, 4, 4), 3), m(f(be, 4, 4), 4), 0f, m(f(be, 4, 4), 4), 1)),
                bad("gemm: negative offset", "gemm: B is 4x4 but leading dimension 4, offset -1, batch stride 0 are invalid for tensor [4, 4]",
                        be -> be.gemm(4, 4, 4, 1f, m(f(be, 4, 4), 4), m(f(be, 4, 4), 4).at(-1), 0f, m(f(be, 4, 4), 4), 1)),
                bad("gemm: negative batch stride", "gemm: C is 2x2 but leading dimension 2, offset 0, batch stride -4 are invalid for tensor [8]",
                        be -> be.gemm(2, 2, 2, 1f, m(f(be, 8), 2).batched(4), m(f(be, 8), 2).batched(4), 0f, m(f(be, 8), 2).batched(-4), 2)),
                bad("gemm: offset pushes A out", "gemm: A (1 x 2x2, ld 2, offset 1, stride 0) reaches element 5 beyond tensor [2, 2]",
                        be -> be.gemm(2, 2, 2, 1f, m(f(be, 2, 2), 2).at(1), m(f(be, 2, 2), 2), 0f, m(f(be, 2, 2), 2), 1)),
                bad("gemm: batch stride pushes B out", "gemm: B (2 x 4x4, ld 4, offset 0, stride 16) reaches element 32 beyond tensor [4, 4]",
                        be -> be.gemm(4, 4, 4, 1f, m(f(be, 2, 4, 4), 4).batched(16), m(f(be, 4, 4), 4).batched(16), 0f,
                                m(f(be, 2, 4, 4), 4).batched(16), 2)),
                bad("gemm: transposed A is stored k x m", "gemm: A (1 x 4x2, ld 2, offset 0, stride 0) reaches element 8 beyond tensor [3, 2]",
                        be -> be.gemm(2, 4, 4, 1f, m(f(be, 3, 2), 2).t(), m(f(be, 4, 4), 4), 0f, m(f(be, 2, 4), 4), 1)),
                bad("gemm: negative size", "gemm: negative size m=-1 n=4 k=4 batch=1",
                        be -> be.gemm(-1, 4, 4, 1f, m(f(be, 4, 4), 4), m(f(be, 4, 4), 4), 0f, m(f(be, 4, 4), 4), 1)),
                bad("gemm: int operand", "gemm: B must be F32, got I32 [4, 4]",
                        be -> be.gemm(4, 4, 4, 1f, m(f(be, 4, 4), 4), m(i(be, 4, 4), 4), 0f, m(f(be, 4, 4), 4), 1)),
                bad("gemm: null operand", "gemm: A is required, got null",
                        be -> be.gemm(4, 4, 4, 1f, null, m(f(be, 4, 4), 4), 0f, m(f(be, 4, 4), 4), 1)),
                bad("gemm: transposed C", "gemm: C cannot be transposed [4, 4]",
                        be -> be.gemm(4, 4, 4, 1f, m(f(be, 4, 4), 4), m(f(be, 4, 4), 4), 0f, m(f(be, 4, 4), 4).t(), 1)),
                bad("gemm: C is A", "gemm: C must not share storage with A or B: [4, 4] [4, 4] [4, 4]",
                        be -> { Tensor a = f(be, 4, 4); be.gemm(4, 4, 4, 1f, m(a, 4), m(f(be, 4, 4), 4), 0f, m(a, 4), 1); }),
                // ---- elementwise and reductions
                bad("add: no broadcast", "add: shape [2] does not broadcast to [2, 3]",
                        be -> be.add(f(be, 2, 3), f(be, 2), 1f, f(be, 2, 3))),
                bad("mul: out shape", "mul: shapes differ: [2, 3] vs [3, 2]",
                        be -> be.mul(f(be, 2, 3), f(be, 3), f(be, 3, 2))),
                bad("add: int operand", "add: b must be F32, got I32 [3]",
                        be -> be.add(f(be, 2, 3), i(be, 3), 1f, f(be, 2, 3))),
                bad("scale: counts differ", "scale: element counts differ: [2, 3] vs [5]",
                        be -> be.scale(f(be, 2, 3), 2f, f(be, 5))),
                bad("axpy: null y", "axpy: y is required, got null",
                        be -> be.axpy(1f, f(be, 2), null)),
                bad("sumTo: no broadcast", "sumTo: shape [2] does not broadcast to [2, 3]",
                        be -> be.sumTo(f(be, 2, 3), f(be, 2))),
                bad("sumTo: out is x", "sumTo: out must not share storage with x [2, 3]",
                        be -> { Tensor x = f(be, 2, 3); be.sumTo(x, x); }),
                bad("sumAll: out of two", "sumAll: out must have one element, got [2]",
                        be -> be.sumAll(f(be, 4), f(be, 2))),
                bad("sumSquares: int tensor", "sumSquares: x must be F32, got I32 [2]",
                        be -> be.sumSquares(i(be, 2))),
                bad("gelu: out shape", "gelu: shapes differ: [2, 3] vs [3, 2]",
                        be -> be.gelu(f(be, 2, 3), f(be, 3, 2))),
                bad("relu: int out", "relu: out must be F32, got I32 [2, 3]",
                        be -> be.relu(f(be, 2, 3), i(be, 2, 3))),
                bad("geluBackward: gy shape", "geluBackward: shapes differ: [2, 3] vs [2, 4]",
                        be -> be.geluBackward(f(be, 2, 3), f(be, 2, 4), f(be, 2, 3))),
                bad("reluBackward: null gx", "reluBackward: gx is required, got null",
                        be -> be.reluBackward(f(be, 2, 3), f(be, 2, 3), null)),
                bad("swiglu: out not half", "swiglu: expected x12 [..., 2H] and out [..., H], got [2, 6] [2, 4]",
                        be -> be.swiglu(f(be, 2, 6), f(be, 2, 4))),
                bad("swiglu: odd last dimension", "swiglu: expected x12 [..., 2H] and out [..., H], got [2, 5] [2, 2]",
                        be -> be.swiglu(f(be, 2, 5), f(be, 2, 2))),
                bad("swigluBackward: gx12 shape", "swigluBackward: shapes differ: [2, 6] vs [2, 5]",
                        be -> be.swigluBackward(f(be, 2, 6), f(be, 2, 3), f(be, 2, 5))),
                bad("softmax: axis out of range", "softmax: axis 2 out of range for [2, 3]",
                        be -> be.softmax(f(be, 2, 3), 2, f(be, 2, 3))),
                bad("argmax: float out", "argmax: out must be I32, got F32 [2, 4]",
                        be -> be.argmax(f(be, 2, 3, 4), f(be, 2, 4))),
                bad("argmax: rank 1", "argmax: x must be [B, K, ...], got [5]",
                        be -> be.argmax(f(be, 5), i(be, 5))),
                bad("argmax: out shape", "argmax: out has shape [2, 3], expected [2, 4]",
                        be -> be.argmax(f(be, 2, 3, 4), i(be, 2, 3))),
                bad("argmax: no classes", "argmax: no classes in [2, 0, 4]",
                        be -> be.argmax(f(be, 2, 0, 4), i(be, 2, 4))),
                bad("flipLastDim: dtypes differ", "flipLastDim: dtypes differ: F32 vs I32 [2, 3] [2, 3]",
                        be -> be.flipLastDim(f(be, 2, 3), i(be, 2, 3))),
                bad("flipLastDim: out is x", "flipLastDim: out must not share storage with x [2, 3]",
                        be -> { Tensor x = f(be, 2, 3); be.flipLastDim(x, x); }),
                // ---- normalisation
                bad("layerNorm: gamma of C-1", "layerNorm: gamma has shape [7], expected [8]",
                        be -> be.layerNorm(f(be, 2, 8), f(be, 7), f(be, 8), 1e-6f, f(be, 2, 8), f(be, 2), f(be, 2))),
                bad("layerNorm: gamma [1, C]", "layerNorm: gamma has shape [1, 8], expected [8]",
                        be -> be.layerNorm(f(be, 2, 8), f(be, 1, 8), null, 1e-6f, f(be, 2, 8), null, null)),
                bad("layerNorm: int beta", "layerNorm: beta must be F32, got I32 [8]",
                        be -> be.layerNorm(f(be, 2, 8), null, i(be, 8), 1e-6f, f(be, 2, 8), null, null)),
                bad("layerNorm: mean rows", "layerNorm: mean must hold 2 rows for x [2, 8] [3]",
                        be -> be.layerNorm(f(be, 2, 8), null, null, 1e-6f, f(be, 2, 8), f(be, 3), f(be, 2))),
                bad("layerNorm: rank 0", "layerNorm: x needs rank >= 1, got []",
                        be -> be.layerNorm(f(be), null, null, 1e-6f, f(be), null, null)),
                bad("layerNorm: y shape", "layerNorm: shapes differ: [2, 8] vs [8, 2]",
                        be -> be.layerNorm(f(be, 2, 8), null, null, 1e-6f, f(be, 8, 2), null, null)),
                bad("layerNormBackward: null mean", "layerNormBackward: mean is required, got null",
                        be -> be.layerNormBackward(f(be, 2, 8), f(be, 2, 8), null, null, f(be, 2), f(be, 2, 8), null, null)),
                bad("layerNormBackward: rstd rows", "layerNormBackward: rstd must hold 2 rows for x [2, 8] [4]",
                        be -> be.layerNormBackward(f(be, 2, 8), f(be, 2, 8), null, f(be, 2), f(be, 4), f(be, 2, 8), null, null)),
                bad("layerNormBackward: ggamma shape", "layerNormBackward: ggamma has shape [7], expected [8]",
                        be -> be.layerNormBackward(f(be, 2, 8), f(be, 2, 8), f(be, 8), f(be, 2), f(be, 2), f(be, 2, 8), f(be, 7), null)),
                bad("batchNorm: rank 2", "batchNorm: x must have rank 4, got shape [2, 3]",
                        be -> be.batchNorm(f(be, 2, 3), null, null, null, null, true, 0.1f, 1e-5f, f(be, 2, 3), null, null)),
                bad("batchNorm: gamma shape", "batchNorm: gamma has shape [4], expected [3]",
                        be -> be.batchNorm(f(be, 2, 3, 4, 4), f(be, 4), null, null, null, true, 0.1f, 1e-5f, f(be, 2, 3, 4, 4), null, null)),
                bad("batchNorm: eval without running stats", "batchNorm: eval mode needs runningMean and runningVar for [2, 3, 4, 4]",
                        be -> be.batchNorm(f(be, 2, 3, 4, 4), null, null, f(be, 3), null, false, 0.1f, 1e-5f, f(be, 2, 3, 4, 4), f(be, 3), f(be, 3))),
                bad("batchNorm: training on no values", "batchNorm: no values per channel in training mode: [0, 3, 4, 4]",
                        be -> be.batchNorm(f(be, 0, 3, 4, 4), null, null, null, null, true, 0.1f, 1e-5f, f(be, 0, 3, 4, 4), null, null)),
                bad("batchNorm: int saveRstd", "batchNorm: saveRstd must be F32, got I32 [3]",
                        be -> be.batchNorm(f(be, 2, 3, 4, 4), null, null, null, null, true, 0.1f, 1e-5f, f(be, 2, 3, 4, 4), f(be, 3), i(be, 3))),
                bad("batchNorm: runningVar shape", "batchNorm: runningVar has shape [1, 3], expected [3]",
                        be -> be.batchNorm(f(be, 2, 3, 4, 4), null, null, f(be, 3), f(be, 1, 3), true, 0.1f, 1e-5f, f(be, 2, 3, 4, 4), null, null)),
                bad("batchNormBackward: null saveMean", "batchNormBackward: saveMean is required, got null",
                        be -> be.batchNormBackward(f(be, 2, 3, 4, 4), f(be, 2, 3, 4, 4), null, null, f(be, 3), true, f(be, 2, 3, 4, 4), null, null)),
                bad("batchNormBackward: gx shape", "batchNormBackward: shapes differ: [2, 3, 4, 4] vs [2, 3, 4, 5]",
                        be -> be.batchNormBackward(f(be, 2, 3, 4, 4), f(be, 2, 3, 4, 4), null, f(be, 3), f(be, 3), true, f(be, 2, 3, 4, 5), null, null)),
                // ---- attention
                bad("attention: out shape", "attention: out has shape [1, 5, 6], expected [1, 5, 8]",
                        be -> be.attention(f(be, 1, 5, 24), 2, 1f, f(be, 1, 5, 6), f(be, 1, 2, 5))),
                bad("attention: heads do not divide", "attention: qkv's last dimension is not 3*heads*D for heads=5: [1, 5, 24]",
                        be -> be.attention(f(be, 1, 5, 24), 5, 1f, f(be, 1, 5, 8), f(be, 1, 5, 5))),
                bad("attention: no heads", "attention: heads must be positive, got 0",
                        be -> be.attention(f(be, 1, 5, 24), 0, 1f, f(be, 1, 5, 8), null)),
                bad("attention: lse shape", "attention: lse has shape [1, 5, 2], expected [1, 2, 5]",
                        be -> be.attention(f(be, 1, 5, 24), 2, 1f, f(be, 1, 5, 8), f(be, 1, 5, 2))),
                bad("attention: qkv rank", "attention: qkv must have rank 3, got shape [5, 24]",
                        be -> be.attention(f(be, 5, 24), 2, 1f, f(be, 5, 8), null)),
                bad("attentionBackward: null lse", "attentionBackward: lse is required, got null",
                        be -> be.attentionBackward(f(be, 1, 5, 24), f(be, 1, 5, 8), null, f(be, 1, 5, 8), 2, 1f, f(be, 1, 5, 24))),
                bad("attentionBackward: gqkv is qkv", "attentionBackward: gqkv must not share storage with qkv [1, 5, 24]",
                        be -> { Tensor q = f(be, 1, 5, 24); be.attentionBackward(q, f(be, 1, 5, 8), f(be, 1, 2, 5), f(be, 1, 5, 8), 2, 1f, q); }),
                bad("attentionBackward: gout shape", "attentionBackward: shapes differ: [1, 5, 8] vs [1, 5, 7]",
                        be -> be.attentionBackward(f(be, 1, 5, 24), f(be, 1, 5, 8), f(be, 1, 2, 5), f(be, 1, 5, 7), 2, 1f, f(be, 1, 5, 24))),
                // ---- convolution helpers
                bad("im2col: cols shape", "im2col: cols has shape [1, 9, 17], expected [1, 9, 18]",
                        be -> be.im2col(f(be, 1, 2, 5, 5), 3, 3, 1, 0, f(be, 1, 9, 17))),
                bad("im2col: stride 0", "im2col: invalid kernel 3x3, stride 0, pad 0",
                        be -> be.im2col(f(be, 1, 2, 5, 5), 3, 3, 0, 0, f(be, 1, 9, 18))),
                bad("im2col: kernel over the image", "im2col: kernel 3x3 larger than padded image [1, 2, 2, 2]",
                        be -> be.im2col(f(be, 1, 2, 2, 2), 3, 3, 1, 0, f(be, 1, 1, 18))),
                bad("col2im: image rank", "col2im: gx must have rank 4, got shape [2, 5, 5]",
                        be -> be.col2im(f(be, 1, 9, 18), 3, 3, 1, 0, f(be, 2, 5, 5))),
                // ---- layout
                bad("copyBlocks: past the source", "copyBlocks: 2 blocks of 5 (src offset 30 stride 10, dst offset 0 stride 10) exceed [40] [50]",
                        be -> be.copyBlocks(f(be, 40), 30, 10, f(be, 50), 0, 10, 2, 5, false)),
                bad("copyBlocks: negative rows", "copyBlocks: negative size, offset or stride: rows=-1 rowLen=0 src offset 0 stride 1, dst offset 0 stride 1",
                        be -> be.copyBlocks(f(be, 4), 0, 1, f(be, 4), 0, 1, -1, 0, false)),
                bad("copyBlocks: accumulating ints", "copyBlocks: accumulate needs float tensors, got I32",
                        be -> be.copyBlocks(i(be, 4), 0, 2, i(be, 4), 0, 2, 2, 2, true)),
                bad("copyBlocks: dtypes differ", "copyBlocks: dtypes differ: F32 vs I32 [4] [4]",
                        be -> be.copyBlocks(f(be, 4), 0, 2, i(be, 4), 0, 2, 2, 2, false)),
                bad("permute: out shape", "permute: out has shape [2, 3], expected [3, 2]",
                        be -> be.permute(f(be, 2, 3), new int[] {1, 0}, f(be, 2, 3))),
                bad("permute: repeated axis", "permute: invalid permutation [0, 0] for [2, 3]",
                        be -> be.permute(f(be, 2, 3), new int[] {0, 0}, f(be, 2, 3))),
                bad("permute: wrong length", "permute: permutation [0] does not match rank of [2, 3]",
                        be -> be.permute(f(be, 2, 3), new int[] {0}, f(be, 2, 3))),
                bad("permute: out is x", "permute: out must not share storage with x [2, 2]",
                        be -> { Tensor x = f(be, 2, 2); be.permute(x, new int[] {1, 0}, x); }),
                // ---- resampling
                bad("resizeBilinear: channels differ", "resizeBilinear: batch and channels must match: [1, 2, 4, 4] [1, 3, 8, 8]",
                        be -> be.resizeBilinear(f(be, 1, 2, 4, 4), f(be, 1, 3, 8, 8))),
                bad("resizeBilinear: empty input", "resizeBilinear: empty input cannot be resized: [1, 1, 0, 4] [1, 1, 2, 2]",
                        be -> be.resizeBilinear(f(be, 1, 1, 0, 4), f(be, 1, 1, 2, 2))),
                bad("resizeBilinearBackward: empty gx", "resizeBilinearBackward: empty input cannot be resized: [1, 1, 0, 4] [1, 1, 2, 2]",
                        be -> be.resizeBilinearBackward(f(be, 1, 1, 2, 2), f(be, 1, 1, 0, 4))),
                bad("resizeBilinear: out rank", "resizeBilinear: out must have rank 4, got shape [2, 8, 8]",
                        be -> be.resizeBilinear(f(be, 1, 2, 4, 4), f(be, 2, 8, 8))),
                // ---- loss
                bad("softmaxCrossEntropy: labels shape", "softmaxCrossEntropy: labels must be logits' shape without axis 1: [2, 3, 4] [2, 5]",
                        be -> be.softmaxCrossEntropy(f(be, 2, 3, 4), i(be, 2, 5), null, 255, f(be, 1), null)),
                bad("softmaxCrossEntropy: float labels", "softmaxCrossEntropy: labels must be I32, got F32 [2, 4]",
                        be -> be.softmaxCrossEntropy(f(be, 2, 3, 4), f(be, 2, 4), null, 255, f(be, 1), null)),
                bad("softmaxCrossEntropy: class weights [1, K]", "softmaxCrossEntropy: classWeights has shape [1, 3], expected [3]",
                        be -> be.softmaxCrossEntropy(f(be, 2, 3, 4), i(be, 2, 4), f(be, 1, 3), 255, f(be, 1), null)),
                bad("softmaxCrossEntropy: loss of two", "softmaxCrossEntropy: loss must have one element, got [2]",
                        be -> be.softmaxCrossEntropy(f(be, 2, 3, 4), i(be, 2, 4), null, 255, f(be, 2), null)),
                bad("softmaxCrossEntropy: glogits shape", "softmaxCrossEntropy: shapes differ: [2, 3, 4] vs [2, 4, 3]",
                        be -> be.softmaxCrossEntropy(f(be, 2, 3, 4), i(be, 2, 4), null, 255, f(be, 1), f(be, 2, 4, 3))),
                bad("softmaxCrossEntropy: rank 1 logits", "softmaxCrossEntropy: logits must be [B, K, ...], got [3]",
                        be -> be.softmaxCrossEntropy(f(be, 3), i(be, 3), null, 255, f(be, 1), null)),
                // ---- optimisation
                bad("adamw: step 0", "adamw: step counts from 1, got 0",
                        be -> be.adamw(f(be, 4), f(be, 4), f(be, 4), f(be, 4), 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 0)),
                bad("adamw: m shape", "adamw: shapes differ: [4] vs [5]",
                        be -> be.adamw(f(be, 4), f(be, 4), f(be, 5), f(be, 4), 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1)));
    }

    private static String message(Backend be, BadCall c) {
        return assertThrows(IllegalArgumentException.class, () -> c.call().accept(be), be.name() + ": " + c.name()).getMessage();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badCalls")
    void cpuRejects(BadCall c) {
        assertEquals(c.message(), message(Backends.cpu(), c));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badCalls")
    void cudaRejectsTheSameWay(BadCall c) {
        CudaTestSupport.assumeGpu();
        assertEquals(message(Backends.cpu(), c), message(CudaTestSupport.gpu(), c), "CUDA and CPU messages differ");
        assertEquals(c.message(), message(CudaTestSupport.gpu(), c));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badCalls")
    void metaRejectsTheSameWay(BadCall c) {
        assertEquals(c.message(), message(new MetaBackend(), c));
    }

    private static Backend backend(String name) {
        if (name.equals("cpu")) return Backends.cpu();
        CudaTestSupport.assumeGpu();
        return CudaTestSupport.gpu();
    }

    private static Tensor randn(Backend be, Random rnd, int... dims) {
        Shape s = Shape.of(dims);
        float[] a = new float[s.size()];
        for (int j = 0; j < a.length; j++) a[j] = (float) rnd.nextGaussian();
        return be.fromFloats(a, s);
    }

    /** Leaving out an optional saved statistic changes nothing else the op computes, on either backend. */
    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cuda"})
    void optionalStatisticsMayBeNull(String backend) {
        Backend be = backend(backend);
        Random rnd = new Random(3);

        Tensor x = randn(be, rnd, 3, 8), g = randn(be, rnd, 8), b = randn(be, rnd, 8);
        Tensor y1 = f(be, 3, 8), y2 = f(be, 3, 8), mean = f(be, 3), rstd = f(be, 3);
        be.layerNorm(x, g, b, 1e-5f, y1, mean, rstd);
        be.layerNorm(x, g, b, 1e-5f, y2, null, null);
        assertArrayEquals(be.toFloats(y1), be.toFloats(y2), "layerNorm without mean/rstd");
        Tensor y3 = f(be, 3, 8), mean3 = f(be, 3);
        be.layerNorm(x, g, b, 1e-5f, y3, mean3, null);
        assertArrayEquals(be.toFloats(y1), be.toFloats(y3), "layerNorm without rstd");
        assertArrayEquals(be.toFloats(mean), be.toFloats(mean3), "layerNorm mean without rstd");

        Tensor img = randn(be, rnd, 2, 3, 4, 4), bg = randn(be, rnd, 3), bb = randn(be, rnd, 3);
        for (boolean training : new boolean[] {true, false}) {
            Tensor rm1 = randn(be, new Random(5), 3), rv1 = be.full(Shape.of(3), 1.5f);
            Tensor rm2 = randn(be, new Random(5), 3), rv2 = be.full(Shape.of(3), 1.5f);
            Tensor o1 = f(be, 2, 3, 4, 4), o2 = f(be, 2, 3, 4, 4), sm = f(be, 3), sr = f(be, 3);
            be.batchNorm(img, bg, bb, rm1, rv1, training, 0.1f, 1e-5f, o1, sm, sr);
            be.batchNorm(img, bg, bb, rm2, rv2, training, 0.1f, 1e-5f, o2, null, null);
            assertArrayEquals(be.toFloats(o1), be.toFloats(o2), "batchNorm without saved statistics, training=" + training);
            assertArrayEquals(be.toFloats(rv1), be.toFloats(rv2), "batchNorm running variance, training=" + training);
            Tensor o3 = f(be, 2, 3, 4, 4), sm3 = f(be, 3);
            be.batchNorm(img, bg, bb, randn(be, new Random(5), 3), be.full(Shape.of(3), 1.5f), training, 0.1f, 1e-5f, o3, sm3, null);
            assertArrayEquals(be.toFloats(o1), be.toFloats(o3), "batchNorm without saveRstd, training=" + training);
            assertArrayEquals(be.toFloats(sm), be.toFloats(sm3), "batchNorm saveMean without saveRstd, training=" + training);
        }

        Tensor qkv = randn(be, rnd, 2, 5, 24), a1 = f(be, 2, 5, 8), a2 = f(be, 2, 5, 8), lse = f(be, 2, 2, 5);
        be.attention(qkv, 2, 0.5f, a1, lse);
        be.attention(qkv, 2, 0.5f, a2, null);
        assertArrayEquals(be.toFloats(a1), be.toFloats(a2), "attention without lse");
    }
}
