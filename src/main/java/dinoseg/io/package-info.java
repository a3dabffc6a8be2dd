/**
 * Bytes to host tensors and back, nothing about models: safetensors read/write
 * ({@link dinoseg.io.Safetensors}), official PyTorch {@code .pth} files through a restricted unpickler
 * that never executes code ({@link dinoseg.io.PthReader}, {@link dinoseg.io.Unpickler}), reading any
 * weight file by its content ({@link dinoseg.io.WeightFiles}), renaming backbone tensors from the
 * Hugging Face and wrapped layouts to the official DINOv2 names ({@link dinoseg.io.WeightNames}: a
 * function of host-tensor maps, kept here beside the readers because the reader fuzzer
 * {@link dinoseg.io.WeightFuzzer} checks read and rename together), bounds on text taken from
 * untrusted files ({@link dinoseg.io.Untrusted}), JSON parse errors in one line naming the position
 * ({@link dinoseg.io.JsonText}), atomic file writes ({@link dinoseg.io.AtomicFiles}:
 * temporary file, fsync, rename), and the process utilities every command uses: the cooperative stop
 * flag {@link dinoseg.io.Stop} and the one progress bar ({@link dinoseg.io.ProgressBar}, drawn on stderr).
 *
 * <p>May use: {@code dinoseg.tensor} only. Loading host tensors into models and our checkpoint
 * format live above {@code model}, in {@code dinoseg.checkpoint}.
 */
package dinoseg.io;
