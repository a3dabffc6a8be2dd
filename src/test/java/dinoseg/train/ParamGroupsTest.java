package dinoseg.train;

import com.google.gson.JsonObject;
import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.SegmentationHead;
import dinoseg.nn.Parameter;
import dinoseg.tensor.Shape;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** --layer-decay's per-group learning rates and --unfreeze-last's trainable set and tape. */
class ParamGroupsTest {
    static final Backend BE = Backends.cpu();
    static final int DEPTH = 3;

    static Dinov2Segmentation model(int[] layers) {
        BackboneConfig bc = BackboneConfig.builder("t").embedDim(16).depth(DEPTH).heads(2).mlpRatio(2.0).posGrid(2).registers(2).build();
        return Dinov2Segmentation.create(BE, bc, SegmentationHead.Kind.BN, 3, layers, 7);
    }

    /** The expected exponent of D, written out from the issue: embeddings L+1, block i (0-based) L-i, final norm 0. */
    static int exponent(String backboneName) {
        if (backboneName.startsWith("blocks.")) return DEPTH - Integer.parseInt(backboneName.split("\\.")[1]);
        if (backboneName.startsWith("norm.")) return 0;
        assertTrue(List.of("cls_token", "pos_embed", "register_tokens", "mask_token").contains(backboneName) || backboneName.startsWith("patch_embed."),
                backboneName);
        return DEPTH + 1;
    }

    static Map<Parameter, AdamW.ParamGroup> groupOf(List<AdamW.ParamGroup> groups) {
        Map<Parameter, AdamW.ParamGroup> m = new IdentityHashMap<>();
        for (var g : groups) for (Parameter p : g.params()) assertNull(m.put(p, g), "a parameter in two groups: " + g.name());
        return m;
    }

    @Test
    void layerDecayGivesEachBackboneLayerLrTimesScaleTimesDPowerOfItsDistanceFromTheTop() {
        double lr = 1e-3, scale = 0.1, d = 0.5, wd = 0.05;
        Dinov2Segmentation m = model(null);
        m.setFineTune(true);
        TrainConfig c = TrainConfig.builder().fineTune(true).lr(lr).backboneLrScale(scale).weightDecay(wd).layerDecay(d).build();
        List<AdamW.ParamGroup> groups = ParamGroups.of(m, c);
        Map<Parameter, AdamW.ParamGroup> of = groupOf(groups);
        int checked = 0;
        for (var e : m.backbone.namedParameters().entrySet()) {
            Parameter p = e.getValue();
            if (!p.requiresGrad()) { assertNull(of.get(p), e.getKey()); continue; }   // mask_token
            AdamW.ParamGroup g = of.get(p);
            assertNotNull(g, e.getKey());
            assertEquals(lr * scale * Math.pow(d, exponent(e.getKey())), g.lr(), 1e-18, e.getKey() + " in " + g.name());
            assertEquals(ParamGroups.decays(e.getKey(), p) ? wd : 0, g.weightDecay(), e.getKey() + ": the decay split holds");
            checked++;
        }
        assertTrue(checked > 10);
        for (var e : m.head.namedParameters().entrySet())
            if (!e.getValue().isBuffer()) assertEquals(lr, of.get(e.getValue()).lr(), 0, "the head is not decayed: " + e.getKey());
        // extremes of the formula, by name
        Map<String, Double> byName = new HashMap<>();
        for (var g : groups) byName.put(g.name(), g.lr());
        assertEquals(lr * scale * Math.pow(d, DEPTH + 1), byName.get("backbone.embed_no_decay"), 1e-18);
        assertEquals(lr * scale * d, byName.get("backbone.blocks." + (DEPTH - 1)), 1e-18);
        assertEquals(lr * scale * Math.pow(d, DEPTH), byName.get("backbone.blocks.0"), 1e-18);
        assertEquals(lr * scale, byName.get("backbone.norm_no_decay"), 1e-18);
        // a schedule multiplies every base lr by one factor: the ratios between layers hold
        AdamW opt = new AdamW(BE, groups);
        opt.scaleBaseLrs(0.37);
        for (int i = 0; i < groups.size(); i++)
            for (int j = 0; j < groups.size(); j++)
                assertEquals(groups.get(i).lr() / groups.get(j).lr(), opt.lr(i) / opt.lr(j), 1e-12);
    }

    @Test
    void layerDecayOfOneKeepsTheSingleBackboneGroups() {
        Dinov2Segmentation m = model(null);
        m.setFineTune(true);
        TrainConfig c = TrainConfig.builder().fineTune(true).lr(1e-3).backboneLrScale(0.1).layerDecay(1).build();
        assertEquals(List.of("head", "head_no_decay", "backbone", "backbone_no_decay"), ParamGroups.of(m, c).stream().map(AdamW.ParamGroup::name).toList());
    }

