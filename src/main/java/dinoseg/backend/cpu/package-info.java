/**
 * The pure-Java backend.
 *
 * <p>Owns, in BoofCV's manner of one class per op family:
 * <ul>
 *   <li>{@link dinoseg.backend.cpu.CpuBackend}: the memory ops (heap arrays in
 *       {@link dinoseg.backend.cpu.CpuStorage}) and the dispatch — each op runs
 *       {@link dinoseg.backend.OpContract}'s checks, then the family class:</li>
 *   <li>{@code CpuGemm} (blocked, packed GEMM; {@code VectorGemm} its 6×(2 vectors) Vector API
 *       micro-kernel, used when the JVM has {@code jdk.incubator.vector}), {@code CpuElementwise}
 *       (broadcast add/mul, scale, axpy, GELU, ReLU, SwiGLU), {@code CpuReductions} (sumTo, sums in
 *       double, softmax, argmax), {@code CpuNorms} (LayerNorm, BatchNorm2d), {@code CpuAttention}
 *       (flash-attention forward and FlashAttention-2 backward over packed qkv; in fp32 with the
 *       Vector API {@code VectorAttention}, on 6×(2 vectors) micro-kernels like VectorGemm's), {@code CpuConv}
 *       (im2col, col2im), {@code CpuLayout} (block copies, permute, flip), {@code CpuResize}
 *       (bilinear resize and its adjoint), {@code CpuLoss} (softmax cross-entropy),
 *       {@code CpuAdamW}; {@code CpuIndex} holds their shared index arithmetic.</li>
 *   <li>{@code Parallel}: the one pool of daemon threads (one per core) and chunked loops; small
 *       work stays on the calling thread, loops started inside the pool run serially.
 *       {@code RowOps}: the loop shapes C2 vectorises, with {@code VectorRowOps} as their Vector
 *       API form for attention.</li>
 *   <li>{@code Erf} (table + Taylor step, ~1e-12) and {@code FastExp} (3e-7 relative) for GELU and
 *       softmax-heavy loops.</li>
 * </ul>
 * Its throughput benchmark is {@code dinoseg.bench.GemmBench} ({@code tools/bench_gemm.sh}).
 *
 * <p>May use: {@code dinoseg.backend} (the interface and its contract) and {@code dinoseg.tensor};
 * the family classes are package-private and assume the contract's checks have passed.
 */
package dinoseg.backend.cpu;
