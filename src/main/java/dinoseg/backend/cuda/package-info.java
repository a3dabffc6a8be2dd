/**
 * The CUDA backend, on JCuda's driver API and the kernels of {@code kernels/*.cu} (compiled by nvcc
 * into the jar's fatbin).
 *
 * <p>Owns:
 * <ul>
 *   <li>{@link dinoseg.backend.cuda.CudaBackend}: opening a device and the dispatch — each op runs
 *       {@link dinoseg.backend.OpContract}'s checks, then hands the work to a launcher.</li>
 *   <li>Device plumbing: {@code CudaContext} (driver initialisation and its one-line failures, the
 *       primary context, the stream, the kernel module {@code CudaKernels}, launch helpers, error
 *       descriptions) and {@code CudaMemory} (the caching {@code CudaAllocator},
 *       {@code PinnedStaging} uploads, downloads, copies, the reduction scratch; tensors'
 *       {@link dinoseg.backend.cuda.CudaStorage}).</li>
 *   <li>Launchers, one per op family: {@code CudaGemmOps} (cuBLAS via {@code CublasGemm}, or the
 *       tiled kernel), {@code CudaElementwiseOps}, {@code CudaReductionOps} (sums, softmax, argmax,
 *       cross-entropy), {@code CudaNormOps}, {@code CudaAttentionOps}, {@code CudaImageOps}
 *       (im2col/col2im, bilinear resize), {@code CudaLayoutOps}, {@code CudaAdamW};
 *       {@code KernelArgs} and {@code Dims} pack their arguments.</li>
 * </ul>
 *
 * <p>May use: {@code dinoseg.backend}, {@code dinoseg.tensor}, JCuda/JCublas. Beyond the contract,
 * the launchers reject only what the kernels cannot do (a head dimension above 128, a broadcast or
 * permutation that collapses to more than 6 dims), with {@link IllegalArgumentException}.
 */
package dinoseg.backend.cuda;
