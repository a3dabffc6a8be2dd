package dinoseg.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dinoseg.backend.Backend;
import dinoseg.backend.cuda.CudaTestSupport;
import dinoseg.backend.cuda.EmulatedDriver;
import dinoseg.io.Safetensors;
import dinoseg.io.HostTensor;

/**
 * {@code train --cuda-graphs} on the CUDA backend (the emulated driver without a GPU): three epochs
 * of fine-tuning (batch-norm head, cosine lr, augmentation) where 5 images in batches of 2 give two
 * full batches and a short one per epoch. The first step runs op by op, the second records the step
 * and replays it, and later full batches only replay; the short batches run op by op. Histories and
 * final weights must be those of the same run without graphs, and a replayed step must queue no
 * kernel from the host: one graph launch.
 */
class CudaGraphTrainingTest {
    @TempDir static Path tmp;
    static Path data;

    @BeforeAll
    static void writeData() throws Exception {
        data = TinyData.write(tmp.resolve("data"), 5, 2, 56, 3);
    }

    @BeforeEach
    void gpu() { CudaTestSupport.assumeGpu(); }

    private static TrainConfig config(String out) {
        return TinyData.fineTuneConfig(data, tmp.resolve(out)).epochs(3).build();
    }

    @Test
    void replayedStepsTrainTheSameWeightsAsOpByOpSteps() throws Exception {
        Backend gpu = CudaTestSupport.gpu();
        StringWriter log = new StringWriter();
        Trainer.Result plain = new Trainer(config("plain"), gpu, new PrintWriter(new StringWriter(), true),
                new PrintWriter(new StringWriter(), true)).run();

        List<int[]> perStep = new ArrayList<>();   // epoch, step, kernel launches and graph launches of the step
        int[] last = counters();
        Trainer graphs = new Trainer(config("graphs"), gpu, new PrintWriter(new StringWriter(), true), new PrintWriter(log, true))
                .cudaGraphs(true);
        int[] before = last.clone();
        graphs.listener(new Trainer.Listener() {
            int[] mark = before;
            @Override public void epochEnd(int epoch, dinoseg.model.Dinov2Segmentation m) { mark = counters(); }
            @Override public void stepEnd(int epoch, int step) {
                int[] now = counters();
                perStep.add(new int[] {epoch, step, now[0] - mark[0], now[1] - mark[1]});
                mark = now;
            }
        });
        Trainer.Result replayed = graphs.run();
        assertTrue(log.toString().contains("cuda graphs: one training step recorded"), log.toString());

        assertEquals(plain.history().size(), replayed.history().size());
        for (int i = 0; i < plain.history().size(); i++) {
            History.Row x = plain.history().get(i), y = replayed.history().get(i);
            assertArrayEquals(new double[] {x.trainLoss(), x.trainPixAcc(), x.trainMiou(), x.validLoss(), x.validPixAcc(), x.validMiou(), x.lr()},
                    new double[] {y.trainLoss(), y.trainPixAcc(), y.trainMiou(), y.validLoss(), y.validPixAcc(), y.validMiou(), y.lr()},
                    0.0, "history of epoch " + (i + 1));
        }
        Map<String, HostTensor> a = Safetensors.read(plain.outDir().resolve(Trainer.FINAL + ".safetensors")).tensors();
        Map<String, HostTensor> b = Safetensors.read(replayed.outDir().resolve(Trainer.FINAL + ".safetensors")).tensors();
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) assertArrayEquals(a.get(k).data(), b.get(k).data(), 0f, "final weight " + k);

        for (String[] c : new String[][] {{"clip", "--clip-grad"}, {"drop", "--drop-path"}, {"accum", "--accum-steps"}}) {
            TrainConfig.Builder tb = TinyData.fineTuneConfig(data, tmp.resolve(c[0]));
            TrainConfig cfg = c[0].equals("clip") ? tb.clipGrad(1).build() : c[0].equals("drop") ? tb.dropPath(0.1).build() : tb.accumSteps(2).build();
            String why = Trainer.whyNoGraphs(cfg, gpu);
            assertTrue(why != null && why.contains(c[1]), why);
        }
        assertEquals(null, Trainer.whyNoGraphs(config("ok"), gpu));

