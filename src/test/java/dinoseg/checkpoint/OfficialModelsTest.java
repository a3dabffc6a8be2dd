package dinoseg.checkpoint;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.data.ClassSet;
import dinoseg.data.Palette;
import dinoseg.io.HostTensor;
import dinoseg.io.StateDict;
import dinoseg.io.WeightFiles;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Golden;
import dinoseg.model.SegmentationHead;
import dinoseg.tensor.Shape;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The official DINOv2 heads: names, files, layers and settings of the published models, and the
 * head and whole model against tools/gen_official_head_golden.py (a PyTorch statement of mmseg's
 * BNHead on random weights, saved as mmcv checkpoints with numpy metadata).
 */
public class OfficialModelsTest {
    static final Backend BE = Backends.cpu();
    /** The fixtures' tiny backbone: dim 16, 5 blocks, 2 heads, a 4x4 position grid. */
    static final BackboneConfig TINY = BackboneConfig.builder("tiny").embedDim(16).depth(5).heads(2).posGrid(4).build();
    static final OfficialModels.TestSettings TINY_SETTINGS =
            new OfficialModels.TestSettings(28, new double[] {1.0, 1.5}, true, 28, 14, "test fixture");

    /** The fixture folder, laid out as the official base URL. */
    public static Path root() { return Golden.path("official/head_golden.safetensors").getParent(); }

    public static Function<String, Path> local() { return rel -> root().resolve(rel); }

    /** Registers the fixtures' models: dinov2_tiny14_{voc2012_linear, voc2012_ms, ade20k_linear}. */
    public static void registerTiny() {
        OfficialModels.register(new OfficialModels.Spec("dinov2_tiny14_voc2012_linear", "dinov2_tiny14", TINY,
                OfficialModels.Dataset.VOC2012, OfficialModels.Kind.LINEAR, TINY_SETTINGS));
        OfficialModels.register(new OfficialModels.Spec("dinov2_tiny14_voc2012_ms", "dinov2_tiny14", TINY,
                OfficialModels.Dataset.VOC2012, OfficialModels.Kind.MS, TINY_SETTINGS));
        OfficialModels.register(new OfficialModels.Spec("dinov2_tiny14_ade20k_linear", "dinov2_tiny14", TINY,
                OfficialModels.Dataset.ADE20K, OfficialModels.Kind.LINEAR, TINY_SETTINGS));
    }

    @BeforeAll static void setUp() { registerTiny(); }

    @Test void theSixteenPublishedModelsWithTheirFilesLayersAndSettings() {
        List<String> published = new ArrayList<>();
        for (String a : List.of("vits14", "vitb14", "vitl14", "vitg14"))
            for (String d : List.of("voc2012", "ade20k"))
                for (String k : List.of("linear", "ms")) published.add("dinov2_" + a + "_" + d + "_" + k);
        assertTrue(OfficialModels.names().containsAll(published), OfficialModels.names().toString());
        OfficialModels.Spec s = OfficialModels.spec("dinov2_vits14_voc2012_linear");
        assertEquals("dinov2_vits14/dinov2_vits14_pretrain.pth", s.backbonePath());
        assertEquals("dinov2_vits14/dinov2_vits14_voc2012_linear_head.pth", s.headPath());
        assertArrayEquals(new int[] {11}, s.layers());
        assertEquals(384, s.headChannels());
        assertEquals(21, s.numClasses());
        OfficialModels.Spec g = OfficialModels.spec("DINOV2_VITG14_ADE20K_MS");
        assertEquals("dinov2_vitg14/dinov2_vitg14_ade20k_ms_head.pth", g.headPath());
        assertArrayEquals(new int[] {36, 37, 38, 39}, g.layers());
        assertEquals(4 * 1536, g.headChannels());
        assertTrue(g.backbone().swiglu());
        assertEquals(150, g.numClasses());
        assertArrayEquals(new int[] {20, 21, 22, 23}, OfficialModels.spec("dinov2_vitl14_voc2012_ms").layers());
        assertEquals(3072, OfficialModels.spec("dinov2_vitb14_ade20k_ms").headChannels());
        // the published test settings: ms 640 short side, five ratios, flips, 640/320 windows; linear 512, one view, 512/341
        OfficialModels.TestSettings ms = g.test(), lin = s.test();
        assertEquals(640, ms.shortSide());
        assertArrayEquals(new double[] {1.0, 1.32, 1.73, 2.28, 3.0}, ms.ratios());
        assertTrue(ms.flip() && ms.multiView());
        assertEquals(List.of(640, 320), List.of(ms.slideCrop(), ms.slideStride()));
        assertEquals(512, lin.shortSide());
        assertFalse(lin.flip() || lin.multiView());
        assertEquals(List.of(512, 341), List.of(lin.slideCrop(), lin.slideStride()));
    }

