package dinoseg.train;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.io.HostTensor;
import dinoseg.io.Safetensors;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.SegmentationHead;
import dinoseg.nn.Parameter;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Training on tiny models (32 wide, 2 blocks) and tiny images (56x56), so each run takes a second or two. */
class TrainerTest {
    @TempDir static Path tmp;
    static Path data;
    static final Backend BE = Backends.cpu();

    @BeforeAll
    static void writeData() throws Exception {
        data = TinyData.write(tmp.resolve("data"), 4, 2, 56, 1);
    }

    private static final StringWriter OUT = new StringWriter();

    private static Trainer trainer(TrainConfig c) {
        return new Trainer(c, BE, new PrintWriter(OUT, true), new PrintWriter(new StringWriter(), true));
    }

    private static Map<String, HostTensor> read(Path f) throws Exception { return Safetensors.read(f).tensors(); }

    /** The model the trainer starts from: same config, same seed. */
    private static Map<String, HostTensor> initialState(TrainConfig c) {
        BackboneConfig bc = BackboneConfig.fromJson("tiny", c.backboneConfig().toString(), "test");
        Dinov2Segmentation m = Dinov2Segmentation.create(BE, bc, c.head(), 3, null, c.seed());
        return dinoseg.checkpoint.StateDicts.of(m);
    }

    @Test
    void frozenBackboneStaysBitIdenticalWithoutGradientsWhileTheHeadLearns() throws Exception {
        TrainConfig c = TinyData.config(data, tmp.resolve("frozen"), 56).epochs(1).build();
        boolean[] checked = {false};
        trainer(c).listener((e, m) -> {
            for (Parameter p : m.backbone.namedParameters().values()) {
                assertFalse(p.requiresGrad(), "frozen backbone parameter requires a gradient");
                assertNull(p.grad(), "frozen backbone parameter received a gradient");
            }
            checked[0] = true;
        }).run();
        assertTrue(checked[0]);
        Map<String, HostTensor> before = initialState(c), after = read(tmp.resolve("frozen/final_model.safetensors"));
        int headChanged = 0;
        for (var e : before.entrySet()) {
            HostTensor a = after.get(e.getKey());
            assertNotNull(a, e.getKey());
            boolean same = java.util.Arrays.equals(e.getValue().data(), a.data());
            if (e.getKey().startsWith("backbone.")) assertTrue(same, e.getKey() + " changed in frozen mode");
            else if (!same) headChanged++;
        }
        assertEquals(2, headChanged, "both head tensors (conv weight and bias) should have changed");
    }

    /**
     * --clip-grad reaches the optimizer: with the gradients clipped to a total norm of 1e-12, AdamW's steps
     * (m / (sqrt(v) + 1e-8), gradients ~1e-13 per element) shrink to ~1e-5 of the lr (no weight decay here), so the head moves less
     * than 1% of what an unclipped run moves it; the setting is written to config.json.
     */
    @Test
    void clipGradClipsBeforeEachStepAndIsRecorded() throws Exception {
        TrainConfig free = TinyData.config(data, tmp.resolve("noclip"), 56).epochs(1).lr(1e-3).weightDecay(0).build();
        TrainConfig clipped = TinyData.config(data, tmp.resolve("clip"), 56).epochs(1).lr(1e-3).weightDecay(0).clipGrad(1e-12).build();
        trainer(free).run();
        trainer(clipped).run();
        Map<String, HostTensor> before = initialState(free);
        double moveFree = 0, moveClipped = 0;
        Map<String, HostTensor> a = read(tmp.resolve("noclip/final_model.safetensors")), b = read(tmp.resolve("clip/final_model.safetensors"));
        for (String k : before.keySet()) {
            if (!k.startsWith("head.")) continue;
            float[] x0 = before.get(k).data(), x1 = a.get(k).data(), x2 = b.get(k).data();
            for (int i = 0; i < x0.length; i++) {
                moveFree = Math.max(moveFree, Math.abs(x1[i] - x0[i]));
                moveClipped = Math.max(moveClipped, Math.abs(x2[i] - x0[i]));
            }
        }
        assertTrue(moveFree > 1e-4, "the unclipped head moves: " + moveFree);
        assertTrue(moveClipped < 0.01 * moveFree, "clipped to 1e-12 the head barely moves: " + moveClipped + " vs " + moveFree);
        String json = Files.readString(tmp.resolve("clip/config.json"));
        assertEquals(1e-12, TrainConfig.fromJson(json, "config.json").clipGrad(), 0);
        assertFalse(Files.readString(tmp.resolve("noclip/config.json")).contains("clip_grad"), "no clipping: not written");
        assertThrows(TrainConfig.InvalidSettingException.class, () -> TinyData.config(data, tmp.resolve("x"), 56).clipGrad(-1).build());
    }