        if (!EmulatedDriver.active()) return;
        assertEquals(9, perStep.size(), "steps of three epochs");
        for (int[] s : perStep) {
            String where = "epoch " + s[0] + " step " + s[1];
            boolean full = s[1] < 3, eager = !full || (s[0] == 1 && s[1] == 1), capture = s[0] == 1 && s[1] == 2;
            if (capture) {
                assertTrue(s[2] > 50, where + ": the recorded step's kernels (" + s[2] + ")");
                assertEquals(1, s[3], where + ": recorded, then one graph launch runs it");
            } else if (!eager) {
                assertEquals(0, s[2], where + ": a replayed step queues no kernel from the host");
                assertEquals(1, s[3], where + ": one graph launch");
            } else {
                assertTrue(s[2] > 50, where + ": an op-by-op step launches its kernels (" + s[2] + ")");
                assertEquals(0, s[3], where + ": no graph launch");
            }
        }
    }

    @Test
    void cachedFeaturesLoraAndBf16StepsReplayTheSameToo() throws Exception {
        Backend gpu = CudaTestSupport.gpu();
        TrainConfig[][] pairs = {
            {TinyData.config(data, tmp.resolve("cache-plain"), 56).cacheFeatures(true).build(),
             TinyData.config(data, tmp.resolve("cache-graphs"), 56).cacheFeatures(true).build()},
            {TinyData.config(data, tmp.resolve("lora-plain"), 56).lora(2, 4, List.of("qkv", "fc1")).build(),
             TinyData.config(data, tmp.resolve("lora-graphs"), 56).lora(2, 4, List.of("qkv", "fc1")).build()},
            {TinyData.fineTuneConfig(data, tmp.resolve("bf16-plain")).precision(dinoseg.backend.Precision.BF16).build(),
             TinyData.fineTuneConfig(data, tmp.resolve("bf16-graphs")).precision(dinoseg.backend.Precision.BF16).build()}};
        for (TrainConfig[] p : pairs) {
            StringWriter log = new StringWriter();
            Trainer.Result a = new Trainer(p[0], gpu, new PrintWriter(new StringWriter(), true), new PrintWriter(new StringWriter(), true)).run();
            Trainer.Result b = new Trainer(p[1], gpu, new PrintWriter(new StringWriter(), true), new PrintWriter(log, true)).cudaGraphs(true).run();
            assertTrue(log.toString().contains("cuda graphs: one training step recorded"), log.toString());
            for (int i = 0; i < a.history().size(); i++)
                assertEquals(a.history().get(i).trainLoss(), b.history().get(i).trainLoss(), 0.0, p[1].outDir() + " epoch " + (i + 1));
            assertEquals(a.finalValidMiou(), b.finalValidMiou(), 0.0, p[1].outDir());
        }
    }

    @Test
    void aRunStoppedMidEpochResumesWithGraphsToTheSameBits() throws Exception {
        Backend gpu = CudaTestSupport.gpu();
        PrintWriter quiet = new PrintWriter(new StringWriter(), true);
        Trainer.Result straight = new Trainer(config("straight"), gpu, quiet, quiet).cudaGraphs(true).run();
        // stop after step 2 of epoch 2 (a replayed step whose loss is still on its way when the stop comes)
        dinoseg.io.Stop stop = new dinoseg.io.Stop();
        Trainer first = new Trainer(config("stopped"), gpu, quiet, quiet).cudaGraphs(true).stopOn(stop);
        first.listener(new Trainer.Listener() {
            @Override public void epochEnd(int epoch, dinoseg.model.Dinov2Segmentation m) { }
            @Override public void stepEnd(int epoch, int step) { if (epoch == 2 && step == 2) stop.request("TERM", 143); }
        });
        org.junit.jupiter.api.Assertions.assertThrows(dinoseg.io.Stop.Stopped.class, first::run);
        assertEquals(2, ResumeState.read(tmp.resolve("stopped")).partial().steps(), "the state holds two steps of epoch 2");
        Trainer.Result resumed = Trainer.resume(tmp.resolve("stopped"), null, gpu, quiet, quiet).cudaGraphs(true).run();
        assertEquals(straight.history().size(), resumed.history().size());
        for (int i = 0; i < straight.history().size(); i++) {
            History.Row x = straight.history().get(i), y = resumed.history().get(i);
            assertArrayEquals(new double[] {x.trainLoss(), x.trainMiou(), x.validLoss(), x.validMiou()},
                    new double[] {y.trainLoss(), y.trainMiou(), y.validLoss(), y.validMiou()}, 0.0, "epoch " + (i + 1) + " after a resume");
        }
    }

    /** Kernel launches and graph launches so far (zeros when the driver is not the emulator). */
    private static int[] counters() {
        if (!EmulatedDriver.active()) return new int[2];
        return new int[] {EmulatedDriver.count(EmulatedDriver.LAUNCHES), EmulatedDriver.count(EmulatedDriver.GRAPH_LAUNCHES)};
    }
}
