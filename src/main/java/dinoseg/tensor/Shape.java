package dinoseg.tensor;

import java.util.Arrays;

/** An immutable list of dimension sizes (row-major, last dimension fastest). */
public final class Shape {
    private final int[] dims;
    private final long numel;

    private Shape(int[] dims) {
        long n = 1;
        for (int d : dims) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(dims));
            n *= d;
        }
        this.dims = dims;
        this.numel = n;
    }

    public static Shape of(int... dims) { return new Shape(dims.clone()); }

    public static Shape scalar() { return new Shape(new int[0]); }

    /**
     * The smallest positive multiple of {@code multiple} at or above {@code v}: a side length (pixels)
     * rounded up to the patch size, {@code ceil(v / multiple) * multiple}, and {@code multiple} itself for
     * {@code v <= 0}. The project's one round-up-to-the-patch helper (sizes, padding, error hints).
     *
     * @throws IllegalArgumentException when {@code multiple < 1}, or the result exceeds {@link Integer#MAX_VALUE}
     */
    public static int roundUp(int v, int multiple) {
        if (multiple < 1) throw new IllegalArgumentException("roundUp: multiple must be positive, got " + multiple);
        long r = Math.max(multiple, ((long) v + multiple - 1) / multiple * multiple);
        if (r > Integer.MAX_VALUE) throw new IllegalArgumentException("roundUp: " + v + " rounded up to a multiple of " + multiple + " overflows int");
        return (int) r;
    }

    public int rank() { return dims.length; }

    /** Size of dimension {@code i}; negative {@code i} counts from the end. */
    public int dim(int i) { return dims[i < 0 ? dims.length + i : i]; }

    public int[] dims() { return dims.clone(); }

    public long numel() { return numel; }

    /** Element count as an int; fails for tensors larger than 2^31-1 elements. */
    public int size() {
        if (numel > Integer.MAX_VALUE) throw new IllegalStateException("tensor too large for int indexing: " + this);
        return (int) numel;
    }

    /** Product of the dimensions in [from, to). */
    public long prod(int from, int to) {
        long p = 1;
        for (int i = from; i < to; i++) p *= dims[i];
        return p;
    }

    /** Normalise a possibly negative axis and check it is in range. */
    public int axis(int a) {
        int r = a < 0 ? dims.length + a : a;
        if (r < 0 || r >= dims.length) throw new IllegalArgumentException("axis " + a + " out of range for shape " + this);
        return r;
    }

    public Shape with(int axis, int size) {
        int[] d = dims.clone();
        d[axis(axis)] = size;
        return new Shape(d);
    }

    /** Row-major strides in elements. */
    public long[] strides() {
        long[] s = new long[dims.length];
        long acc = 1;
        for (int i = dims.length - 1; i >= 0; i--) { s[i] = acc; acc *= dims[i]; }
        return s;
    }

    /** True when {@code small} broadcasts to this shape (right-aligned, each dim equal or 1). */
    public boolean broadcastsFrom(Shape small) {
        if (small.rank() > rank()) return false;
        int off = rank() - small.rank();
        for (int i = 0; i < small.rank(); i++) {
            int s = small.dims[i];
            if (s != 1 && s != dims[off + i]) return false;
        }
        return true;
    }

    @Override public boolean equals(Object o) { return o instanceof Shape s && Arrays.equals(dims, s.dims); }

    @Override public int hashCode() { return Arrays.hashCode(dims); }

    @Override public String toString() { return Arrays.toString(dims); }
}
