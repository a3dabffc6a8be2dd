package dinoseg.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.backend.cuda.CudaBackend;
import dinoseg.backend.cuda.CudaTestSupport;
import dinoseg.backend.meta.MetaBackend;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.SegmentationHead;
import dinoseg.train.AdamW;
import dinoseg.train.ParamGroups;
import dinoseg.train.TrainConfig;

/**
 * Memory of whole training steps (the bench's fine-tune step: forward, cross-entropy, backward,
 * AdamW, zeroGrad) with explicit tensor lifetimes: a step frees everything it made, so on the CUDA
 * backend the caching allocator serves every step after the first from its cache (no cuMemAlloc)
 * and each step peaks at the same bytes; on the meta backend what stays after a step is exactly the
 * parameters and the optimizer's moments.
 */
class StepMemoryTest {
    static final BackboneConfig TINY = BackboneConfig.builder("t").embedDim(32).depth(2).heads(2).registers(2).build();
    static final int N = 2, S = 28, K = 3;

    private static final class Setup {
        final Dinov2Segmentation model;
        final AdamW opt;
        final float[] img = new float[N * 3 * S * S];
        final int[] lbl = new int[N * S * S];

        Setup(Backend be) {
            model = Dinov2Segmentation.create(be, TINY, SegmentationHead.Kind.BN, K, null, 3);
            model.setFineTune(true);
            model.train(true);
            opt = new AdamW(be, ParamGroups.of(model, TrainConfig.builder().fineTune(true).lr(1e-3).weightDecay(1e-4).backboneLrScale(1).build()));
            SplittableRandom r = new SplittableRandom(1);
            for (int i = 0; i < img.length; i++) img[i] = (float) r.nextGaussian();
            for (int i = 0; i < lbl.length; i++) lbl[i] = r.nextInt(K + 1) == K ? 255 : r.nextInt(K);
        }

        long step(Backend be) { return Bench.step(Bench.Mode.FINETUNE, model, be, opt, img, lbl, N, S); }
    }

    @Test
    void steadyStateCudaStepsAllocateNothingAndPeakTheSame() throws Exception {
        CudaTestSupport.assumeGpu();
        // its own backend: no other test's tensors (or their Cleaner) move this allocator's figures
        try (CudaBackend gpu = CudaBackend.open()) {
            Setup s = new Setup(gpu);
            s.step(gpu);   // step 1: the optimizer's moments are made at its end
            gpu.synchronize();
            long live = gpu.liveBytes();
            long cleanerBefore = gpu.cleanerReleases();
            long[] peaks = new long[21], allocs = new long[21];
            for (int i = 2; i <= 20; i++) {
                gpu.resetPeakDeviceBytes();
                s.step(gpu);
                gpu.synchronize();
                peaks[i] = gpu.peakDeviceBytes();
                allocs[i] = gpu.deviceAllocations();
                assertEquals(live, gpu.liveBytes(), "step " + i + " left tensors alive");
            }
            // step 2 may still add a few blocks (the moments took cached blocks the activations had
            // used); from step 3 on the cache serves everything
            assertEquals(allocs[2], allocs[20], "steps 3..20 must make no cuMemAlloc call");
            assertEquals(peaks[2], peaks[20], "peak bytes of step 2 and step 20");
            assertTrue(peaks[2] > live, "a step allocates activations above the parameters and moments");
            System.gc();
            Thread.sleep(200);
            assertEquals(cleanerBefore, gpu.cleanerReleases(), "tensors of the steps were left to the garbage collector");
        }
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

    @Test
    void cpuStepsReuseTheirArrays() {
        Backend be = Backends.cpu();
        Setup s = new Setup(be);
        for (int i = 0; i < 3; i++) s.step(be);   // runs, on the pooled arrays, with every tensor freed by its owner
        assertTrue(((dinoseg.backend.cpu.CpuBackend) be).cachedBytes() >= 0);
    }
}
