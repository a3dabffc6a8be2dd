package dinoseg.io;

import dinoseg.tensor.Shape;

import java.util.Arrays;

/** A float32 tensor in host memory: what weight files are read into and written from. */
public record HostTensor(Shape shape, float[] data) {
    public HostTensor {
        if (shape.numel() != data.length)
            throw new IllegalArgumentException("host tensor: shape " + shape + " needs " + shape.numel() + " values, got " + data.length);
    }

    public static HostTensor of(float[] data, int... dims) { return new HostTensor(Shape.of(dims), data); }

    public HostTensor reshape(int... dims) { return new HostTensor(Shape.of(dims), data); }

    @Override public boolean equals(Object o) {
        return o instanceof HostTensor h && h.shape.equals(shape) && Arrays.equals(h.data, data);
    }

    @Override public int hashCode() { return shape.hashCode() * 31 + Arrays.hashCode(data); }

    @Override public String toString() { return "HostTensor" + shape; }
}
