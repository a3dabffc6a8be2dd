/**
 * Values and their storage, no arithmetic: {@link dinoseg.tensor.Tensor} (a shape, a dtype and an opaque
 * backend {@link dinoseg.tensor.Storage}; {@code reshape} is a view), {@link dinoseg.tensor.Shape},
 * {@link dinoseg.tensor.DType} (F32, I32) and {@link dinoseg.tensor.Device} (cpu, cuda:N, meta).
 *
 * <p>May use: nothing else of dinoseg. Everything above depends on it.
 */
package dinoseg.tensor;
