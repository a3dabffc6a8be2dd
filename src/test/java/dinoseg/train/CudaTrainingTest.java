package dinoseg.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.backend.cuda.CudaTestSupport;

/**
 * Whole training runs on the CUDA backend (the emulated driver without a GPU): a tiny ViT fine-tuned
 * for two epochs follows the same run on the CPU backend, and a run stopped after epoch 1 and resumed
 * on CUDA reproduces the uninterrupted CUDA run. This drives every op of the model, the loss, AdamW,
 * the data path and checkpoint writing through the CUDA backend in the order training uses them.
 */
class CudaTrainingTest {
    @TempDir static Path tmp;
    static Path data;

    @BeforeAll
    static void writeData() throws Exception {
        data = TinyData.write(tmp.resolve("data"), 4, 2, 56, 1);
    }

    @BeforeEach
    void gpu() { CudaTestSupport.assumeGpu(); }

    private static Trainer trainer(TrainConfig c, Backend be) {
        return new Trainer(c, be, new PrintWriter(new StringWriter(), true), new PrintWriter(new StringWriter(), true));
    }

    private static TrainConfig config(String out) {
        return TinyData.fineTuneConfig(data, tmp.resolve(out)).build();
    }

    private static double[] row(History.Row r) {
        return new double[]{r.trainLoss(), r.trainPixAcc(), r.trainMiou(), r.validLoss(), r.validPixAcc(), r.validMiou(), r.lr()};
    }

    @Test
    void fineTuningOnCudaFollowsTheCpuAndResumes() throws Exception {
        List<History.Row> cpu = trainer(config("cpu"), Backends.cpu()).run().history();
        Backend gpu = CudaTestSupport.gpu();
        List<History.Row> straight = trainer(config("cuda"), gpu).run().history();
        assertEquals(2, straight.size());
        for (int i = 0; i < 2; i++) {
            History.Row a = cpu.get(i), b = straight.get(i);
            // float32 with other summation orders, through two epochs of AdamW: losses agree to 1e-3
            // relative; argmax-based scores may flip a few pixels.
            assertEquals(a.trainLoss(), b.trainLoss(), 1e-3 * Math.abs(a.trainLoss()), "train loss, epoch " + (i + 1));
            assertEquals(a.validLoss(), b.validLoss(), 1e-3 * Math.abs(a.validLoss()), "valid loss, epoch " + (i + 1));
            assertEquals(a.validPixAcc(), b.validPixAcc(), 0.01, "valid pixel accuracy, epoch " + (i + 1));
            assertEquals(a.lr(), b.lr(), 0.0, "learning rate, epoch " + (i + 1));
        }

        TrainConfig stopped = config("cuda-stopped");
        class Stop extends RuntimeException { }
        assertThrows(Stop.class, () -> trainer(stopped, gpu).listener((e, m) -> { if (e == 1) throw new Stop(); }).run());
        assertEquals(1, ResumeState.read(tmp.resolve("cuda-stopped")).epoch());
        List<History.Row> resumed = Trainer.resume(tmp.resolve("cuda-stopped"), null, gpu,
                new PrintWriter(new StringWriter(), true), new PrintWriter(new StringWriter(), true)).run().history();
        assertEquals(2, resumed.size());
        for (int i = 0; i < 2; i++) {
            double[] x = row(straight.get(i)), y = row(resumed.get(i));
            // the same kernels on the same inputs, and no float atomics (the resize backward gathers): the same bits
            for (int k = 0; k < x.length; k++)
                assertEquals(x[k], y[k], 0.0, "epoch " + (i + 1) + " column " + k + " after resume");
        }
        assertTrue(CudaTestSupport.gpu().liveBytes() >= 0);
    }
}
