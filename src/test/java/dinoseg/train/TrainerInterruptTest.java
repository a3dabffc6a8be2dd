package dinoseg.train;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.io.HostTensor;
import dinoseg.io.Safetensors;
import dinoseg.io.Stop;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Stopping a run between two steps (what SIGINT/SIGTERM do in the CLI) and resuming it mid-epoch
 * gives the uninterrupted run's metrics and weights bit for bit, as does resuming from a state that
 * {@code --save-every-min} wrote during an epoch. Tiny model (32 wide, 2 blocks), 56x56 images, six
 * training images in batches of two: three steps per epoch.
 */
class TrainerInterruptTest {
    @TempDir static Path tmp;
    static Path data;
    static final Backend BE = Backends.cpu();

    @BeforeAll
    static void writeData() throws Exception {
        data = TinyData.write(tmp.resolve("data"), 6, 2, 56, 3);
    }

    private static PrintWriter sink() { return new PrintWriter(new StringWriter(), true); }

    /** Fine-tuning with a batch-norm head (running statistics), cosine schedule with warmup, augmentation: every kind of state. */
    private static TrainConfig.Builder config(String out) {
        return TinyData.fineTuneConfig(data, tmp.resolve(out)).warmup(0.5)
                .saveEveryMin(0); // only where a test asks for it
    }

    /** A listener that acts after one given step. */
    private static Trainer.Listener atStep(int epoch, int step, Runnable action) {
        return new Trainer.Listener() {
            @Override public void epochEnd(int e, dinoseg.model.Dinov2Segmentation m) { }

            @Override public void stepEnd(int e, int s) { if (e == epoch && s == step) action.run(); }
        };
    }

    private static void assertSameRun(List<History.Row> straight, Path straightDir, List<History.Row> resumed, Path resumedDir) throws Exception {
        assertEquals(straight.size(), resumed.size());
        for (int i = 0; i < straight.size(); i++) {
            History.Row a = straight.get(i), b = resumed.get(i);
            assertEquals(a.epoch(), b.epoch());
            double[] x = {a.trainLoss(), a.trainPixAcc(), a.trainMiou(), a.validLoss(), a.validPixAcc(), a.validMiou(), a.lr()};
            double[] y = {b.trainLoss(), b.trainPixAcc(), b.trainMiou(), b.validLoss(), b.validPixAcc(), b.validMiou(), b.lr()};
            assertArrayEquals(x, y, 0.0, "epoch " + (i + 1) + " differs after a mid-epoch resume (" + resumedDir.getFileName() + ")");
        }
        List<String> s = Files.readAllLines(straightDir.resolve("metrics.csv")), t = Files.readAllLines(resumedDir.resolve("metrics.csv"));
        assertEquals(s.size(), t.size());
        for (int i = 0; i < s.size(); i++) // all but the seconds column
            assertEquals(s.get(i).substring(0, s.get(i).lastIndexOf(',')), t.get(i).substring(0, t.get(i).lastIndexOf(',')));
        Map<String, HostTensor> fa = Safetensors.read(straightDir.resolve("final_model.safetensors")).tensors();
        Map<String, HostTensor> fb = Safetensors.read(resumedDir.resolve("final_model.safetensors")).tensors();
        assertEquals(fa.keySet(), fb.keySet());
        for (var e : fa.entrySet()) assertArrayEquals(e.getValue().data(), fb.get(e.getKey()).data(), 0f, e.getKey());
    }

    private static List<History.Row> resume(Path dir) throws Exception {
        return Trainer.resume(dir, null, BE, sink(), sink()).run().history();
    }

