package dinoseg.backend;

import java.util.Locale;

/**
 * The arithmetic of matrix products ({@link Backend#gemm}): which values the multipliers see.
 * Storage, accumulation and every other op stay fp32 in all three (under BF16, the outputs of the
 * products are rounded in place, as below).
 * <ul>
 *   <li>{@link #FP32}: operands as stored (PyTorch's default, {@code allow_tf32 = False}).</li>
 *   <li>{@link #TF32}: each operand rounded to TensorFloat-32 (8-bit exponent, 10-bit mantissa) to
 *       nearest with ties away from zero, as PTX {@code cvt.rna.tf32.f32}; products summed in fp32.
 *       PyTorch: {@code torch.backends.cuda.matmul.allow_tf32 = True}.</li>
 *   <li>{@link #BF16}: each operand rounded to bfloat16 (8-bit exponent, 7-bit mantissa) to nearest
 *       even, as {@code torch.Tensor.bfloat16()}; products summed in fp32 by {@link Backend#gemm}. PyTorch:
 *       the matmul of {@code torch.autocast(dtype=torch.bfloat16)}, whose output is a bf16 tensor: the
 *       autograd ops ({@code dinoseg.autograd.Ops}: linear, matmul, convolutions, attention) round their
 *       outputs (bias included) to bf16 with {@link Backend#roundTo}, so the fp32 storage holds
 *       autocast's values. Their gradients stay fp32 (rounding them too changed a golden training run
 *       by less than the run-to-run noise; see PrecisionTrainingGoldenTest).</li>
 * </ul>
 * NaN stays NaN and infinities stay infinite; a finite value that rounds past the largest finite
 * value becomes an infinity of its sign.
 */
public enum Precision {
    FP32, TF32, BF16;

    /** x rounded to this precision's operand format, returned as a float. */
    public float round(float x) {
        return switch (this) {
            case FP32 -> x;
            case TF32 -> tf32(x);
            case BF16 -> bf16(x);
        };
    }

    /** A copy of a with every element rounded ({@link #round}); a itself for FP32. */
    public float[] rounded(float[] a) {
        if (this == FP32) return a;
        float[] r = new float[a.length];
        for (int i = 0; i < a.length; i++) r[i] = round(a[i]);
        return r;
    }

    /** The command-line spelling: "fp32", "tf32", "bf16". */
    public String flag() { return name().toLowerCase(Locale.ROOT); }

    /**
     * The precision a flag names, case-insensitively.
     *
     * @throws IllegalArgumentException naming the value and the choices when it is none of them
     */
    public static Precision parse(String flag) {
        for (Precision p : values())
            if (p.flag().equalsIgnoreCase(flag == null ? "" : flag.strip())) return p;
        throw new IllegalArgumentException("precision '" + flag + "' is not one of fp32, tf32, bf16");
    }

    /** Round to nearest even, keeping the top 16 bits (bfloat16). */
    static float bf16(float x) {
        int u = Float.floatToRawIntBits(x);
        if ((u & 0x7fffffff) > 0x7f800000) return Float.intBitsToFloat(u | 0x00400000);   // quiet NaN
        u += 0x7fff + ((u >>> 16) & 1);
        return Float.intBitsToFloat(u & 0xffff0000);
    }

    /** Round to nearest, ties away from zero, keeping the top 19 bits (TensorFloat-32). */
    static float tf32(float x) {
        int u = Float.floatToRawIntBits(x);
        if ((u & 0x7fffffff) >= 0x7f800000) return x;   // NaN, infinities
        return Float.intBitsToFloat((u + 0x1000) & 0xffffe000);
    }
}
