package dinoseg.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dinoseg.backend.Backend;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import jcuda.CudaException;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;

/**
 * CUDA graphs ({@link Backend#capture}) on the CUDA backend: a replay reruns the recorded kernels on
 * the tensors they were recorded with (the host writes new inputs first), the memory a capture took
 * is kept from the rest of the program until the graph is closed, and a body that reads back, uploads
 * or calls a prohibited driver function fails with one clear error and leaves the backend usable.
 * Emulated driver (which enforces the capture rules of the driver API) or a real GPU.
 */
class CudaGraphTest {
    private static final Shape S = Shape.of(3, 1000);

    @BeforeEach void gpu() { CudaTestSupport.assumeGpu(); }

    private static float[] ramp(float start) {
        float[] v = new float[S.size()];
        for (int i = 0; i < v.length; i++) v[i] = start + i * 0.25f;
        return v;
    }

    @Test
    void aReplayRerunsTheRecordedKernelsOnNewInputsAndSparesOtherTensors() {
        try (CudaBackend gpu = CudaBackend.open()) {
            Tensor x = gpu.fromFloats(ramp(1), S), out = gpu.zeros(S);
            gpu.synchronize();
            long allocs = gpu.deviceAllocations();
            // out = 2x + x, through an intermediate the capture makes and frees
            Backend.Graph g = gpu.capture(() -> {
                try (Tensor t = gpu.empty(S)) {
                    gpu.scale(x, 2f, t);
                    gpu.add(t, x, 1f, out);
                }
            });
            assertEquals(2, g.nodes(), "two kernels recorded");
            assertEquals(0f, gpu.toFloats(out)[7], "a capture runs nothing");
            assertTrue(gpu.graphBytes() > 0, "the graph keeps its intermediate");
            // a tensor made now, of the intermediate's size, must not get the intermediate's memory
            Tensor other = gpu.fromFloats(ramp(-5), S);
            int graphsBefore = EmulatedDriver.active() ? EmulatedDriver.count(EmulatedDriver.GRAPH_LAUNCHES) : 0;
            int launchesBefore = EmulatedDriver.active() ? EmulatedDriver.count(EmulatedDriver.LAUNCHES) : 0;
            for (float start : new float[] {3, -7, 11}) {
                gpu.writeFloats(ramp(start), 0, x, 0, S.size());
                g.replay();
                float[] want = ramp(start);
                for (int i = 0; i < want.length; i++) want[i] = 2 * want[i] + want[i];
                assertArrayEquals(want, gpu.toFloats(out), 0f, "replay with inputs from " + start);
            }
            assertArrayEquals(ramp(-5), gpu.toFloats(other), 0f, "a tensor made after the capture is not the graph's memory");
            if (EmulatedDriver.active()) {
                assertEquals(3, EmulatedDriver.count(EmulatedDriver.GRAPH_LAUNCHES) - graphsBefore, "one launch per replay");
                assertEquals(0, EmulatedDriver.count(EmulatedDriver.LAUNCHES) - launchesBefore, "no kernel launched from the host");
            }
            assertEquals(allocs + 2, gpu.deviceAllocations(), "the intermediate and other: new blocks; the replays: none");
            g.close();
            assertEquals(0, gpu.graphBytes(), "closing the graph returns its memory");
            long cached = gpu.cachedBytes();
            try (Tensor again = gpu.empty(S)) {
                assertTrue(gpu.cachedBytes() < cached, "the graph's block is reused from the cache");
            }
            assertThrows(IllegalStateException.class, g::replay);
            other.close();
            x.close();
            out.close();
        }
    }