    @Test
    void stoppedBetweenStepsOrSavedPeriodicallyAndResumedEqualsTheUninterruptedRun() throws Exception {
        // the uninterrupted run writes its state after every step (--save-every-min ~0); the one on disk
        // when step 2 of epoch 2 ends is the state after step 1: keep it aside
        TrainConfig straightCfg = config("straight").saveEveryMin(1e-9).build();
        Path straightDir = tmp.resolve("straight"), periodic = tmp.resolve("periodic");
        Files.createDirectories(periodic);
        List<History.Row> straight = new Trainer(straightCfg, BE, sink(), sink()).listener(atStep(2, 2, () -> {
            try {
                Files.copy(straightDir.resolve(ResumeState.FILE), periodic.resolve(ResumeState.FILE), StandardCopyOption.REPLACE_EXISTING);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        })).run().history();
        ResumeState p = ResumeState.read(periodic);
        assertEquals(1, p.epoch());
        assertNotNull(p.partial(), "a state written within an epoch records the partial epoch");
        assertEquals(1, p.partial().steps());
        assertEquals(3 + 1, p.globalStep());

        // SIGTERM's path after step 2 of epoch 2 (mid-epoch), SIGINT's after the last step of epoch 1 (before its validation)
        record Case(String name, int epoch, int step, String signal, int code, int doneEpochs) { }
        for (Case k : List.of(new Case("term_mid", 2, 2, "TERM", 143, 1), new Case("int_end", 1, 3, "INT", 130, 0))) {
            Stop stop = new Stop();
            Trainer t = new Trainer(config(k.name()).build(), BE, sink(), sink()).stopOn(stop).launcher("java -jar target/dinoseg.jar")
                    .listener(atStep(k.epoch(), k.step(), () -> stop.request(k.signal(), k.code())));
            Stop.Stopped e = assertThrows(Stop.Stopped.class, t::run);
            assertEquals(k.code(), e.exitCode());
            Path dir = tmp.resolve(k.name());
            assertEquals("stopped by SIG" + k.signal() + " at epoch " + k.epoch() + " of 2" + (k.step() == 3
                            ? " after its 3 training steps (before validation)" : ", step " + k.step() + " of 3")
                            + "; state saved in " + dir.resolve(ResumeState.FILE) + "; resume with: java -jar target/dinoseg.jar train --resume " + dir,
                    e.getMessage());
            ResumeState st = ResumeState.read(dir);
            assertEquals(k.doneEpochs(), st.epoch());
            assertEquals(k.step(), st.partial().steps());
            assertEquals(3L * k.doneEpochs() + k.step(), st.globalStep());
            assertFalse(Files.exists(dir.resolve("final_model.safetensors")));
            assertSameRun(straight, straightDir, resume(dir), dir);
        }
        assertSameRun(straight, straightDir, resume(periodic), periodic);
    }

    /**
     * --accum-steps 2 (batch 1, 6 images: 3 optimizer steps per epoch): periodic states are written only
     * at optimizer-step boundaries, a stop asked for mid-group waits for the group's end, and the resumed
     * run equals the uninterrupted one.
     */
    @Test
    void withAccumulationStatesAndStopsFallOnOptimizerSteps() throws Exception {
        TrainConfig straightCfg = config("acc_straight").batch(1).accumSteps(2).saveEveryMin(1e-9).build();
        Path straightDir = tmp.resolve("acc_straight");
        int[] seen = new int[2];
        List<History.Row> straight = new Trainer(straightCfg, BE, sink(), sink()).listener(atStep(2, 3, () -> {
            ResumeState st = ResumeState.read(straightDir);
            seen[0] = st.partial().steps();
            seen[1] = (int) st.globalStep();
        })).run().history();
        assertEquals(2, seen[0], "after batch 3 the state on disk is the one of batch 2, the last optimizer step");
        assertEquals(3 + 1, seen[1], "3 optimizer steps in epoch 1, 1 in epoch 2");

        Stop stop = new Stop();
        Trainer t = new Trainer(config("acc_mid").batch(1).accumSteps(2).build(), BE, sink(), sink()).stopOn(stop)
                .listener(atStep(2, 3, () -> stop.request("TERM", 143)));
        Stop.Stopped e = assertThrows(Stop.Stopped.class, t::run);
        assertTrue(e.getMessage().contains("at epoch 2 of 2, step 4 of 6"), e.getMessage());
        ResumeState st = ResumeState.read(tmp.resolve("acc_mid"));
        assertEquals(4, st.partial().steps());
        assertEquals(3 + 2, st.globalStep());
        assertSameRun(straight, straightDir, resume(tmp.resolve("acc_mid")), tmp.resolve("acc_mid"));
    }

    @Test
    void aStopAtAnEpochEndKeepsThatEpochsStateAndTheFirstRequestWins() throws Exception {
        Stop stop = new Stop();
        Trainer t = new Trainer(config("epoch_end").build(), BE, sink(), sink()).stopOn(stop).listener(new Trainer.Listener() {
            @Override public void epochEnd(int e, dinoseg.model.Dinov2Segmentation m) {
                if (e == 1) {
                    assertTrue(stop.request("TERM", 143));
                    assertFalse(stop.request("INT", 130), "a second request changes nothing");
                }
            }
        });
        Stop.Stopped e = assertThrows(Stop.Stopped.class, t::run);
        assertEquals(143, e.exitCode());
        assertTrue(e.getMessage().startsWith("stopped by SIGTERM before epoch 2 of 2; "), e.getMessage());
        ResumeState st = ResumeState.read(tmp.resolve("epoch_end"));
        assertEquals(1, st.epoch());
        assertNull(st.partial(), "stopped at an epoch boundary: the epoch's own state");
        assertEquals(1, st.history().size());
    }

    @Test
    void evaluationStopsBetweenBatchesAndReturnsNothing() {
        Stop stop = new Stop();
        int h = 28, w = 28;
        FeedBatch fb = new FeedBatch(new float[3 * h * w], new int[h * w], 1, h, w, null, null);
        Iterator<FeedBatch> batches = new Iterator<>() {
            int given;

            @Override public boolean hasNext() { return given < 3; }

            @Override public FeedBatch next() {
                if (++given == 2) stop.request("INT", 130); // arrives while batch 2 is evaluated
                return fb;
            }
        };
        Stop.Stopped e = assertThrows(Stop.Stopped.class,
                () -> Evaluator.evaluate(EvaluatorTest.alwaysCat(), BE, batches, 3, 255, null, "eval", stop));
        assertEquals("stopped by SIGINT during eval after 2 of 3 batches: nothing written", e.getMessage());
        assertEquals(130, e.exitCode());
    }
}