    /**
     * --checkpoint-blocks recomputes each block in backward instead of keeping its activations: the run trains
     * to the same weights (within float noise of the recomputation) and records the setting; a frozen backbone
     * (nothing to checkpoint) is refused.
     */
    @Test
    void checkpointBlocksTrainsTheSameWeights() throws Exception {
        TrainConfig plain = TinyData.config(data, tmp.resolve("ckb-off"), 56).epochs(1).fineTune(true).build();
        TrainConfig ckb = TinyData.config(data, tmp.resolve("ckb-on"), 56).epochs(1).fineTune(true).checkpointBlocks(true).build();
        trainer(plain).run();
        trainer(ckb).run();
        Map<String, HostTensor> a = read(tmp.resolve("ckb-off/final_model.safetensors")), b = read(tmp.resolve("ckb-on/final_model.safetensors"));
        Map<String, HostTensor> before = initialState(plain);
        double diff = 0, moved = 0;
        for (String k : a.keySet()) {
            float[] x = a.get(k).data(), y = b.get(k).data(), x0 = before.get(k).data();
            for (int i = 0; i < x.length; i++) {
                diff = Math.max(diff, Math.abs(x[i] - y[i]));
                moved = Math.max(moved, Math.abs(x[i] - x0[i]));
            }
        }
        assertTrue(moved > 1e-4, "the run trains: " + moved);
        assertTrue(diff < 1e-5, "checkpointed blocks train to the same weights: max |diff| " + diff);
        assertTrue(TrainConfig.fromJson(Files.readString(tmp.resolve("ckb-on/config.json")), "config.json").checkpointBlocks());
        assertFalse(Files.readString(tmp.resolve("ckb-off/config.json")).contains("checkpoint_blocks"));
        assertThrows(TrainConfig.InvalidSettingException.class, () -> TinyData.config(data, tmp.resolve("y"), 56).checkpointBlocks(true).build());
    }

    @Test
    void fineTuneChangesBackboneAndHead() throws Exception {
        TrainConfig c = TinyData.config(data, tmp.resolve("fine"), 56).epochs(1).fineTune(true).build();
        trainer(c).run();
        Map<String, HostTensor> before = initialState(c), after = read(tmp.resolve("fine/final_model.safetensors"));
        int backboneChanged = 0, headChanged = 0;
        for (var e : before.entrySet()) {
            if (java.util.Arrays.equals(e.getValue().data(), after.get(e.getKey()).data())) continue;
            if (e.getKey().startsWith("backbone.")) backboneChanged++;
            else headChanged++;
        }
        assertEquals(2, headChanged);
        assertFalse(Files.exists(tmp.resolve("fine/final_model_head.safetensors")), "a head-only file cannot restore a fine-tuned backbone");
        // every trained backbone tensor moves; mask_token gets no gradient (no masking in segmentation)
        long trainable = before.keySet().stream().filter(k -> k.startsWith("backbone.") && !k.endsWith("mask_token")).count();
        assertEquals(trainable, backboneChanged);
    }

