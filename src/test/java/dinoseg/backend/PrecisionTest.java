package dinoseg.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.Test;

import dinoseg.backend.cpu.CpuBackend;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;

/** Operand rounding of {@link Precision} and the CPU backend's gemm under each precision. */
class PrecisionTest {

    private static float f(int bits) { return Float.intBitsToFloat(bits); }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals(1f, Precision.BF16.round(1f + 0x1p-8f));                  // halfway, even below
        assertEquals(1f + 0x1p-6f, Precision.BF16.round(1f + 3 * 0x1p-8f));     // halfway, even above
        assertEquals(1f + 0x1p-7f, Precision.BF16.round(1f + 0x1p-8f + 0x1p-20f));   // just above halfway
        assertEquals(-3f, Precision.BF16.round(-3.005f));                      // spacing 2^-6 in [2, 4)
        assertEquals(-3.015625f, Precision.BF16.round(-3.01f));
        assertEquals(Float.POSITIVE_INFINITY, Precision.BF16.round(Float.MAX_VALUE));   // rounds past the largest bf16
        assertTrue(Float.isNaN(Precision.BF16.round(Float.NaN)));
        assertTrue(Float.isNaN(Precision.BF16.round(f(0x7f800001))));           // signalling NaN stays NaN
        assertEquals(Float.NEGATIVE_INFINITY, Precision.BF16.round(Float.NEGATIVE_INFINITY));
    }

    @Test
    void tf32RoundsToNearestTiesAway() {
        assertEquals(1f + 0x1p-10f, Precision.TF32.round(1f + 0x1p-11f));      // halfway: away from zero
        assertEquals(-(1f + 0x1p-10f), Precision.TF32.round(-(1f + 0x1p-11f)));
        assertEquals(1f, Precision.TF32.round(1f + 0x1p-12f));
        assertEquals(Float.POSITIVE_INFINITY, Precision.TF32.round(Float.POSITIVE_INFINITY));
        assertTrue(Float.isNaN(Precision.TF32.round(Float.NaN)));
    }

    @Property
    void roundingKeepsOnlyTheFormatsBitsAndIsIdempotent(@ForAll float x) {
        if (Float.isNaN(x) || Float.isInfinite(x)) return;
        for (Precision p : new Precision[]{Precision.BF16, Precision.TF32}) {
            float r = p.round(x);
            int low = p == Precision.BF16 ? 0xffff : 0x1fff;
            if (!Float.isInfinite(r)) {
                assertEquals(0, Float.floatToRawIntBits(r) & low, p + " keeps low bits of " + x);
                double ulp = p == Precision.BF16 ? 0x1p-8 : 0x1p-11;   // half a unit in the last place, relative
                assertTrue(Math.abs((double) r - x) <= ulp * Math.abs(x) + Float.MIN_NORMAL, p + " " + x + " -> " + r);
            }
            assertEquals(r, p.round(r), p + " is not idempotent at " + x);
        }
    }

    @Test
    void parseNamesTheChoices() {
        assertEquals(Precision.BF16, Precision.parse("BF16"));
        assertEquals(Precision.TF32, Precision.parse(" tf32 "));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Precision.parse("fp16"));
        assertEquals("precision 'fp16' is not one of fp32, tf32, bf16", e.getMessage());
    }

    /** The CPU gemm under BF16/TF32 equals an fp32 gemm of the rounded operands, and differs from plain fp32. */
    @Test
    void cpuGemmMultipliesRoundedOperands() {
        try (CpuBackend cpu = new CpuBackend()) {
            Random rnd = new Random(5);
            int m = 23, n = 31, k = 70;
            float[] a = new float[m * k], b = new float[n * k];
            for (int i = 0; i < a.length; i++) a[i] = (float) rnd.nextGaussian();
            for (int i = 0; i < b.length; i++) b[i] = (float) rnd.nextGaussian();
            Tensor ta = cpu.fromFloats(a, Shape.of(m, k)), tb = cpu.fromFloats(b, Shape.of(n, k));
            float[] plain = product(cpu, ta, tb, m, n, k);
            for (Precision p : new Precision[]{Precision.BF16, Precision.TF32}) {
                cpu.setMatmulPrecision(p);
                assertEquals(p, cpu.matmulPrecision());
                float[] got = product(cpu, ta, tb, m, n, k);
                cpu.setMatmulPrecision(Precision.FP32);
                Tensor ra = cpu.fromFloats(p.rounded(a), Shape.of(m, k)), rb = cpu.fromFloats(p.rounded(b), Shape.of(n, k));
                float[] want = product(cpu, ra, rb, m, n, k);
                double maxDiffPlain = 0;
                for (int i = 0; i < got.length; i++) {
                    assertEquals(want[i], got[i], 1e-5f * Math.sqrt(k), p + " element " + i);
                    maxDiffPlain = Math.max(maxDiffPlain, Math.abs(got[i] - plain[i]));
                }
                // bf16 keeps 8 significant bits, tf32 11: the products of ~N(0,1) values move by far more than fp32 noise
                assertTrue(maxDiffPlain > (p == Precision.BF16 ? 1e-2 : 1e-3), p + " did not round: max |diff| " + maxDiffPlain);
            }
        }
    }

    private static float[] product(CpuBackend cpu, Tensor a, Tensor b, int m, int n, int k) {
        Tensor c = cpu.empty(Shape.of(m, n));
        cpu.gemm(m, n, k, 1f, MatrixView.of(a, k), MatrixView.of(b, k).t(), 0f, MatrixView.of(c, n), 1);
        return cpu.toFloats(c);
    }
}
