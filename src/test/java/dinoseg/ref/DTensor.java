package dinoseg.ref;

import java.util.Arrays;
import java.util.SplittableRandom;

/** A dense row-major double-precision tensor for the reference implementations (tests only). */
public final class DTensor {
    public final double[] data;
    private final int[] shape;

    public DTensor(double[] data, int... shape) {
        long n = numel(shape);
        if (n != data.length) throw new IllegalArgumentException("DTensor: " + data.length + " values for shape " + Arrays.toString(shape));
        this.data = data;
        this.shape = shape.clone();
    }

    public static DTensor zeros(int... shape) { return new DTensor(new double[(int) numel(shape)], shape); }

    /** Uniform values in [lo, hi) rounded to float, so float and double code see identical inputs. */
    public static DTensor uniform(SplittableRandom rng, double lo, double hi, int... shape) {
        double[] d = new double[(int) numel(shape)];
        for (int i = 0; i < d.length; i++) d[i] = (float) (lo + (hi - lo) * rng.nextDouble());
        return new DTensor(d, shape);
    }

    public static DTensor random(SplittableRandom rng, int... shape) { return uniform(rng, -1, 1, shape); }

    public static DTensor fromFloats(float[] f, int... shape) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return new DTensor(d, shape);
    }

    static long numel(int[] shape) {
        long n = 1;
        for (int s : shape) n *= s;
        return n;
    }

    public int[] shape() { return shape.clone(); }

    public int rank() { return shape.length; }

    public int dim(int i) { return shape[i < 0 ? shape.length + i : i]; }

    public int numel() { return data.length; }

    public float[] toFloats() {
        float[] f = new float[data.length];
        for (int i = 0; i < f.length; i++) f[i] = (float) data[i];
        return f;
    }

    public DTensor copy() { return new DTensor(data.clone(), shape); }

    public DTensor reshape(int... dims) { return new DTensor(data, dims); }

    /** Product of dims [from, to). */
    public int prod(int from, int to) {
        int p = 1;
        for (int i = from; i < to; i++) p *= shape[i];
        return p;
    }

    @Override public String toString() { return "DTensor" + Arrays.toString(shape); }
}