    /**
     * --unfreeze-last 1 of the depth-2 tiny backbone: after a run only block 1, the final norm and the
     * head changed; the embeddings and block 0 are bit-identical and never held a gradient. With
     * --layer-decay on top the run trains the same set and records both settings.
     */
    @Test
    void unfreezeLastTrainsOnlyTheLastBlocksAndTheNorm() throws Exception {
        TrainConfig c = TinyData.config(data, tmp.resolve("last1"), 56).epochs(1).fineTune(true).unfreezeLast(1).layerDecay(0.5).build();
        boolean[] checked = {false};
        trainer(c).listener((e, m) -> {
            for (var p : m.backbone.namedParameters().entrySet()) {
                boolean trains = p.getKey().startsWith("blocks.1.") || p.getKey().startsWith("norm.");
                assertEquals(trains, p.getValue().requiresGrad(), p.getKey());
                if (!trains) assertNull(p.getValue().grad(), p.getKey() + " received a gradient");
            }
            checked[0] = true;
        }).run();
        assertTrue(checked[0]);
        Map<String, HostTensor> before = initialState(c), after = read(tmp.resolve("last1/final_model.safetensors"));
        int trainedChanged = 0, trained = 0;
        for (var e : before.entrySet()) {
            String k = e.getKey();
            boolean same = java.util.Arrays.equals(e.getValue().data(), after.get(k).data());
            boolean trains = k.startsWith("head.") || k.startsWith("backbone.blocks.1.") || k.startsWith("backbone.norm.");
            if (!trains) assertTrue(same, k + " changed though frozen");
            else { trained++; if (!same) trainedChanged++; }
        }
        assertEquals(trained, trainedChanged, "every tensor of block 1, the norm and the head moved");
        TrainConfig back = TrainConfig.fromJson(Files.readString(tmp.resolve("last1/config.json")), "config.json");
        assertEquals(1, back.unfreezeLast());
        assertEquals(0.5, back.layerDecay());
        TrainConfig tooMany = TinyData.config(data, tmp.resolve("last3"), 56).fineTune(true).unfreezeLast(3).build();
        var e = assertThrows(IllegalArgumentException.class, () -> trainer(tooMany).run());
        assertTrue(e.getMessage().contains("--unfreeze-last 3") && e.getMessage().contains("2 blocks"), e.getMessage());
    }

    @Test
    void bf16MatmulsLearnAsFp32DoesAndTheRunRecordsItsPrecision() throws Exception {
        Path d = TinyData.write(tmp.resolve("aligned-bf16"), 4, 4, 56, 3, true);
        TrainConfig.Builder b = TinyData.config(d, tmp.resolve("bf16"), 56).fineTune(true).backboneLrScale(1).lr(2e-3).epochs(20).batch(2);
        Trainer.Result bf = trainer(b.precision(dinoseg.backend.Precision.BF16).build()).run();
        assertEquals(dinoseg.backend.Precision.FP32, BE.matmulPrecision(), "the run restores the backend's precision");
        Trainer.Result fp = trainer(b.precision(dinoseg.backend.Precision.FP32).outDir(tmp.resolve("fp32").toString()).build()).run();
        assertTrue(bf.finalValidMiou() >= 0.9, "bf16 valid (= train) mIoU " + bf.finalValidMiou() + " after 20 epochs on 4 images");
        assertEquals(fp.finalValidMiou(), bf.finalValidMiou(), 0.03, "bf16 and fp32 end within 0.03 mIoU");
        assertNotEquals(fp.history().get(19).trainLoss(), bf.history().get(19).trainLoss(), "bf16 rounding should change the losses");
        String bfJson = Files.readString(tmp.resolve("bf16/config.json")), fpJson = Files.readString(tmp.resolve("fp32/config.json"));
        assertTrue(bfJson.contains("\"precision\": \"bf16\""), bfJson);
        assertFalse(fpJson.contains("precision"), "fp32 runs write the config they always wrote");
        assertEquals(dinoseg.backend.Precision.BF16, TrainConfig.fromJson(bfJson, "config.json").precision());
    }

