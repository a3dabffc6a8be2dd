/**
 * Benchmarks, not part of training or inference: {@link dinoseg.bench.Bench} (whole inference or
 * training steps of a segmentation model on random data, one JSON object with the keys of
 * {@code tools/torch_peer.py}; {@code dinoseg bench}), {@link dinoseg.bench.OpBench} (one block's GEMMs and
 * attention alone on the model's shapes, each checked against the CPU backend; {@code bench --mode
 * gemm|attention}, beside {@code tools/torch_ops.py}), {@link dinoseg.bench.GemmBench} (GEMM and fused
 * attention throughput of the CPU backend; {@code tools/bench_gemm.sh} runs it next to numpy/OpenBLAS)
 * and {@link dinoseg.bench.LoaderBench} (images per second of the data loader). The last two are
 * {@code main} programs: {@code java -cp target/dinoseg.jar dinoseg.bench.LoaderBench ...}.
 *
 * <p>May use: {@code train} (AdamW, parameter groups, peak memory), {@code model}, {@code data},
 * {@code autograd}, {@code backend} (and {@code backend.cpu} for the GEMM benchmark and OpBench's reference), {@code tensor}.
 * Used by {@code cli} only.
 */
package dinoseg.bench;
