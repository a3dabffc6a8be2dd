package dinoseg.train;

import dinoseg.io.ProgressBar;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.*;

class ProgressAndConfigTest {
    @Test
    void progressBarShowsCountRateAndEta() throws Exception {
        StringWriter sw = new StringWriter();
        try (ProgressBar bar = new ProgressBar(new PrintWriter(sw), "train", 4, false)) {
            for (int i = 0; i < 4; i++) {
                Thread.sleep(5);
                bar.step("loss 0.5");
            }
            assertTrue(bar.rate() > 0);
        }
        String[] lines = sw.toString().split("\\R");
        String last = lines[lines.length - 1];
        assertTrue(last.matches("train +100% \\[#+\\] 4/4 [0-9.]+ (it/s|s/it) elapsed 00:00 ETA 00:00 loss 0\\.5"), last);
        assertTrue(lines[0].contains("1/4") && lines[0].contains("ETA"), lines[0]);
        assertEquals("1:01:05", ProgressBar.clock(3665));
        assertEquals("02:05", ProgressBar.clock(125));
    }

    @Test
    void configRoundTripsThroughJsonWithTheFlagNames() {
        com.google.gson.JsonObject dataset = new com.google.gson.JsonObject();
        dataset.addProperty("data", "input/voc");
        TrainConfig c = TrainConfig.builder().fineTune(true).imgSize(448, 224).schedulerEpochs(5, 8).lr(3e-4).outDir("outputs/x")
                .dataset(dataset).build();
        String json = c.toJson();
        for (String key : new String[]{"\"fine_tune\": true", "\"img_width\": 448", "\"img_height\": 224", "\"scheduler_epochs\"",
                "\"backbone_lr_scale\"", "\"weight_decay\"", "\"cache_features\"", "\"out_dir\"", "\"dataset\""})
            assertTrue(json.contains(key), key + " missing in\n" + json);
        TrainConfig back = TrainConfig.fromJson(json, "test");
        assertEquals(json, back.toJson());
        assertEquals(c, back);
        assertEquals(java.util.List.of(5, 8), back.schedulerEpochs());
        assertEquals("input/voc", back.dataset().get("data").getAsString());
        // immutable: what an accessor hands out does not reach the config
        back.dataset().addProperty("data", "elsewhere");
        assertEquals("input/voc", back.dataset().get("data").getAsString());
        dataset.addProperty("data", "moved");
        assertEquals("input/voc", c.dataset().get("data").getAsString());
    }

    /** config.json and the resume state keep the format of the mutable config this record replaced (keys, order, values). */
    @Test
    void jsonFormatIsTheOneOlderRunsWrote() {
        String written = """
                {
                  "backbone": "small",
                  "weights": "w.pth",
                  "head": "bn",
                  "fine_tune": false,
                  "epochs": 20,
                  "img_width": 644,
                  "img_height": 644,
                  "batch": 4,
                  "lr": 3.0E-4,
                  "weight_decay": 0.01,
                  "scheduler": "cosine",
                  "scheduler_epochs": [
                    5,
                    8
                  ],
                  "scheduler_gamma": 0.1,
                  "warmup": 0.5,
                  "backbone_lr_scale": 0.1,
                  "augment": "tutorial",
                  "device": "auto",
                  "workers": 0,
                  "seed": 42,
                  "out_dir": "o",
                  "cache_features": false,
                  "cache_budget": 0.25,
                  "dataset": {},
                  "save_every_min": 10.0,
                  "preview_index": 0,
                  "demo": false
                }""";
        TrainConfig c = TrainConfig.builder().head(dinoseg.model.SegmentationHead.Kind.BN).scheduler(LrSchedule.Kind.COSINE)
                .schedulerEpochs(5, 8).outDir("o").weights("w.pth").lr(3e-4).warmup(0.5).augment(dinoseg.data.Augment.Mode.TUTORIAL)
                .cacheBudget(0.25).build();
        assertEquals(written, c.toJson());
        assertEquals(c, TrainConfig.fromJson(written, "config.json"));
        // an older file in other case and without the newer keys still loads, with the defaults
        TrainConfig old = TrainConfig.fromJson("{\"head\": \"BN\", \"scheduler\": \"Cosine\", \"augment\": \"Tutorial\", \"epochs\": 3}", "old.json");
        assertEquals(dinoseg.model.SegmentationHead.Kind.BN, old.head());
        assertEquals(LrSchedule.Kind.COSINE, old.scheduler());
        assertEquals(3, old.epochs());
        assertEquals(10.0, old.saveEveryMin());
        assertEquals(java.util.List.of(30), old.schedulerEpochs());
    }

    private static com.google.gson.JsonObject given(String json) { return com.google.gson.JsonParser.parseString(json).getAsJsonObject(); }