    @Test
    void unfreezeLastGroupsOnlyTheLastBlocksTheNormAndTheHead() {
        for (int n = 1; n <= DEPTH; n++) {
            Dinov2Segmentation m = model(null);
            m.setFineTune(true, n);
            TrainConfig c = TrainConfig.builder().fineTune(true).unfreezeLast(n).layerDecay(0.8).build();
            Map<Parameter, AdamW.ParamGroup> of = groupOf(ParamGroups.of(m, c));
            for (var e : m.backbone.namedParameters().entrySet()) {
                String k = e.getKey();
                boolean trains = k.startsWith("norm.") || (k.startsWith("blocks.") && Integer.parseInt(k.split("\\.")[1]) >= DEPTH - n);
                assertEquals(trains, e.getValue().requiresGrad(), "n=" + n + " " + k);
                assertEquals(trains, of.containsKey(e.getValue()), "n=" + n + " " + k);
            }
            for (Parameter p : m.head.namedParameters().values()) if (!p.isBuffer()) assertTrue(of.containsKey(p));
            assertEquals(DEPTH - n, m.backbone.frozenPrefix());
        }
        Dinov2Segmentation m = model(null);
        assertThrows(IllegalArgumentException.class, () -> m.setFineTune(true, DEPTH + 1));
        assertThrows(IllegalArgumentException.class, () -> m.setFineTune(false, 1));
        m.setFineTune(true, 1);
        m.setFineTune(true);   // back to the whole backbone
        assertEquals(-1, m.backbone.frozenPrefix());
        assertTrue(m.backbone.blocks.get(0).namedParameters().values().stream().allMatch(Parameter::requiresGrad));
    }

    /** Tape nodes of one training forward (sum of the logits) with the given fine-tuning. */
    static int tapeNodes(Dinov2Segmentation m, boolean fineTune, int unfreezeLast, Var images) {
        m.setFineTune(fineTune, unfreezeLast);
        try (Ops ops = new Ops(BE)) {
            Var y = m.forward(ops, images);
            Var loss = ops.sum(y);
            int n = ops.tape.size();
            ops.backward(loss);
            return n;
        }
    }

    @Test
    void frozenBlocksRecordNoTapeNodes() {
        Dinov2Segmentation m = model(new int[]{0, DEPTH - 1});   // block 0's output passes the trainable norm even when block 0 is frozen
        float[] px = new float[3 * 28 * 28];
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < px.length; i++) px[i] = (float) r.nextDouble(-1, 1);
        Var images = Var.constant(BE.fromFloats(px, Shape.of(1, 3, 28, 28)));
        // one block's nodes when it trains, measured on its own
        int perBlock;
        m.setFineTune(true);
        try (Ops ops = new Ops(BE)) {
            Var t = Var.constant(BE.fromFloats(new float[(1 + 2 + 4) * 16], Shape.of(1, 1 + 2 + 4, 16)));
            ops.sum(m.backbone.blocks.get(1).forward(ops, t));
            perBlock = ops.tape.size() - 1;
        }
        assertTrue(perBlock >= 5, "a block records its ops (two LayerNorm+Linear, attention, two Linear+LayerScale+residual): " + perBlock);
        List<Integer> sizes = new ArrayList<>();
        for (int n = 1; n <= DEPTH; n++) sizes.add(tapeNodes(m, true, n, images));
        // each block unfrozen adds exactly one block's nodes: a frozen block adds none
        for (int n = 1; n < DEPTH; n++) assertEquals(perBlock, sizes.get(n) - sizes.get(n - 1), "sizes " + sizes);
        // the embeddings are frozen too: the whole backbone records more than its blocks alone
        assertTrue(tapeNodes(m, true, 0, images) > sizes.get(DEPTH - 1), "embeddings record nodes only when they train");
        // and a frozen block's parameters get no gradient
        m.zeroGrad();
        m.setFineTune(true, 1);
        try (Ops ops = new Ops(BE)) {
            ops.backward(ops.sum(m.forward(ops, images)));
        }
        for (var e : m.backbone.namedParameters().entrySet()) {
            boolean trains = e.getKey().startsWith("norm.") || e.getKey().startsWith("blocks." + (DEPTH - 1) + ".");
            assertEquals(trains, e.getValue().grad() != null, e.getKey());
        }
    }

    @Test
    void recipeSettingsAreCheckedAndWrittenOnlyWhenSet() {
        TrainConfig plain = TrainConfig.builder().build();
        assertFalse(plain.toJson().contains("layer_decay") || plain.toJson().contains("unfreeze_last"));
        assertEquals(1, plain.layerDecay());
        assertEquals(0, plain.unfreezeLast());
        TrainConfig set = TrainConfig.builder().fineTune(true).layerDecay(0.65).unfreezeLast(4).build();
        TrainConfig back = TrainConfig.fromJson(set.toJson(), "config.json");
        assertEquals(0.65, back.layerDecay());
        assertEquals(4, back.unfreezeLast());
        for (double bad : new double[]{0, -0.5, 1.5, Double.NaN}) {
            var e = assertThrows(TrainConfig.InvalidSettingException.class, () -> TrainConfig.builder().fineTune(true).layerDecay(bad).build());
            assertTrue(e.getMessage().startsWith("--layer-decay"), e.getMessage());
        }
        var e = assertThrows(TrainConfig.InvalidSettingException.class, () -> TrainConfig.builder().layerDecay(0.9).build());
        assertTrue(e.getMessage().contains("--fine-tune"), e.getMessage());
        e = assertThrows(TrainConfig.InvalidSettingException.class, () -> TrainConfig.builder().fineTune(true).unfreezeLast(-1).build());
        assertTrue(e.getMessage().startsWith("--unfreeze-last"), e.getMessage());
        e = assertThrows(TrainConfig.InvalidSettingException.class, () -> TrainConfig.builder().unfreezeLast(2).build());
        assertTrue(e.getMessage().startsWith("--unfreeze-last"), e.getMessage());
        // the flag alone turns fine-tuning on; an explicit frozen backbone is refused
        JsonObject given = new JsonObject();
        given.addProperty("unfreeze_last", 2);
        assertTrue(TrainConfig.builder().overriddenBy(given).build().fineTune());
        given.addProperty("fine_tune", false);
        assertThrows(TrainConfig.InvalidSettingException.class, () -> TrainConfig.builder().overriddenBy(given).build());
    }
}
