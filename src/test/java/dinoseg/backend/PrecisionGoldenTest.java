package dinoseg.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;

import org.junit.jupiter.api.Test;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import dinoseg.backend.cpu.CpuBackend;
import dinoseg.model.Golden;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/**
 * {@link Precision#BF16} against PyTorch (golden/bf16.json from tools/gen_bf16_golden.py, PyTorch
 * 1.13): rounding equals {@code x.bfloat16()} bit for bit (ties, signs, subnormals, overflow), and a
 * matmul under {@code torch.autocast("cpu", dtype=torch.bfloat16)} — bf16 operands, fp32 sums, a bf16
 * result — equals the CPU backend's bf16 gemm rounded to bf16, to one bf16 unit (summation order
 * may tip a rounding) and exactly for nearly all elements.
 */
class PrecisionGoldenTest {

    private static float[] floats(JsonArray a) {
        float[] f = new float[a.size()];
        for (int i = 0; i < f.length; i++) f[i] = a.get(i).getAsFloat();
        return f;
    }

    @Test
    void roundingAndAutocastMatmulMatchPyTorch() throws Exception {
        JsonObject g = JsonParser.parseString(Files.readString(Golden.path("bf16.json"))).getAsJsonObject();
        float[] x = floats(g.getAsJsonObject("round").getAsJsonArray("x")), want = floats(g.getAsJsonObject("round").getAsJsonArray("bf16"));
        for (int i = 0; i < x.length; i++)
            assertEquals(Float.floatToIntBits(want[i]), Float.floatToIntBits(Precision.BF16.round(x[i])), "bf16 of " + x[i]);

        JsonObject mm = g.getAsJsonObject("matmul");
        int m = mm.get("m").getAsInt(), n = mm.get("n").getAsInt(), k = mm.get("k").getAsInt();
        float[] torch = floats(mm.getAsJsonArray("autocast_bf16"));
        try (CpuBackend cpu = new CpuBackend()) {
            cpu.setMatmulPrecision(Precision.BF16);
            Tensor a = cpu.fromFloats(floats(mm.getAsJsonArray("a")), Shape.of(m, k)), b = cpu.fromFloats(floats(mm.getAsJsonArray("b")), Shape.of(k, n));
            Tensor c = cpu.empty(Shape.of(m, n));
            cpu.gemm(m, n, k, 1f, MatrixView.of(a, k), MatrixView.of(b, n), 0f, MatrixView.of(c, n), 1);
            float[] ours = cpu.toFloats(c);
            int exact = 0;
            for (int i = 0; i < ours.length; i++) {
                float r = Precision.BF16.round(ours[i]);
                float ulp = Math.ulp(torch[i]) * 65536f;   // one bf16 unit at torch's value
                assertTrue(Math.abs(r - torch[i]) <= ulp, "element " + i + ": ours " + r + " torch " + torch[i]);
                if (r == torch[i]) exact++;
            }
            assertTrue(exact >= 0.9 * ours.length, exact + " of " + ours.length + " equal to PyTorch's bit for bit");
        }
    }
}