    @Test
    void explicitSettingsOverrideAPresetAndOnlyThose() {
        TrainConfig preset = TrainConfig.fromJson("{\"backbone\": \"demo\", \"backbone_config\": {\"embed_dim\": 96, \"depth\": 1, \"heads\": 3},"
                + " \"fine_tune\": true, \"epochs\": 10, \"lr\": 1e-3, \"device\": \"cpu\"}", "preset");
        TrainConfig c = preset.toBuilder().overriddenBy(given("{\"epochs\": 2, \"device\": \"CUDA\"}")).build();
        assertEquals(2, c.epochs());
        assertEquals("cuda", c.device());
        assertEquals(preset.toBuilder().epochs(2).device("cuda").build(), c, "everything not given stays the preset's");
        // a new backbone drops the preset's resolved config; the feature cache freezes the backbone unless --fine-tune is given
        assertNull(preset.toBuilder().overriddenBy(given("{\"backbone\": \"small\"}")).build().backboneConfig());
        assertNotNull(preset.toBuilder().overriddenBy(given("{\"lr\": 0.5}")).build().backboneConfig());
        assertFalse(preset.toBuilder().overriddenBy(given("{\"cache_features\": true}")).build().fineTune());
        var both = assertThrows(TrainConfig.InvalidSettingException.class,
                () -> preset.toBuilder().overriddenBy(given("{\"cache_features\": true, \"fine_tune\": true}")).build());
        assertTrue(both.getMessage().startsWith("--cache-features needs a frozen backbone"), both.getMessage());
        assertThrows(IllegalArgumentException.class, () -> preset.toBuilder().overriddenBy(given("{\"learning_rate\": 1}")));
        assertEquals(preset, preset.toBuilder().build(), "toBuilder().build() is the identity");
    }

    @Test
    void badSettingsNameTheirFlag() {
        String[][] cases = {{"head", "mlp", "--head: 'mlp' is not one of linear, bn, conv"}, {"scheduler", "step", "scheduler"},
                {"device", "tpu", "--device: 'tpu' is not one of auto, cpu, cuda"}, {"augment", "heavy", "--augment: 'heavy' is not one of none, tutorial, official"},
                {"epochs", "0", "--epochs must be at least 1, got 0"}, {"lr", "NaN", "--lr must be a positive number, got NaN"},
                {"save_every_min", "-1", "--save-every-min must be a number of minutes >= 0"}, {"workers", "-2", "--workers must be >= 0, got -2"}};
        for (String[] k : cases) {
            com.google.gson.JsonObject o = new com.google.gson.JsonObject();
            if (k[1].matches("-?[0-9]+")) o.addProperty(k[0], Integer.parseInt(k[1]));
            else if (k[1].equals("NaN")) o.addProperty(k[0], Double.NaN);
            else o.addProperty(k[0], k[1]);
            var b = TrainConfig.builder().overriddenBy(o);
            var e = assertThrows(TrainConfig.InvalidSettingException.class, b::build);
            assertTrue(e.getMessage().contains(k[2]), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
        }
        assertThrows(TrainConfig.InvalidSettingException.class, () -> TrainConfig.builder().lr(Double.NaN).build());
        assertThrows(IllegalArgumentException.class, () -> TrainConfig.fromJson("[1,2]", "x.json"));
        var e = assertThrows(IllegalArgumentException.class, () -> TrainConfig.fromJson("{\"batch\": 0}", "x.json"));
        assertEquals("x.json: bad training config (--batch must be at least 1, got 0)", e.getMessage());
    }

    @Test
    void weightDecaySkipsNormsBiasesTokensAndLayerScale() {
        var be = dinoseg.backend.Backends.cpu();
        var m = dinoseg.model.Dinov2Segmentation.create(be, dinoseg.model.BackboneConfig.builder("t").embedDim(16).depth(1).heads(2).mlpRatio(2.0).posGrid(2).build(),
                dinoseg.model.SegmentationHead.Kind.BN, 3, null, 0);
        TrainConfig c = TrainConfig.builder().fineTune(true).lr(1e-3).backboneLrScale(0.1).build();
        m.setFineTune(true);
        var groups = ParamGroups.of(m, c);
        var names = groups.stream().map(AdamW.ParamGroup::name).toList();
        assertEquals(java.util.List.of("head", "head_no_decay", "backbone", "backbone_no_decay"), names);
        for (var e : m.backbone.namedParameters().entrySet()) {
            String n = e.getKey();
            boolean noDecay = n.endsWith("bias") || n.contains("norm") || n.endsWith("pos_embed") || n.endsWith("cls_token")
                    || n.endsWith("mask_token") || n.contains(".ls");
            assertEquals(!noDecay, ParamGroups.decays(n, e.getValue()), n);
        }
        assertEquals(1e-4, groups.get(2).lr(), 1e-15);
        assertEquals(0.0, groups.get(3).weightDecay());
        assertEquals(c.weightDecay(), groups.get(0).weightDecay());
    }

    /** A state file whose metadata is damaged: one line naming the file and the problem, no Gson internals. */
    @Test
    void malformedResumeStateIsOneLineInOurWords(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path f = dir.resolve("last_state.safetensors");
        String[][] cases = {
                {"{\"version\": 1, oops", "metadata is not valid JSON (line 1 column "},
                {"{}", "a field of its dinoseg_state metadata is missing"},
        };
        for (String[] c : cases) {
            dinoseg.io.Safetensors.write(f, java.util.Map.of(), java.util.Map.of(ResumeState.KEY, c[0]));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ResumeState.read(f));
            assertTrue(e.getMessage().startsWith(f + ": malformed resume state (") && e.getMessage().contains(c[1]), e.getMessage());
            assertFalse(e.getMessage().contains("gson") || e.getMessage().contains("Exception") || e.getMessage().contains("\n"), e.getMessage());
        }
    }
}