    @Test
    void tinyModelOverfitsFourImages() throws Exception {
        Path d = TinyData.write(tmp.resolve("aligned"), 4, 4, 56, 3, true);
        TrainConfig c = TinyData.config(d, tmp.resolve("overfit"), 56).fineTune(true).backboneLrScale(1).lr(2e-3).epochs(20).batch(2).build();
        Trainer.Result r = trainer(c).run();
        assertTrue(r.finalValidMiou() >= 0.9, "valid (= train) mIoU " + r.finalValidMiou() + " after 20 epochs on 4 images");
        assertTrue(r.history().get(19).trainLoss() < 0.25 * r.history().get(0).trainLoss(), "the loss should fall by far");
    }

    @Test
    void resumedRunReproducesTheUninterruptedOne() throws Exception {
        TrainConfig c = TinyData.config(data, tmp.resolve("straight"), 56).epochs(3).fineTune(true).head(SegmentationHead.Kind.BN)
                .scheduler(LrSchedule.Kind.COSINE).warmup(0.5).augment(dinoseg.data.Augment.Mode.TUTORIAL).build();
        List<History.Row> straight = trainer(c).run().history();

        TrainConfig c2 = c.toBuilder().outDir(tmp.resolve("stopped").toString()).build();
        class Stop extends RuntimeException { }
        assertThrows(Stop.class, () -> trainer(c2).listener((e, m) -> { if (e == 2) throw new Stop(); }).run());
        assertEquals(2, ResumeState.read(tmp.resolve("stopped")).epoch());
        List<History.Row> resumed = Trainer.resume(tmp.resolve("stopped"), null, BE, new PrintWriter(OUT, true),
                new PrintWriter(new StringWriter(), true)).run().history();

        assertEquals(3, resumed.size());
        for (int i = 0; i < 3; i++) {
            History.Row a = straight.get(i), b = resumed.get(i);
            assertEquals(a.epoch(), b.epoch());
            double[] x = {a.trainLoss(), a.trainPixAcc(), a.trainMiou(), a.validLoss(), a.validPixAcc(), a.validMiou(), a.lr()};
            double[] y = {b.trainLoss(), b.trainPixAcc(), b.trainMiou(), b.validLoss(), b.validPixAcc(), b.validMiou(), b.lr()};
            assertArrayEquals(x, y, 0.0, "epoch " + (i + 1) + " differs after resume");
        }
        // and the CSVs agree apart from the seconds column
        List<String> s = Files.readAllLines(tmp.resolve("straight/metrics.csv")), t = Files.readAllLines(tmp.resolve("stopped/metrics.csv"));
        assertEquals(s.size(), t.size());
        for (int i = 0; i < s.size(); i++)
            assertEquals(s.get(i).substring(0, s.get(i).lastIndexOf(',')), t.get(i).substring(0, t.get(i).lastIndexOf(',')));
        Map<String, HostTensor> fa = read(tmp.resolve("straight/final_model.safetensors")), fb = read(tmp.resolve("stopped/final_model.safetensors"));
        for (var e : fa.entrySet()) assertArrayEquals(e.getValue().data(), fb.get(e.getKey()).data(), 0f, e.getKey());
    }

