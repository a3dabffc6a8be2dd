package dinoseg.backend.meta;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.SegmentationHead;
import dinoseg.nn.Init;
import dinoseg.nn.Parameter;
import dinoseg.tensor.DType;
import dinoseg.tensor.Device;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The meta device: models build and run forward and backward for shapes only, nothing that needs
 * values is answered, tensors of other backends are refused, and the bytes of live tensors are
 * counted. (That every op rejects bad arguments with the CPU's message is {@code OpContractTest}.)
 */
class MetaBackendTest {
    static final BackboneConfig TINY = new BackboneConfig("t", 24, 2, 2, 4, true, 14, 2.0, 37, 0.5f);

    @Test void aModelOnTheMetaDeviceHasTheCpuModelsParametersAndTracesItsShapes() {
        MetaBackend meta = new MetaBackend();
        Dinov2Segmentation m = Dinov2Segmentation.create(meta, TINY, SegmentationHead.Kind.BN, 3, null, 4);
        Dinov2Segmentation c = Dinov2Segmentation.create(Backends.cpu(), TINY, SegmentationHead.Kind.BN, 3, null, 4);
        Map<String, Parameter> mp = m.namedParameters(), cp = c.namedParameters();
        assertEquals(cp.keySet(), mp.keySet());
        for (var e : cp.entrySet()) {
            Tensor t = mp.get(e.getKey()).value();
            assertEquals(e.getValue().shape(), t.shape(), e.getKey());
            assertEquals(Device.META, t.device(), e.getKey());
        }

        // forward and backward through the whole model (fine-tuning, BatchNorm in training mode):
        // every op runs its checks, none computes, and the shapes come out as on the CPU
        m.setFineTune(true);
        m.train(true);
        Ops ops = new Ops(meta);
        Var x = Var.constant(meta.zeros(Shape.of(2, 3, 28, 42)));
        Var logits = m.forward(ops, x, 20, 26);
        assertEquals(Shape.of(2, 3, 20, 26), logits.value().shape());
        Var loss = ops.crossEntropy(logits, meta.zeros(Shape.of(2, 20, 26), DType.I32), null, 255);
        ops.backward(loss);
        for (var e : mp.entrySet()) {
            if (e.getKey().equals("backbone.mask_token") || e.getValue().isBuffer()) continue;
            assertNotNull(e.getValue().grad(), e.getKey());
            assertEquals(e.getValue().shape(), e.getValue().grad().shape(), e.getKey());
        }
    }

    @Test void initialisersDrawNoRandomNumbersForTheMetaDevice() {
        SplittableRandom rng = new SplittableRandom(7);
        Tensor a = Init.truncNormal(new MetaBackend(), rng, Shape.of(3, 5), 0.02);
        Tensor b = Init.uniform(new MetaBackend(), rng, Shape.of(4), 0.5);
        assertEquals(Shape.of(3, 5), a.shape());
        assertEquals(Shape.of(4), b.shape());
        assertEquals(new SplittableRandom(7).nextLong(), rng.nextLong(), "the generator was not advanced");
        SplittableRandom used = new SplittableRandom(7);
        Init.uniform(Backends.cpu(), used, Shape.of(4), 0.5);
        assertNotEquals(new SplittableRandom(7).nextLong(), used.nextLong(), "the CPU draws from it");
    }

    @Test void whatNeedsValuesIsRefusedAfterTheArgumentChecks() {
        MetaBackend meta = new MetaBackend();
        Tensor f = meta.fromFloats(new float[6], Shape.of(2, 3));
        Tensor i = meta.fromInts(new int[2], Shape.of(2));
        var e = assertThrows(UnsupportedOperationException.class, () -> meta.toFloats(f));
        assertEquals("toFloats: meta tensor [2, 3] holds no values", e.getMessage());
        assertThrows(UnsupportedOperationException.class, () -> meta.toInts(i));
        assertThrows(UnsupportedOperationException.class, () -> meta.sumSquares(f));
        // the contract comes first: a wrong dtype is the usual IllegalArgumentException
        assertEquals("toFloats: t must be F32, got I32 [2]", assertThrows(IllegalArgumentException.class, () -> meta.toFloats(i)).getMessage());
    }

    @Test void tensorsOfOtherBackendsAndClosedTensorsAreRefused() {
        MetaBackend meta = new MetaBackend(), other = new MetaBackend();
        Backend cpu = Backends.cpu();
        Tensor a = meta.zeros(Shape.of(4)), out = meta.zeros(Shape.of(4));
        var e = assertThrows(IllegalArgumentException.class, () -> meta.add(a, cpu.zeros(Shape.of(4)), 1f, out));
        assertEquals("meta backend: tensor [4] lives on cpu, not on this meta backend", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> meta.gelu(other.zeros(Shape.of(4)), out));
        meta.gelu(a, out); // its own tensors pass
        a.close();
        assertThrows(IllegalStateException.class, () -> meta.gelu(a, out));
    }

    @Test void adoptingTakesTheShapeWithoutReadingValues() {
        MetaBackend meta = new MetaBackend();
        Tensor cpuTensor = Backends.cpu().fromInts(new int[]{1, 2, 3, 4, 5, 6}, Shape.of(3, 2));
        cpuTensor.close(); // reading it would fail
        Tensor t = meta.adopt(cpuTensor, Backends.cpu());
        assertEquals(Shape.of(3, 2), t.shape());
        assertEquals(DType.I32, t.dtype());
        assertEquals(Device.META, t.device());
        assertSame(t, meta.adopt(t, meta));
    }

    @Test void peakBytesCountLiveTensorsUntilTheyAreClosed() {
        MetaBackend meta = new MetaBackend();
        assertEquals(0, meta.peakDeviceBytes());
        Tensor big = meta.empty(Shape.of(1000));                 // 4000 bytes
        Tensor labels = meta.zeros(Shape.of(10), DType.I32);     // 40 bytes
        assertEquals(4040, meta.liveBytes());
        big.close();
        big.close();                                             // closing twice counts once
        assertEquals(40, meta.liveBytes());
        meta.fromFloats(new float[500], Shape.of(500));          // 2000 bytes: below the peak
        assertEquals(2040, meta.liveBytes());
        assertEquals(4040, meta.peakDeviceBytes());
        Tensor view = labels.reshape(2, 5);                      // a view allocates nothing
        assertEquals(2040, meta.liveBytes());
        assertEquals(Shape.of(2, 5), view.shape());
    }

    @org.junit.jupiter.api.Test
    void takesAnyPrecisionSinceItComputesNothing() {
        MetaBackend meta = new MetaBackend();
        meta.setMatmulPrecision(dinoseg.backend.Precision.BF16);
        org.junit.jupiter.api.Assertions.assertEquals(dinoseg.backend.Precision.BF16, meta.matmulPrecision());
    }
}
