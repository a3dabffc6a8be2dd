package dinoseg.tensor;

/**
 * Backend-owned memory behind a tensor. Opaque above the backend packages: only a backend
 * reads or writes elements. {@link #close()} returns the memory early (device memory goes back
 * to the backend's cache); otherwise it is reclaimed when unreachable.
 */
public interface Storage extends AutoCloseable {
    Device device();

    /** Number of elements of {@link #dtype()}. */
    long length();

    DType dtype();

    boolean isClosed();

    @Override void close();
}
