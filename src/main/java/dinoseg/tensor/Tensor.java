package dinoseg.tensor;

/**
 * A dense, contiguous, row-major array of float32 or int32 values held in a backend's storage.
 * A tensor is a shape over its storage: {@link #reshape} is a view sharing the storage; everything
 * else (permute, slice, concat, arithmetic) is an op of a {@code Backend} that writes a new tensor.
 */
public final class Tensor implements AutoCloseable {
    private final Storage storage;
    private final Shape shape;

    public Tensor(Storage storage, Shape shape) {
        if (storage.length() != shape.numel())
            throw new IllegalArgumentException("shape " + shape + " has " + shape.numel()
                    + " elements but storage holds " + storage.length());
        this.storage = storage;
        this.shape = shape;
    }

    public Storage storage() { return storage; }

    public Shape shape() { return shape; }

    public DType dtype() { return storage.dtype(); }

    public Device device() { return storage.device(); }

    public int rank() { return shape.rank(); }

    public int dim(int i) { return shape.dim(i); }

    public long numel() { return shape.numel(); }

    /** A view with another shape of the same element count; -1 stands for the one inferred dimension. */
    public Tensor reshape(int... dims) {
        int infer = -1;
        long known = 1;
        for (int i = 0; i < dims.length; i++) {
            if (dims[i] == -1) {
                if (infer >= 0) throw new IllegalArgumentException("reshape: more than one -1 in " + java.util.Arrays.toString(dims));
                infer = i;
            } else known *= dims[i];
        }
        int[] d = dims.clone();
        if (infer >= 0) {
            if (known == 0 || numel() % known != 0)
                throw new IllegalArgumentException("reshape: cannot view " + shape + " as " + java.util.Arrays.toString(dims));
            d[infer] = (int) (numel() / known);
        }
        Shape s = Shape.of(d);
        if (s.numel() != numel())
            throw new IllegalArgumentException("reshape: cannot view " + shape + " as " + s);
        return new Tensor(storage, s);
    }

    public Tensor reshape(Shape s) { return reshape(s.dims()); }

    /** Frees the storage now (shared by every view of it). */
    @Override public void close() { storage.close(); }

    @Override public String toString() { return "Tensor" + shape + " " + dtype() + " on " + device(); }
}