    @Test void unknownNamesAreOneLineAndRegisterBackbonesAreExplained() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> OfficialModels.spec("dinov2_vits14_coco_linear"));
        assertTrue(e.getMessage().contains("dinov2_vit{s,b,l,g}14_{voc2012,ade20k}_{linear,ms}"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OfficialModels.spec("dinov2_vits14_reg4_voc2012_linear"));
        assertTrue(e.getMessage().contains("no segmentation heads were published for the register backbones"), e.getMessage());
        assertFalse(OfficialModels.isName("weights/x.safetensors"));
    }

    @Test void ade20kHas150ClassesWithTheStandardPalette() {
        ClassSet ade = OfficialModels.Dataset.ADE20K.classes();
        assertEquals(150, ade.size());
        assertEquals(255, ade.ignoreIndex());
        assertEquals("wall", ade.name(0));
        assertEquals("chest of drawers", ade.name(44));
        assertEquals("flag", ade.name(149));
        assertEquals("(120,120,120)", Palette.format(ade.color(0)));
        assertEquals("(92,0,255)", Palette.format(ade.color(149)));
        // road and skyscraper share a grey in the standard palette: a display palette, colour masks cannot be read with it
        assertEquals(ade.color(6), ade.color(48));
        assertEquals(-1, ade.classOfColor(ade.color(6)));
        assertEquals(1, ade.classOfColor(ade.color(1)));
        ClassSet again = ClassSet.parse(ade.toJson());
        assertEquals(ade.names(), again.names());
        assertTrue(again.sharedColors());
        assertEquals(ade.names(), ClassSet.resolve("ade20k").names());
        assertEquals(21, OfficialModels.Dataset.VOC2012.classes().size());
    }

    /** The mmcv checkpoint (state dict under "state_dict", numpy values in "meta") reads, and its names map to ours. */
    @Test void mmcvHeadCheckpointLoadsDespiteItsNumpyMeta() throws IOException {
        Path f = root().resolve("dinov2_tiny14/dinov2_tiny14_voc2012_ms_head.pth");
        StateDict sd = WeightFiles.read(f);
        assertEquals(java.util.Set.of("decode_head.bn.weight", "decode_head.bn.bias", "decode_head.bn.running_mean",
                "decode_head.bn.running_var", "decode_head.bn.num_batches_tracked", "decode_head.conv_seg.weight",
                "decode_head.conv_seg.bias"), sd.tensors().keySet());
        assertEquals(40000f, sd.get("decode_head.bn.num_batches_tracked").data()[0]);
        Map<String, HostTensor> ours = OfficialModels.headTensors(sd.tensors(), OfficialModels.spec("dinov2_tiny14_voc2012_ms"), f.toString());
        assertEquals(java.util.Set.of("bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "conv.weight", "conv.bias"), ours.keySet());
        assertSame(sd.get("decode_head.conv_seg.weight"), ours.get("conv.weight"));
        assertSame(sd.get("decode_head.bn.running_var"), ours.get("bn.running_var"));
        assertEquals(Shape.of(21, 64, 1, 1), ours.get("conv.weight").shape());
    }

    /** Our BN head with the file's weights, on the generator's features, against BNHeadRef's logits. */
    @Test void headMatchesPyTorchBnHead() throws IOException {
        StateDict g = Golden.read("official/head_golden.safetensors");
        for (String kind : List.of("linear", "ms")) {
            OfficialModels.Spec spec = OfficialModels.spec("dinov2_tiny14_voc2012_" + kind);
            Path f = root().resolve(spec.headPath());
            SegmentationHead head = SegmentationHead.create(BE, SegmentationHead.Kind.BN, spec.headChannels(), 21, 3);
            StateDicts.loadStrict(head, OfficialModels.headTensors(WeightFiles.read(f).tensors(), spec, f.toString()), f.toString());
            head.train(false);
            Ops ops = new Ops(BE);
            List<Var> maps = new ArrayList<>();
            // in_index: linear reads the last of the four maps, ms all four in order (the class token of the ms case is not among them)
            for (int i = kind.equals("linear") ? 3 : 0; i < 4; i++) {
                HostTensor t = g.get("feat." + kind + "." + i);
                maps.add(Var.constant(BE.fromFloats(t.data(), t.shape())));
            }
            Var x = maps.size() == 1 ? maps.get(0) : ops.concat(maps, 1);
            Var y = head.forward(ops, x);
            Golden.assertClose(g.get("out." + kind), y.value().shape().dims(), BE.toFloats(y.value()), 1e-4f, kind + " head");
        }
    }

    /** Backbone and head fetched through the function and loaded: the whole model against the PyTorch pipeline. */
    @Test void wholeModelMatchesThePyTorchPipeline() throws IOException {
        StateDict g = Golden.read("official/head_golden.safetensors");
        HostTensor in = g.get("input");
        List<String> fetched = new ArrayList<>();
        for (String kind : List.of("linear", "ms")) {
            OfficialModels.Loaded l = OfficialModels.load("dinov2_tiny14_voc2012_" + kind, rel -> { fetched.add(rel); return root().resolve(rel); }, BE, null);
            assertFalse(l.model().isTraining());
            assertArrayEquals(kind.equals("linear") ? new int[] {4} : new int[] {1, 2, 3, 4}, l.model().layers());
            Var y = l.model().forwardGrid(new Ops(BE), Var.constant(BE.fromFloats(in.data(), in.shape())));
            Golden.assertClose(g.get("out.model." + kind), y.value().shape().dims(), BE.toFloats(y.value()), 1e-4f, kind + " model");
        }
        assertEquals(List.of("dinov2_tiny14/dinov2_tiny14_pretrain.pth", "dinov2_tiny14/dinov2_tiny14_voc2012_linear_head.pth",
                "dinov2_tiny14/dinov2_tiny14_pretrain.pth", "dinov2_tiny14/dinov2_tiny14_voc2012_ms_head.pth"), fetched);
        OfficialModels.Loaded ade = OfficialModels.load("dinov2_tiny14_ade20k_linear", local(), BE, null);
        assertEquals(150, ade.model().numClasses());
        assertEquals(150, ade.classes().size());
    }

    @Test void wrongFilesAndKeysAreOneLineNamingTheFile() throws IOException {
        OfficialModels.Spec lin = OfficialModels.spec("dinov2_tiny14_voc2012_linear");
        Path backbone = root().resolve(lin.backbonePath()), ms = root().resolve("dinov2_tiny14/dinov2_tiny14_voc2012_ms_head.pth");
        // the backbone file where the head should be
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> OfficialModels.load(lin.name(),
                rel -> rel.endsWith("_head.pth") ? backbone : root().resolve(rel), BE, null));
        assertOneLine(e.getMessage(), backbone + ": not an mmseg BNHead checkpoint");
        // the ms head (4 x 16 channels) where the linear one (16) should be
        e = assertThrows(IllegalArgumentException.class, () -> OfficialModels.load(lin.name(), rel -> rel.endsWith("_head.pth") ? ms : root().resolve(rel), BE, null));
        assertOneLine(e.getMessage(), ms + ": not the linear head of dinov2_tiny14_voc2012_linear");
        assertTrue(e.getMessage().contains("decode_head.bn.weight [64] (expected [16])"), e.getMessage());
        // a missing and an unexpected tensor
        Map<String, HostTensor> sd = new LinkedHashMap<>(WeightFiles.read(root().resolve(lin.headPath())).tensors());
        sd.remove("decode_head.conv_seg.bias");
        sd.put("decode_head.conv_seg.extra", sd.get("decode_head.bn.bias"));
        e = assertThrows(IllegalArgumentException.class, () -> OfficialModels.headTensors(sd, lin, "head.pth"));
        assertOneLine(e.getMessage(), "head.pth: not the linear head");
        assertTrue(e.getMessage().contains("1 missing (decode_head.conv_seg.bias)") && e.getMessage().contains("1 unexpected (decode_head.conv_seg.extra)"),
                e.getMessage());
        // a head for another class count: the ADE20K head (150 classes) fetched for the VOC model
        Path ade = root().resolve("dinov2_tiny14/dinov2_tiny14_ade20k_linear_head.pth");
        e = assertThrows(IllegalArgumentException.class, () -> OfficialModels.load(lin.name(), rel -> rel.endsWith("_head.pth") ? ade : root().resolve(rel), BE, null));
        assertTrue(e.getMessage().contains("decode_head.conv_seg.weight [150, 16, 1, 1] (expected [21, 16, 1, 1])"), e.getMessage());
        // a file that does not exist
        IOException io = assertThrows(IOException.class, () -> OfficialModels.load(lin.name(), rel -> root().resolve("nowhere/" + rel), BE, null));
        assertTrue(io.getMessage().contains("nowhere"), io.getMessage());
    }

    static void assertOneLine(String m, String start) {
        assertTrue(m.startsWith(start), m);
        assertFalse(m.contains("\n"), m);
    }
}
