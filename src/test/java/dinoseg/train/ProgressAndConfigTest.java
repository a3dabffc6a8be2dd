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
        TrainConfig c = new TrainConfig();
        c.fineTune = true;
        c.imgWidth = 448;
        c.imgHeight = 224;
        c.schedulerEpochs = new int[]{5, 8};
        c.lr = 3e-4;
        c.outDir = "outputs/x";
        c.dataset.addProperty("data", "input/voc");
        String json = c.toJson();
        for (String key : new String[]{"\"fine_tune\": true", "\"img_width\": 448", "\"img_height\": 224", "\"scheduler_epochs\"",
                "\"backbone_lr_scale\"", "\"weight_decay\"", "\"cache_features\"", "\"out_dir\"", "\"dataset\""})
            assertTrue(json.contains(key), key + " missing in\n" + json);
        TrainConfig back = TrainConfig.fromJson(json, "test");
        assertEquals(json, back.toJson());
        assertArrayEquals(new int[]{5, 8}, back.schedulerEpochs);
        assertEquals("input/voc", back.dataset.get("data").getAsString());
    }

    @Test
    void badSettingsNameTheirFlag() {
        String[][] cases = {{"head", "mlp", "--head"}, {"scheduler", "step", "scheduler"}, {"device", "tpu", "--device"}, {"augment", "heavy", "--augment"}};
        for (String[] k : cases) {
            TrainConfig c = new TrainConfig();
            switch (k[0]) {
                case "head" -> c.head = k[1];
                case "scheduler" -> c.scheduler = k[1];
                case "device" -> c.device = k[1];
                default -> c.augment = k[1];
            }
            var e = assertThrows(IllegalArgumentException.class, c::validate);
            assertTrue(e.getMessage().contains(k[2]), e.getMessage());
        }
        TrainConfig c = new TrainConfig();
        c.lr = Double.NaN;
        assertThrows(IllegalArgumentException.class, c::validate);
        assertThrows(IllegalArgumentException.class, () -> TrainConfig.fromJson("[1,2]", "x.json"));
    }

    @Test
    void weightDecaySkipsNormsBiasesTokensAndLayerScale() {
        var be = dinoseg.backend.Backends.cpu();
        var m = dinoseg.model.Dinov2Segmentation.create(be, new dinoseg.model.BackboneConfig("t", 16, 1, 2, 0, false, 14, 2.0, 2, 1f),
                dinoseg.model.SegmentationHead.Kind.BN, 3, null, 0);
        TrainConfig c = new TrainConfig();
        c.fineTune = true;
        c.lr = 1e-3;
        c.backboneLrScale = 0.1;
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
        assertEquals(c.weightDecay, groups.get(0).weightDecay());
    }
}
