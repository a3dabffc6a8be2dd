package dinoseg.backend;

import dinoseg.tensor.Tensor;

/**
 * One GEMM operand: a row-major matrix (or a batch of them) inside a float tensor, as BLAS
 * describes it. Matrix {@code i} of a batch starts at element {@code offset + i*stride} of
 * {@code tensor}; its rows are {@code ld} elements apart (the leading dimension, at least the
 * stored row length). When {@code transposed}, the stored matrix is the transpose of the operand
 * the product uses (BLAS' {@code op(X) = X^T}). A stride of 0 reuses one matrix for every batch
 * entry. Offsets and strides count elements, not bytes.
 *
 * <pre>
 *   MatrixView.of(x, k)                      // x as rows of k elements, batch stride 0
 *   MatrixView.of(w, k).t()                  // w^T (w stored [n, k])
 *   MatrixView.of(a, ac).batched(m * ac)     // one m x ac matrix per batch entry
 *   MatrixView.of(gy, n).at(i * m * n)       // the matrix starting at element i*m*n
 * </pre>
 *
 * The view itself checks nothing; {@link Backend#gemm} checks it against m, n, k and the batch
 * ({@link OpContract#gemm}).
 */
public record MatrixView(Tensor tensor, long offset, int ld, long stride, boolean transposed) {

    /** The matrix at the start of {@code tensor} with rows {@code ld} elements apart, not batched, not transposed. */
    public static MatrixView of(Tensor tensor, int ld) { return new MatrixView(tensor, 0, ld, 0, false); }

    /** This view transposed (like PyTorch's {@code .t()}). */
    public MatrixView t() { return new MatrixView(tensor, offset, ld, stride, !transposed); }

    /** This view, transposed when {@code transpose} is true. */
    public MatrixView t(boolean transpose) { return transpose ? t() : this; }

    /** This view starting at element {@code offset} of the tensor. */
    public MatrixView at(long offset) { return new MatrixView(tensor, offset, ld, stride, transposed); }

    /** This view with batch entries {@code stride} elements apart (0: one matrix for all). */
    public MatrixView batched(long stride) { return new MatrixView(tensor, offset, ld, stride, transposed); }
}