    @Test
    void aBodyThatReadsBackFailsClearlyAndTheBackendStaysUsable() {
        try (CudaBackend gpu = CudaBackend.open()) {
            Tensor x = gpu.fromFloats(ramp(1), S);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> gpu.capture(() -> {
                try (Tensor t = gpu.empty(S)) {
                    gpu.scale(x, 2f, t);
                    gpu.toFloats(t);
                }
            }));
            assertTrue(e.getMessage().startsWith("waiting for the GPU inside a CUDA graph capture"), e.getMessage());
            assertThrows(IllegalStateException.class, () -> gpu.capture(() -> gpu.fromFloats(new float[4], Shape.of(4))));
            assertEquals(0, gpu.graphBytes(), "a failed capture keeps no memory");
            // the stream is out of capture mode: ordinary work runs
            try (Tensor y = gpu.empty(S)) {
                gpu.scale(x, 3f, y);
                assertEquals(3f, gpu.toFloats(y)[0]);
            }
            x.close();
        }
    }

    @Test
    void benchTimesReplaysOfTheCapturedFinetuneStep(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
        java.nio.file.Path tiny = tmp.resolve("tiny.json");
        java.nio.file.Files.writeString(tiny, "{\"embed_dim\": 32, \"depth\": 1, \"heads\": 1, \"pos_grid\": 4}");
        dinoseg.bench.Bench.Config c = new dinoseg.bench.Bench.Config("cuda", dinoseg.bench.Bench.Mode.FINETUNE, tiny.toString(), 28, 2,
                dinoseg.backend.Precision.FP32, 1, 3, 3, false, null, 0, true);
        int graphs = EmulatedDriver.active() ? EmulatedDriver.count(EmulatedDriver.GRAPH_LAUNCHES) : 0;
        com.google.gson.JsonObject o = dinoseg.bench.Bench.run(c, CudaTestSupport.gpu());
        assertTrue(o.get("cuda_graphs").getAsBoolean(), o.toString());
        assertTrue(o.get("images_per_s").getAsDouble() > 0 && o.get("peak_gpu_mib").getAsDouble() > 0, o.toString());
        if (EmulatedDriver.active())
            assertEquals(3, EmulatedDriver.count(EmulatedDriver.GRAPH_LAUNCHES) - graphs, "each timed step is one replay");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> dinoseg.bench.Bench.run(c, CudaTestSupport.cpu()));
        assertTrue(e.getMessage().startsWith("--cuda-graphs needs a CUDA device"), e.getMessage());
    }

    @Test
    void readLaterCopiesWhatTheQueueHoldsAtThatPointWithoutWaiting() {
        try (CudaBackend gpu = CudaBackend.open()) {
            Tensor loss = gpu.fromFloats(new float[] {1.5f, -2f}, Shape.of(2));
            gpu.synchronize();
            int waits = EmulatedDriver.active() ? EmulatedDriver.count(EmulatedDriver.HOST_WAITS) : 0;
            Backend.PendingRead first = gpu.readLater(loss);
            gpu.scale(loss, 10f, loss);   // queued after the read: the read keeps the earlier values
            Backend.PendingRead second = gpu.readLater(loss);
            loss.close();                 // freed at once: the copies are queued before any reuse
            if (EmulatedDriver.active())
                assertEquals(waits, EmulatedDriver.count(EmulatedDriver.HOST_WAITS), "starting reads waits for nothing");
            assertArrayEquals(new float[] {15f, -20f}, second.get(), 0f);
            assertArrayEquals(new float[] {1.5f, -2f}, first.get(), 0f);
            Tensor x = gpu.fromFloats(new float[] {7f}, Shape.of(1));
            Backend.PendingRead old = gpu.readLater(x);
            for (int i = 0; i < Backend.READ_LATER_SLOTS; i++) gpu.readLater(x).get();
            IllegalStateException e = assertThrows(IllegalStateException.class, old::get);
            assertTrue(e.getMessage().contains("not taken"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> gpu.readLater(gpu.empty(Shape.of(65))));
            x.close();
        }
    }

    @Test
    void aProhibitedDriverCallInvalidatesTheCapture() {
        CudaTestSupport.assumeGpu();
        try (CudaBackend gpu = CudaBackend.open()) {
            Tensor x = gpu.fromFloats(ramp(1), S);
            // cuMemAlloc in CU_STREAM_CAPTURE_MODE_GLOBAL is prohibited; the capture then ends invalidated
            CudaException e = assertThrows(CudaException.class, () -> gpu.capture(() -> {
                gpu.scale(x, 2f, x);
                JCudaDriver.cuMemAlloc(new CUdeviceptr(), 1024);
            }));
            String all = e.getMessage() + Arrays.toString(e.getSuppressed());
            assertTrue(all.contains("CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"), all);
            assertEquals(1f, gpu.toFloats(x)[0], "nothing of the failed capture ran");
            x.close();
        }
    }

    /** Runs fn, which must fail with the driver error {@code name} (JCuda throws with the result's name). */
    private static void assertDriverError(String name, Runnable fn) {
        CudaException e = assertThrows(CudaException.class, fn::run);
        assertTrue(e.getMessage().contains(name), e.getMessage());
    }

    @Test
    void endCaptureReportsTheCaptureAProhibitedCallInvalidated() {
        CudaTestSupport.assumeGpu();
        try (CudaBackend gpu = CudaBackend.open()) {
            jcuda.driver.CUstream s = new jcuda.driver.CUstream();
            JCudaDriver.cuStreamCreate(s, 0);
            JCudaDriver.cuStreamBeginCapture(s, jcuda.driver.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_GLOBAL);
            assertDriverError("CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", () -> JCudaDriver.cuMemAlloc(new CUdeviceptr(), 1024));
            assertDriverError("CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", () -> JCudaDriver.cuStreamEndCapture(s, new jcuda.driver.CUgraph()));
            JCudaDriver.cuStreamDestroy(s);
        }
    }

    @Test
    void anEventLastRecordedInACaptureCannotBeWaitedFor() {
        CudaTestSupport.assumeGpu();
        try (CudaBackend gpu = CudaBackend.open()) {
            jcuda.driver.CUstream s = new jcuda.driver.CUstream();
            jcuda.driver.CUevent ev = new jcuda.driver.CUevent();
            jcuda.driver.CUgraph g = new jcuda.driver.CUgraph();
            JCudaDriver.cuStreamCreate(s, 0);
            JCudaDriver.cuEventCreate(ev, 0);
            JCudaDriver.cuStreamBeginCapture(s, jcuda.driver.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_GLOBAL);
            JCudaDriver.cuEventRecord(ev, s);
            JCudaDriver.cuStreamEndCapture(s, g);
            assertDriverError("CUDA_ERROR_CAPTURED_EVENT", () -> JCudaDriver.cuEventQuery(ev));
            assertDriverError("CUDA_ERROR_CAPTURED_EVENT", () -> JCudaDriver.cuEventSynchronize(ev));
            JCudaDriver.cuEventRecord(ev, s);   // recorded again outside a capture: usable
            JCudaDriver.cuEventSynchronize(ev);
            JCudaDriver.cuGraphDestroy(g);
            JCudaDriver.cuEventDestroy(ev);
            JCudaDriver.cuStreamDestroy(s);
        }
    }
}
