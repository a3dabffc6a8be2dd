package dinoseg.backend;

import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/**
 * Shape and type checks done where an op starts; messages name the op and the shapes, on one line:
 * {@code "layerNorm: gamma has shape [7], expected [8]"}. The op contract ({@link OpContract}) is
 * written with these; the autograd layer uses them for its own argument checks.
 */
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

    /**
     * t has the dtype, and its storage was not freed: a tensor used after its owner (an Ops scope,
     * the tape) closed it fails here with an {@link IllegalStateException} naming the op.
     */
    public static void dtype(String op, String name, Tensor t, DType dtype) {
        if (t.storage().isClosed())
            throw new IllegalStateException(op + ": " + name + " " + t.shape() + " was freed before this use (released by its owner, or its scope ended)");
        if (t.dtype() != dtype)
            throw new IllegalArgumentException(op + ": " + name + " must be " + dtype + ", got " + t.dtype() + " " + t.shape());
    }

    /** t is not null. */
    public static void required(String op, String name, Object t) {
        if (t == null) throw new IllegalArgumentException(op + ": " + name + " is required, got null");
    }

    /** t is present and holds floats. */
    public static void f32(String op, String name, Tensor t) {
        required(op, name, t);
        dtype(op, name, t, DType.F32);
    }

    /** t is present and holds ints. */
    public static void i32(String op, String name, Tensor t) {
        required(op, name, t);
        dtype(op, name, t, DType.I32);
    }

    /** t is null, or a float tensor of exactly {@code expected}'s shape. */
    public static void f32OrNull(String op, String name, Tensor t, Shape expected) {
        if (t == null) return;
        dtype(op, name, t, DType.F32);
        shape(op, name, t, expected);
    }

    /** out does not share storage with in (an output that must not be written in place). */
    public static void distinct(String op, String outName, Tensor out, String inName, Tensor in) {
        if (out.storage() == in.storage())
            throw new IllegalArgumentException(op + ": " + outName + " must not share storage with " + inName + " " + in.shape());
    }

    public static void check(boolean ok, String op, String message) {
        if (!ok) throw new IllegalArgumentException(op + ": " + message);
    }
}
