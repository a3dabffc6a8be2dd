/**
 * Bytes to host tensors and back: safetensors read/write ({@link dinoseg.io.Safetensors}), official
 * PyTorch {@code .pth} files through a restricted unpickler that never executes code
 * ({@link dinoseg.io.PthReader}, {@link dinoseg.io.Unpickler}), weight-name mapping (official and Hugging Face)
 * atomic file writes ({@link dinoseg.io.AtomicFiles}: temporary file, fsync, rename), and the process
 * utilities every command uses: stop requests ({@link dinoseg.io.Stop}) and the one progress bar
 * ({@link dinoseg.io.ProgressBar}, drawn on stderr).
 *
 * <p>May use today: {@code tensor}, and for model-aware loading ({@code Weights}, {@code StateDicts},
 * {@code ModelCheckpoint}) {@code model}, {@code nn}, {@code data}, {@code backend}; issue 11 moves those
 * into a package above {@code model} so that {@code io} knows only tensors and files.
 */
package dinoseg.io;
