package dinoseg.backend.cuda;

import static dinoseg.backend.cuda.CudaTestSupport.gpu;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.google.gson.JsonObject;

import dinoseg.backend.Precision;
import dinoseg.bench.Bench;

/**
 * bench --mode gemm|attention on the CUDA backend (the emulated driver without a GPU): every case
 * runs, is checked against the CPU backend at the same precision, and the check holds — bf16 within
 * bf16's rounding, fp32 within fp32's. The GPU kit runs the same command at the real sizes.
 */
class TensorCoreOpBenchTest {
    @TempDir Path tmp;

    @BeforeEach
    void gpuPresent() { CudaTestSupport.assumeGpu(); }

    private List<JsonObject> run(Bench.Mode mode, Precision p) throws Exception {
        Path tiny = tmp.resolve("tiny.json");
        Files.writeString(tiny, "{\"embed_dim\": 64, \"depth\": 1, \"heads\": 1, \"pos_grid\": 4}");
        Bench.Config c = new Bench.Config("cuda", mode, tiny.toString(), 56, 2, p, 0, 1, 3);
        return Bench.runAll(c, gpu());
    }

    @Test
    void gemmAndAttentionCasesRunAndMatchTheCpu() throws Exception {
        for (Precision p : new Precision[]{Precision.FP32, Precision.BF16}) {
            List<JsonObject> g = run(Bench.Mode.GEMM, p), a = run(Bench.Mode.ATTENTION, p);
            assertEquals(List.of("qkv", "proj", "fc1", "fc2", "fc1 weight grad"), g.stream().map(o -> o.get("case").getAsString()).toList());
            assertEquals(List.of("forward", "backward"), a.stream().map(o -> o.get("case").getAsString()).toList());
            assertEquals(2 * 17, g.get(0).get("m").getAsInt(), "tokens = batch x (1 + (56/14)^2)");
            double bound = p == Precision.BF16 ? 2e-2 : 1e-5;
            for (JsonObject o : concat(g, a)) {
                assertEquals(p.flag(), o.get("precision").getAsString());
                assertTrue(o.get("ms_median").getAsDouble() > 0, o.toString());
                double err = o.get("max_rel_err").getAsDouble();
                assertTrue(err <= bound, o + ": max_rel_err above " + bound);
            }
        }
        assertEquals(Precision.FP32, gpu().matmulPrecision(), "the bench restores fp32");
    }

    private static List<JsonObject> concat(List<JsonObject> a, List<JsonObject> b) {
        return java.util.stream.Stream.concat(a.stream(), b.stream()).toList();
    }
}
