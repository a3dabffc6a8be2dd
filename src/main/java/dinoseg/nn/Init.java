package dinoseg.nn;

import dinoseg.backend.Backend;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import java.util.SplittableRandom;

/**
 * Parameter initialisers (host-side random numbers, then one upload). On the meta device
 * ({@link dinoseg.tensor.Device#isMeta}), whose tensors hold no values, no random numbers are drawn:
 * the initialisers return an empty tensor of the shape and leave {@code rng} untouched.
 */
public final class Init {
    private Init() { }

    /** Normal(0, std) truncated to [-2 std, 2 std] by resampling, as timm's trunc_normal_ used by DINOv2. */
    public static Tensor truncNormal(Backend be, SplittableRandom rng, Shape shape, double std) {
        if (be.device().isMeta()) return be.empty(shape);
        float[] a = new float[shape.size()];
        for (int i = 0; i < a.length; i++) {
            double v;
            do { v = gaussian(rng); } while (v < -2 || v > 2);
            a[i] = (float) (v * std);
        }
        return be.fromFloats(a, shape);
    }

    /** Uniform(-bound, bound): PyTorch's default Linear/Conv init uses bound = 1/sqrt(fanIn). */
    public static Tensor uniform(Backend be, SplittableRandom rng, Shape shape, double bound) {
        if (be.device().isMeta()) return be.empty(shape);
        float[] a = new float[shape.size()];
        for (int i = 0; i < a.length; i++) a[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
        return be.fromFloats(a, shape);
    }

    public static Tensor constant(Backend be, Shape shape, float value) { return be.full(shape, value); }

    static double gaussian(SplittableRandom rng) {
        double u1, u2;
        do { u1 = rng.nextDouble(); } while (u1 <= 1e-300);
        u2 = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
}