    /**
     * --drop-path: the masks are keyed by (seed, epoch, step, block), so a run stopped after epoch 1 and
     * resumed ends bit-identical to the straight one; the run differs from one without drop path, and
     * records the rate. With --layer-decay, so the per-layer AdamW groups are restored from the state as well.
     */
    @Test
    void dropPathRunIsReproducedByResumeAndChangesTraining() throws Exception {
        TrainConfig c = TinyData.config(data, tmp.resolve("dp-straight"), 56).epochs(2).fineTune(true).backboneLrScale(1).dropPath(0.5)
                .layerDecay(0.7).build();   // per-layer optimizer groups go through the resume state too
        trainer(c).run();
        trainer(c.toBuilder().dropPath(0).outDir(tmp.resolve("dp-none").toString()).build()).run();
        TrainConfig c2 = c.toBuilder().outDir(tmp.resolve("dp-stopped").toString()).build();
        class Stop extends RuntimeException { }
        assertThrows(Stop.class, () -> trainer(c2).listener((e, m) -> { if (e == 1) throw new Stop(); }).run());
        Trainer.resume(tmp.resolve("dp-stopped"), null, BE, new PrintWriter(OUT, true), new PrintWriter(new StringWriter(), true)).run();
        Map<String, HostTensor> fa = read(tmp.resolve("dp-straight/final_model.safetensors")), fb = read(tmp.resolve("dp-stopped/final_model.safetensors")),
                fn = read(tmp.resolve("dp-none/final_model.safetensors"));
        boolean differs = false;
        for (var e : fa.entrySet()) {
            assertArrayEquals(e.getValue().data(), fb.get(e.getKey()).data(), 0f, e.getKey());
            differs |= !java.util.Arrays.equals(e.getValue().data(), fn.get(e.getKey()).data());
        }
        assertTrue(differs, "drop path changes what the run learns");
        assertEquals(0.5, TrainConfig.fromJson(Files.readString(tmp.resolve("dp-straight/config.json")), "config.json").dropPath());
        assertFalse(Files.readString(tmp.resolve("dp-none/config.json")).contains("drop_path"));
        assertThrows(TrainConfig.InvalidSettingException.class, () -> TinyData.config(data, tmp.resolve("x"), 56).dropPath(0.1).build());
        assertThrows(TrainConfig.InvalidSettingException.class, () -> TinyData.config(data, tmp.resolve("x"), 56).fineTune(true).dropPath(1).build());
    }

    /**
     * --accum-steps 2 with batch 1 makes the steps of batch 2: same data order, linear head (no batch
     * statistics), fine-tuned backbone, no drop path. One training mask is half ignore (255), so the
     * batches count different pixels and a plain loss/K would weight them wrongly; the pixel-weighted
     * accumulation does not. Float tolerance: the sums run in another order.
     */
    @Test
    void accumulatedStepsOfBatchBEqualStepsOfBatchKB() throws Exception {
        Path d = TinyData.write(tmp.resolve("accum-data"), 4, 2, 56, 5);
        int[] mask = new int[56 * 56];
        java.util.Arrays.fill(mask, 0, 56 * 40, 255);   // train_01: 40 of 56 rows ignored
        for (int i = 56 * 40; i < mask.length; i++) mask[i] = 1;
        dinoseg.data.MaskIO.writeGreyPng(d.resolve("train_labels/train_01.png").toFile(), mask, 56, 56);
        TrainConfig.Builder base = TinyData.config(d, tmp.resolve("accum-big"), 56).epochs(2).fineTune(true).backboneLrScale(1)
                .weightDecay(0.05).scheduler(LrSchedule.Kind.COSINE).warmup(0.5);
        TrainConfig big = base.batch(2).build();
        TrainConfig accum = base.batch(1).accumSteps(2).outDir(tmp.resolve("accum-small").toString()).build();
        TrainConfig small = base.batch(1).accumSteps(1).outDir(tmp.resolve("accum-none").toString()).build();
        List<History.Row> hb = trainer(big).run().history(), ha = trainer(accum).run().history();
        trainer(small).run();
        Map<String, HostTensor> fb = read(tmp.resolve("accum-big/final_model.safetensors")), fa = read(tmp.resolve("accum-small/final_model.safetensors")),
                fs = read(tmp.resolve("accum-none/final_model.safetensors"));
        double diffAccum = 0, diffSmall = 0;
        for (var e : fb.entrySet()) {
            float[] x = e.getValue().data(), y = fa.get(e.getKey()).data(), z = fs.get(e.getKey()).data();
            for (int i = 0; i < x.length; i++) {
                diffAccum = Math.max(diffAccum, Math.abs(x[i] - y[i]));
                diffSmall = Math.max(diffSmall, Math.abs(x[i] - z[i]));
            }
        }
        System.out.println("accum: max |w(batch 2) - w(batch 1 x 2)| = " + diffAccum + ", without accumulation " + diffSmall);
        assertTrue(diffSmall > 1e-4, "batch 1 without accumulation trains differently: " + diffSmall);
        assertTrue(diffAccum < 2e-5, "accumulated steps equal the big batch's: " + diffAccum);
        for (int i = 0; i < 2; i++) {
            assertEquals(hb.get(i).lr(), ha.get(i).lr(), 1e-15, "the schedule counts optimizer steps");
            assertEquals(hb.get(i).trainLoss(), ha.get(i).trainLoss(), 1e-5);
            assertEquals(hb.get(i).validLoss(), ha.get(i).validLoss(), 1e-5);
        }
        assertEquals(2, TrainConfig.fromJson(Files.readString(tmp.resolve("accum-small/config.json")), "config.json").accumSteps());
        assertFalse(Files.readString(tmp.resolve("accum-big/config.json")).contains("accum_steps"));
        assertThrows(TrainConfig.InvalidSettingException.class, () -> base.accumSteps(0).build());
    }

