package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

class BatchNormGradTest {
    private final Backend be = Backends.cpu();

    private static DTensor positive(SplittableRandom rng, int c) { return DTensor.uniform(rng, 0.5, 1.5, c); }

    @Test
    void trainingUsesBatchStatsAndUpdatesRunningStats() {
        SplittableRandom rng = new SplittableRandom(7);
        DTensor rm = DTensor.random(rng, 3), rv = positive(rng, 3);
        Tensor runMean = be.fromFloats(rm.toFloats(), Shape.of(3)), runVar = be.fromFloats(rv.toFloats(), Shape.of(3));
        GradCheck g = GradCheck.of("batchNorm2d train", 1).input("x", 2, 3, 3, 2).input("gamma", 3).input("beta", 3);
        g.run((ops, v) -> ops.batchNorm2d(v.get(0), v.get(1), v.get(2), runMean, runVar, true, 0.1f, 1e-5f),
                        r -> Ref.batchNorm2d(r.get(0), r.get(1), r.get(2), null, null, true, (double) 1e-5f));
        // the running statistics moved once, with the unbiased variance
        DTensor[] want = Ref.batchNormRunning(g.value("x"), rm, rv, (double) 0.1f);
        float[] gm = be.toFloats(runMean), gv = be.toFloats(runVar);
        for (int c = 0; c < 3; c++) {
            assertEquals(want[0].data[c], gm[c], 1e-6, "running mean " + c);
            assertEquals(want[1].data[c], gv[c], 1e-6, "running var " + c);
        }
    }

    @Test
    void evalUsesRunningStatsAsConstants() {
        SplittableRandom rng = new SplittableRandom(8);
        DTensor rm = DTensor.random(rng, 4), rv = positive(rng, 4);
        Tensor runMean = be.fromFloats(rm.toFloats(), Shape.of(4)), runVar = be.fromFloats(rv.toFloats(), Shape.of(4));
        GradCheck.of("batchNorm2d eval", 2).input("x", 2, 4, 2, 3).input("gamma", 4).input("beta", 4)
                .run((ops, v) -> ops.batchNorm2d(v.get(0), v.get(1), v.get(2), runMean, runVar, false, 0.1f, 1e-5f),
                        r -> Ref.batchNorm2d(r.get(0), r.get(1), r.get(2), rm, rv, false, (double) 1e-5f));
        float[] gm = be.toFloats(runMean);
        for (int c = 0; c < 4; c++) assertEquals((float) rm.data[c], gm[c], 0f, "eval must not touch running mean");
    }
}
