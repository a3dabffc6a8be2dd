/**
 * The meta device: {@link dinoseg.backend.meta.MetaBackend}, whose tensors have shapes and dtypes but
 * no values. Models are built on it to be described ({@code dinoseg summary}) or sized (the bytes
 * its live tensors would hold); every op checks its arguments with {@link dinoseg.backend.OpContract},
 * like the other backends, and computes nothing. Code that would otherwise draw random numbers or
 * read values asks {@link dinoseg.tensor.Device#isMeta()}, never a backend's name.
 *
 * <p>May use: {@code dinoseg.backend} (the interface and its contract) and {@code dinoseg.tensor}.
 */
package dinoseg.backend.meta;
