package dinoseg.backend;

import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/** Shape and type checks done where an op starts; messages name the op and the shapes. */
public final class Checks {
    private Checks() { }

    public static IllegalArgumentException error(String op, String what, Object... shapes) {
        StringBuilder sb = new StringBuilder(op).append(": ").append(what);
        for (Object s : shapes) sb.append(' ').append(s instanceof Tensor t ? t.shape() : s);
        return new IllegalArgumentException(sb.toString());
    }

    /** Both tensors have exactly the same shape. */
    public static void sameShape(String op, Tensor a, Tensor b) {
        if (!a.shape().equals(b.shape()))
            throw new IllegalArgumentException(op + ": shapes differ: " + a.shape() + " vs " + b.shape());
    }

    public static void shape(String op, String name, Tensor t, Shape expected) {
        if (!t.shape().equals(expected))
            throw new IllegalArgumentException(op + ": " + name + " has shape " + t.shape() + ", expected " + expected);
    }

    public static void sameNumel(String op, Tensor a, Tensor b) {
        if (a.numel() != b.numel())
            throw new IllegalArgumentException(op + ": element counts differ: " + a.shape() + " vs " + b.shape());
    }

    public static void broadcasts(String op, Tensor big, Tensor small) {
        if (!big.shape().broadcastsFrom(small.shape()))
            throw new IllegalArgumentException(op + ": shape " + small.shape() + " does not broadcast to " + big.shape());
    }

    public static void rank(String op, String name, Tensor t, int rank) {
        if (t.rank() != rank)
            throw new IllegalArgumentException(op + ": " + name + " must have rank " + rank + ", got shape " + t.shape());
    }

    public static void dtype(String op, String name, Tensor t, DType dtype) {
        if (t.dtype() != dtype)
            throw new IllegalArgumentException(op + ": " + name + " must be " + dtype + ", got " + t.dtype() + " " + t.shape());
    }

    public static void check(boolean ok, String op, String message) {
        if (!ok) throw new IllegalArgumentException(op + ": " + message);
    }
}