    @Test
    void nanLossStopsWithAClearMessageAndKeepsTheLastGoodCheckpoint() throws Exception {
        TrainConfig c = TinyData.config(data, tmp.resolve("nan"), 56).epochs(3).build();
        Trainer.DivergedException e = assertThrows(Trainer.DivergedException.class, () -> trainer(c).listener((ep, m) -> {
            if (ep == 1) {
                Parameter w = m.head.namedParameters().get("conv.weight");
                w.setValue(BE.full(w.shape(), Float.NaN));
            }
        }).run());
        assertTrue(e.getMessage().contains("NaN") && e.getMessage().contains("epoch 2"), e.getMessage());
        assertTrue(e.getMessage().contains("last good checkpoint"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        Path dir = tmp.resolve("nan");
        assertEquals(2, Files.readAllLines(dir.resolve("metrics.csv")).size(), "header and epoch 1 only");
        assertEquals(1, ResumeState.read(dir).epoch());
        for (String f : List.of("best_model_loss.safetensors", "best_model_iou.safetensors", "last_state.safetensors"))
            for (var t : read(dir.resolve(f)).entrySet())
                for (float v : t.getValue().data()) assertTrue(Float.isFinite(v), f + " " + t.getKey() + " holds " + v);
        assertFalse(Files.exists(dir.resolve("final_model.safetensors")));
    }

    @Test
    void cachedFeaturesTrainTheHeadLikeTheBackboneDoes() throws Exception {
        TrainConfig plain = TinyData.config(data, tmp.resolve("uncached"), 56).build();
        TrainConfig cached = plain.toBuilder().outDir(tmp.resolve("cached").toString()).cacheFeatures(true).build();
        List<History.Row> a = trainer(plain).run().history(), b = trainer(cached).run().history();
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.get(i).trainLoss(), b.get(i).trainLoss(), 1e-4);
            assertEquals(a.get(i).validLoss(), b.get(i).validLoss(), 1e-4);
            assertEquals(a.get(i).validMiou(), b.get(i).validMiou(), 1e-3);
        }
        assertTrue(OUT.toString().contains("feature cache: 6 images"), OUT.toString());
        // the plain run's decode-once image cache says what it holds after its first epoch
        assertTrue(OUT.toString().contains("image cache: 6 images kept decoded for the next epochs"), OUT.toString());
    }

    @Test
    void cacheThatWouldNotFitIsRefusedWithItsSize() {
        TrainConfig c = TinyData.config(data, tmp.resolve("toobig"), 56).cacheFeatures(true).cacheBudget(1e-9).build();
        var e = assertThrows(IllegalArgumentException.class, () -> trainer(c).run());
        assertTrue(e.getMessage().startsWith("--cache-features: the cached maps would take"), e.getMessage());
        assertTrue(e.getMessage().contains("MiB"));
    }

