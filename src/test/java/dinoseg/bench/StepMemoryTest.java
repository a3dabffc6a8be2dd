package dinoseg.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.backend.meta.MetaBackend;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.SegmentationHead;
import dinoseg.train.AdamW;
import dinoseg.train.ParamGroups;
import dinoseg.train.TrainConfig;

/**
 * Memory of whole training steps (the bench's fine-tune step: forward, cross-entropy, backward,
 * AdamW, zeroGrad) with explicit tensor lifetimes: on the meta backend what stays after a step is
 * exactly the parameters, the optimizer's moments and the cached interpolation matrices (the CUDA
 * allocator's side: backend.cuda.StepAllocationTest).
 */
public class StepMemoryTest {
    static final BackboneConfig TINY = BackboneConfig.builder("t").embedDim(32).depth(2).heads(2).registers(2).build();
    static final int N = 2, S = 28, K = 3;

    public static final class Setup {
        public final Dinov2Segmentation model;
        final AdamW opt;
        final float[] img = new float[N * 3 * S * S];
        final int[] lbl = new int[N * S * S];

        public Setup(Backend be) {
            model = Dinov2Segmentation.create(be, TINY, SegmentationHead.Kind.BN, K, null, 3);
            model.setFineTune(true);
            model.train(true);
            opt = new AdamW(be, ParamGroups.of(model, TrainConfig.builder().fineTune(true).lr(1e-3).weightDecay(1e-4).backboneLrScale(1).build()));
            SplittableRandom r = new SplittableRandom(1);
            for (int i = 0; i < img.length; i++) img[i] = (float) r.nextGaussian();
            for (int i = 0; i < lbl.length; i++) lbl[i] = r.nextInt(K + 1) == K ? 255 : r.nextInt(K);
        }

        public long step(Backend be) { return Bench.step(Bench.Mode.FINETUNE, model, be, opt, img, lbl, N, S); }
    }

    @Test
    void aMetaStepLeavesOnlyParametersAndMoments() {
        MetaBackend be = new MetaBackend();
        Setup s = new Setup(be);
        long params = be.liveBytes();
        long trainable = 0;
        for (var p : s.model.namedParameters().values()) if (p.requiresGrad()) trainable += 4 * p.value().numel();
        long act = s.step(be);
        // 28x28 images make a 2x2 grid: the position embeddings are resampled from the 37x37 grid by
        // two cached matrices, Wy [2, 37] and Wx repeated [2, 2, 37]
        long interpolation = 4L * (2 * 37 + 2 * 2 * 37);
        assertEquals(params + 2 * trainable + interpolation, be.liveBytes(), "after a step: parameters, AdamW's m and v and the cached matrices, nothing else");
        assertTrue(act > 0);
        be.resetPeakDeviceBytes();
        long act2 = s.step(be);
        assertEquals(params + 2 * trainable + interpolation, be.liveBytes());
        assertEquals(act, act2, "the second step's scope peaks at the first's");
        assertTrue(be.peakDeviceBytes() >= params + 2 * trainable + act2 - 4 * trainable,
                "the peak covers the scope's tensors beside parameters and moments");
    }

    /** With LoRA adapters (unfused blocks, frozen base weights) a step also leaves only parameters, moments and matrices. */
    @Test
    void aMetaLoraStepLeavesOnlyParametersAndMoments() {
        MetaBackend be = new MetaBackend();
        Dinov2Segmentation model = Dinov2Segmentation.create(be, TINY, SegmentationHead.Kind.BN, K, null, 3);
        model.enableLora(new dinoseg.model.Lora(4, 8, java.util.List.of("qkv", "proj", "fc1", "fc2")), 5);
        model.train(true);
        AdamW opt = new AdamW(be, ParamGroups.of(model, TrainConfig.builder().lr(1e-3).lora(4, 8, java.util.List.of("qkv", "proj", "fc1", "fc2")).build()));
        float[] img = new float[N * 3 * S * S];
        int[] lbl = new int[N * S * S];
        long params = be.liveBytes(), trainable = 0;
        for (var p : model.namedParameters().values()) if (p.requiresGrad()) trainable += 4 * p.value().numel();
        assertEquals(4L * (model.head.parameterCount(true) + 2L * 4 * ((32 + 96) + (32 + 32) + (32 + 128) + (128 + 32))), trainable);
        long interpolation = 4L * (2 * 37 + 2 * 2 * 37);
        for (int i = 0; i < 2; i++) {
            assertTrue(Bench.step(Bench.Mode.FINETUNE, model, be, opt, img, lbl, N, S) > 0);
            assertEquals(params + 2 * trainable + interpolation, be.liveBytes(), "after LoRA step " + i);
        }
    }

