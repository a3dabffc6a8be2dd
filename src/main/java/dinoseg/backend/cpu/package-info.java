/**
 * The pure-Java backend.
 *
 * <ul>
 *   <li>{@link dinoseg.backend.cpu.CpuBackend}: every op of {@link dinoseg.backend.Backend} on heap
 *       arrays ({@link dinoseg.backend.cpu.CpuStorage}).</li>
 *   <li>{@code Parallel}: the one pool of daemon threads (one per core) and chunked loops; small
 *       work stays on the calling thread, loops started inside the pool run serially.</li>
 *   <li>{@code CpuGemm}: blocked, packed GEMM; {@code RowOps}: the loop shapes C2 vectorises;
 *       {@code CpuAttention}: flash-attention forward and FlashAttention-2 backward over packed qkv.</li>
 *   <li>{@code Erf} (table + Taylor step, ~1e-12) and {@code FastExp} (3e-7 relative) for GELU and
 *       softmax-heavy loops.</li>
 *   <li>{@link dinoseg.backend.cpu.GemmBench}: GEMM and attention throughput; {@code tools/bench_gemm.sh}
 *       runs it next to numpy/OpenBLAS.</li>
 * </ul>
 */
package dinoseg.backend.cpu;