    @Test
    void cacheWithFineTuneOrAugmentationIsRefused() {
        TrainConfig.Builder c = TinyData.config(data, tmp.resolve("x"), 56).cacheFeatures(true);
        assertThrows(TrainConfig.InvalidSettingException.class, c.fineTune(true)::build);
        assertThrows(TrainConfig.InvalidSettingException.class, c.fineTune(false).augment(dinoseg.data.Augment.Mode.TUTORIAL)::build);
        c.augment(dinoseg.data.Augment.Mode.NONE).build(); // frozen, no augmentation: fine
    }

    @Test
    void runLeavesEveryListedFile() throws Exception {
        TrainConfig c = TinyData.config(data, tmp.resolve("files"), 56).epochs(2).build();
        trainer(c).run();
        Path d = tmp.resolve("files");
        for (String f : List.of("metrics.csv", "loss.png", "accuracy.png", "miou.png", "per_class_iou.png", "confusion_matrix.png",
                "config.json", "best_model_loss.safetensors", "best_model_iou.safetensors", "final_model.safetensors",
                "best_model_loss_head.safetensors", "best_model_iou_head.safetensors", "final_model_head.safetensors",
                "last_state.safetensors", "valid_preds/epoch_001.png", "valid_preds/epoch_002.png"))
            assertTrue(Files.size(d.resolve(f)) > 0, f);
        assertEquals(History.HEADER, Files.readAllLines(d.resolve("metrics.csv")).get(0));
        TrainConfig back = TrainConfig.fromJson(Files.readString(d.resolve("config.json")), "config.json");
        assertEquals(c.lr(), back.lr());
        assertEquals(56, back.imgWidth());
        assertEquals(32, back.backboneConfig().get("embed_dim").getAsInt());
        assertEquals(3, back.dataset().getAsJsonObject("classes").getAsJsonArray("classes").size());
        // head-only files hold only head tensors, and rebuild the whole model (random frozen backbone: from the seed)
        assertTrue(read(d.resolve("final_model_head.safetensors")).keySet().stream().allMatch(k -> k.startsWith("head.")));
        var full = dinoseg.checkpoint.ModelCheckpoint.load(d.resolve("final_model.safetensors"), BE);
        var head = dinoseg.checkpoint.ModelCheckpoint.load(d.resolve("final_model_head.safetensors"), BE);
        Map<String, HostTensor> a = dinoseg.checkpoint.StateDicts.of(full.model()), b = dinoseg.checkpoint.StateDicts.of(head.model());
        assertEquals(a.keySet(), b.keySet());
        for (var e : a.entrySet()) assertArrayEquals(e.getValue().data(), b.get(e.getKey()).data(), 0f, e.getKey());
        assertEquals(56, full.imgW());
        assertEquals(List.of("background", "box", "disc"), full.classes().names());
        assertTrue(Files.readString(d.resolve("metrics.csv")).lines().count() == 3);
    }

    @Test
    void masksWithoutAnyKnownClassStopTheRunBeforeACheckpoint() throws Exception {
        // every training mask is the ignore index: data check refuses this; train must not save a model that learnt nothing
        Path d = TinyData.write(tmp.resolve("all-ignored"), 2, 1, 56, 5);
        try (var masks = java.nio.file.Files.list(d.resolve("train_labels"))) {
            for (Path m : masks.toList()) {
                int[] ids = new int[56 * 56];
                java.util.Arrays.fill(ids, 255);
                dinoseg.data.MaskIO.writeGreyPng(m.toFile(), ids, 56, 56);
            }
        }
        Path out = tmp.resolve("all-ignored-run");
        TrainConfig c = TinyData.config(d, out, 56).epochs(2).batch(2).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> trainer(c).run());
        assertTrue(e.getMessage().contains("the training masks have no pixel of a known class in epoch 1"), e.getMessage());
        assertFalse(java.nio.file.Files.exists(out.resolve("best_model_iou.safetensors")), "no checkpoint of a run that learnt nothing");
    }

    @Test
    void parameterCountsArePrintedAsPeopleWriteThem() {
        assertEquals("260", Trainer.millions(260), "a small head: not 0.000M");
        assertEquals("32,277", Trainer.millions(32_277));
        assertEquals("22.09M", Trainer.millions(22_088_469));
    }
}