    @Test
    void cpuStepsReuseTheirArrays() {
        Backend be = Backends.cpu();
        Setup s = new Setup(be);
        for (int i = 0; i < 3; i++) s.step(be);   // runs, on the pooled arrays, with every tensor freed by its owner
        assertTrue(((dinoseg.backend.cpu.CpuBackend) be).cachedBytes() >= 0);
    }

    @Test
    void checkpointedBlocksGiveTheSameLossAndGradientsWithFewerActivations() {
        Backend be = Backends.cpu();
        BackboneConfig cfg = BackboneConfig.builder("t4").embedDim(32).depth(4).heads(2).registers(1).build();
        java.util.Map<String, float[]> grads = new java.util.HashMap<>();
        float[] losses = new float[2];
        for (int run = 0; run < 2; run++) {
            Dinov2Segmentation m = Dinov2Segmentation.create(be, cfg, SegmentationHead.Kind.LINEAR, K, new int[]{1, 3}, 5);
            m.setFineTune(true);
            m.train(true);
            m.backbone.setCheckpointBlocks(run == 1);
            Setup data = new Setup(be);
            try (dinoseg.autograd.Ops ops = new dinoseg.autograd.Ops(be);
                 dinoseg.tensor.Tensor labels = be.fromInts(data.lbl, dinoseg.tensor.Shape.of(N, S, S))) {
                var logits = m.forward(ops, ops.constant(be.fromFloats(data.img, dinoseg.tensor.Shape.of(N, 3, S, S))));
                var loss = ops.crossEntropy(logits, labels, null, 255);
                losses[run] = be.toFloats(loss.value())[0];
                ops.backward(loss);
            }
            for (var e : m.namedParameters().entrySet()) {
                if (e.getValue().grad() == null) continue;
                float[] g = be.toFloats(e.getValue().grad());
                if (run == 0) { grads.put(e.getKey(), g); continue; }
                float[] ref = grads.remove(e.getKey());
                org.junit.jupiter.api.Assertions.assertNotNull(ref, e.getKey() + " has a gradient only with checkpointing");
                for (int j = 0; j < g.length; j++)
                    assertEquals(ref[j], g[j], 1e-6 * (1 + Math.abs(ref[j])), e.getKey() + "[" + j + "]");
            }
        }
        assertEquals(losses[0], losses[1], 0f);
        assertTrue(grads.isEmpty(), "gradients missing with checkpointing: " + grads.keySet());

        // shapes only: 8 blocks at 112x112, where the blocks' activations outweigh the head's
        long[] act = new long[2];
        for (int run = 0; run < 2; run++) {
            MetaBackend meta = new MetaBackend();
            BackboneConfig wide = BackboneConfig.builder("w").embedDim(64).depth(8).heads(2).build();
            Dinov2Segmentation m = Dinov2Segmentation.create(meta, wide, SegmentationHead.Kind.LINEAR, 2, null, 0);
            m.setFineTune(true);
            m.backbone.setCheckpointBlocks(run == 1);
            AdamW opt = new AdamW(meta, ParamGroups.of(m, TrainConfig.builder().fineTune(true).lr(1e-3).weightDecay(0).backboneLrScale(1).build()));
            act[run] = Bench.step(Bench.Mode.FINETUNE, m, meta, opt, new float[2 * 3 * 112 * 112], new int[2 * 112 * 112], 2, 112);
        }
        assertTrue(act[1] < act[0], "checkpointing keeps fewer activations: " + act[1] + " vs " + act[0]);
    }
}
