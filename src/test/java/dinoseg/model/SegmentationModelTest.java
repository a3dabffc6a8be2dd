package dinoseg.model;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.backend.meta.MetaBackend;
import dinoseg.nn.Parameter;
import dinoseg.tensor.Shape;
import org.junit.jupiter.api.Test;


import static org.junit.jupiter.api.Assertions.*;

/** Frozen versus fine-tuned backbone, gradients, BatchNorm modes and names (padded inference: infer.PaddedModelLogitsTest). */
class SegmentationModelTest {
    final Backend be = Backends.cpu();
    static final BackboneConfig TINY = BackboneConfig.builder("t").embedDim(24).depth(2).heads(2).registers(4).mlpRatio(2.0).layerScaleInit(0.5f).build();

    Var images(int b, int h, int w) {
        float[] d = Golden.image(b, h, w);
        return Var.constant(be.fromFloats(d, Shape.of(b, 3, h, w)));
    }

    Var loss(Ops ops, Dinov2Segmentation m, Var x) {
        Var logits = m.forward(ops, x, 20, 26);
        int[] labels = new int[x.dim(0) * 20 * 26];
        for (int i = 0; i < labels.length; i++) labels[i] = i % 7 == 0 ? 255 : i % 3;
        return ops.crossEntropy(logits, be.fromInts(labels, Shape.of(x.dim(0), 20, 26)), null, 255);
    }

    @Test void frozenBackboneRecordsNothingAndGetsNoGradient() {
        Dinov2Segmentation m = Dinov2Segmentation.create(be, TINY, SegmentationHead.Kind.CONV, 3, null, 4);
        assertArrayEquals(new int[]{0, 1}, m.layers());
        assertEquals(2 * 24, m.head.inChannels);
        Ops ops = new Ops(be);
        Var l = loss(ops, m, images(2, 28, 42));
        assertTrue(ops.tape.size() <= 8, "only head, resize and loss are recorded, got " + ops.tape.size());
        ops.backward(l);
        for (var e : m.namedParameters().entrySet()) {
            Parameter p = e.getValue();
            boolean head = e.getKey().startsWith("head.");
            assertEquals(head, p.grad() != null, e.getKey());
        }
    }

    @Test void fineTuningReachesEveryBackboneParameterButMaskToken() {
        Dinov2Segmentation m = Dinov2Segmentation.create(be, TINY, SegmentationHead.Kind.LINEAR, 3, new int[]{1}, 4);
        m.setFineTune(true);
        Ops ops = new Ops(be);
        ops.backward(loss(ops, m, images(2, 28, 42)));
        for (var e : m.namedParameters().entrySet()) {
            boolean expect = !e.getKey().equals("backbone.mask_token");
            assertEquals(expect, e.getValue().grad() != null, e.getKey());
        }
        assertTrue(be.sumSquares(m.backbone.posEmbed.grad()) > 0, "interpolated position embeddings pass gradients");
        assertTrue(be.sumSquares(m.backbone.registerTokens.grad()) > 0);
    }

    @Test void batchNormHeadUsesBatchStatisticsOnlyWhenTraining() {
        Dinov2Segmentation m = Dinov2Segmentation.create(be, TINY, SegmentationHead.Kind.BN, 3, null, 4);
        SegmentationHead.Bn head = (SegmentationHead.Bn) m.head;
        Ops ops = new Ops(be);
        Var x = images(2, 28, 28);
        m.train(false);
        float[] before = be.toFloats(head.bn.runningMean.value());
        float[] eval1 = be.toFloats(m.forwardGrid(ops, x).value());
        assertArrayEquals(before, be.toFloats(head.bn.runningMean.value()));
        m.train(true);
        m.forwardGrid(ops, x);
        assertFalse(java.util.Arrays.equals(before, be.toFloats(head.bn.runningMean.value())), "running mean updated in training");
        m.train(false);
        assertFalse(java.util.Arrays.equals(eval1, be.toFloats(m.forwardGrid(ops, x).value())));
    }

    @Test void stateDictNamesAreOfficial() {
        Dinov2Segmentation g = Dinov2Segmentation.create(new MetaBackend(), BackboneConfig.parse("giant_reg"), SegmentationHead.Kind.BN, 2, null, 0);
        var names = java.util.List.copyOf(g.namedParameters().keySet());
        assertEquals(java.util.List.of("backbone.cls_token", "backbone.pos_embed", "backbone.register_tokens", "backbone.mask_token",
                "backbone.patch_embed.proj.weight", "backbone.patch_embed.proj.bias",
                "backbone.blocks.0.norm1.weight", "backbone.blocks.0.norm1.bias", "backbone.blocks.0.attn.qkv.weight",
                "backbone.blocks.0.attn.qkv.bias", "backbone.blocks.0.attn.proj.weight", "backbone.blocks.0.attn.proj.bias",
                "backbone.blocks.0.ls1.gamma", "backbone.blocks.0.norm2.weight", "backbone.blocks.0.norm2.bias",
                "backbone.blocks.0.mlp.w12.weight", "backbone.blocks.0.mlp.w12.bias", "backbone.blocks.0.mlp.w3.weight",
                "backbone.blocks.0.mlp.w3.bias", "backbone.blocks.0.ls2.gamma"), names.subList(0, 20));
        assertEquals(java.util.List.of("backbone.norm.weight", "backbone.norm.bias", "head.bn.weight", "head.bn.bias",
                "head.bn.running_mean", "head.bn.running_var", "head.conv.weight", "head.conv.bias"), names.subList(names.size() - 8, names.size()));
        assertEquals(java.util.List.of(8192, 1536), java.util.Arrays.stream(g.backbone.blocks.get(0).namedParameters().get("mlp.w12.weight").shape().dims()).boxed().toList());
        assertArrayEquals(new int[]{36, 37, 38, 39}, g.layers());
    }
}
