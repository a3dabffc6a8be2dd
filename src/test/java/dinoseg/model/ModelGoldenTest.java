package dinoseg.model;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.checkpoint.StateDicts;
import dinoseg.io.HostTensor;
import dinoseg.io.StateDict;
import dinoseg.io.WeightNames;
import dinoseg.tensor.Shape;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static dinoseg.model.Golden.assertClose;

/**
 * The Java model against our PyTorch statement of DINOv2 (tools/dinov2_ref.py): intermediate
 * layers, class tokens and every head, for a plain and a register/SwiGLU tiny model, on grids that
 * shrink, keep and grow the 37×37 position grid. Max abs difference ≤ 1e-4.
 */
class ModelGoldenTest {
    static final float TOL = 1e-4f;
    final Backend be = Backends.cpu();

    static final BackboneConfig PLAIN = BackboneConfig.builder("tiny").embedDim(36).depth(3).heads(3).build();
    static final BackboneConfig REG = BackboneConfig.builder("tiny_reg").embedDim(36).depth(3).heads(3).registers(4).swiglu(true).build();

    DinoVisionTransformer backbone(BackboneConfig cfg, StateDict sd) {
        DinoVisionTransformer bb = new DinoVisionTransformer(be, cfg, 99);
        StateDicts.loadStrict(bb, WeightNames.withoutPrefix(sd.tensors(), "backbone."), "fixture");
        return bb;
    }

    Var input(HostTensor t) { return Var.constant(be.fromFloats(t.data(), t.shape())); }

    void check(HostTensor expected, Var actual, String what) {
        assertClose(expected, actual.shape().dims(), be.toFloats(actual.value()), TOL, what);
    }

    void layersAndHeads(String name, BackboneConfig cfg) throws Exception {
        StateDict sd = Golden.read("model_" + name + ".safetensors");
        StateDict conv = Golden.read("model_" + name + "_conv.safetensors");
        DinoVisionTransformer bb = backbone(cfg, sd);
        Ops ops = new Ops(be);
        Var x = input(sd.get("input.pixel_values"));
        List<DinoVisionTransformer.LayerOutput> outs = bb.getIntermediateLayers(ops, x, new int[]{2, 0, 1}, true, true, true);
        for (var o : outs) {
            check(sd.get("out.layer." + o.block()), o.features(), name + " layer " + o.block());
            check(sd.get("out.cls." + o.block()), o.classToken(), name + " class token " + o.block());
        }
        var raw = bb.getIntermediateLayers(ops, x, new int[]{1}, false, false, false);
        check(sd.get("out.raw.1"), raw.get(0).features(), name + " raw tokens of block 1");

        for (SegmentationHead.Kind kind : SegmentationHead.Kind.values()) {
            StateDict src = kind == SegmentationHead.Kind.CONV ? conv : sd;
            int[] layers = kind == SegmentationHead.Kind.CONV ? new int[]{2} : new int[]{0, 1, 2};
            Dinov2Segmentation m = new Dinov2Segmentation(bb, kind, 5, layers, 3);
            Map<String, HostTensor> head = WeightNames.withoutPrefix(src.tensors(), "head_" + kind.id() + ".");
            StateDicts.loadStrict(m.head, head, "fixture head " + kind.id());
            m.train(false);
            check(src.get("out.grid." + kind.id()), m.forwardGrid(ops, x), name + " head " + kind.id() + " grid");
            check(src.get("out.logits." + kind.id()), m.forward(ops, x, 20, 30), name + " head " + kind.id() + " logits 20x30");
        }
    }

    @Test void plainModelShrinkingGrid() throws Exception { layersAndHeads("plain", PLAIN); }

    @Test void registerSwiGluModelShrinkingGrid() throws Exception { layersAndHeads("reg", REG); }

    void big(String name, int h, int w) throws Exception {
        DinoVisionTransformer bb = backbone(PLAIN, Golden.read("model_plain.safetensors"));
        HostTensor expected = Golden.read("model_plain_" + name + ".safetensors").get("out.layer.2");
        Ops ops = new Ops(be);
        Var x = Var.constant(be.fromFloats(Golden.image(1, h, w), Shape.of(1, 3, h, w)));
        try (var s = ops.noGrad()) {
            var out = bb.getIntermediateLayers(ops, x, new int[]{2}, true, true, false);
            check(expected, out.get(0).features(), "plain " + name + " " + h + "x" + w);
        }
    }

    @Test void keepsTheGridAt518() throws Exception { big("keep", 518, 518); }

    @Test void growsTheGrid() throws Exception { big("grow", 546, 532); }
}
