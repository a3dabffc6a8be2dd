/**
 * The compute backends behind every op of the engine.
 *
 * <p>Owns: the op interface {@link dinoseg.backend.Backend} (shapes, dtypes, in-place rules and
 * errors of each primitive), its argument checks {@link dinoseg.backend.OpContract} (one place,
 * called by every backend before it touches memory, so a bad call fails the same way on the CPU
 * and on CUDA), the check helpers {@link dinoseg.backend.Checks}, the GEMM operand
 * {@link dinoseg.backend.MatrixView}, and the choice of backend by name
 * ({@link dinoseg.backend.Backends}). The implementations live in {@code backend.cpu} (pure Java),
 * {@code backend.cuda} (JCuda and the kernels of {@code kernels/*.cu}) and {@code backend.meta}
 * (shapes without values: summaries and memory estimates).
 *
 * <p>May use: {@code dinoseg.tensor} only (and JCuda inside {@code backend.cuda}). Nothing here
 * knows autograd, models, data or files; {@code autograd} and everything above call the backend.
 */
package dinoseg.backend;
