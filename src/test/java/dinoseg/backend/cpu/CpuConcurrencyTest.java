package dinoseg.backend.cpu;

import dinoseg.backend.Backends;
import dinoseg.backend.MatrixView;
import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.*;

/** The shared backend used from several threads at once, and in-place use where the contract allows it. */
class CpuConcurrencyTest {

    @Test void sharedBackendGivesTheSameResultsFromConcurrentCallers() throws Exception {
        CpuBackend be = Backends.cpu();
        assertSame(be, Backends.cpu());
        int m = 150, n = 170, k = 90, tokens = 70, heads = 2, d = 16;
        Tensor a = be.fromFloats(CpuOpsTest.random(m * k, 1), Shape.of(m, k));
        Tensor b = be.fromFloats(CpuOpsTest.random(k * n, 2), Shape.of(k, n));
        Tensor qkv = be.fromFloats(CpuOpsTest.random(tokens * 3 * heads * d, 3), Shape.of(1, tokens, 3 * heads * d));
        Tensor c0 = be.empty(Shape.of(m, n)), o0 = be.empty(Shape.of(1, tokens, heads * d)), l0 = be.empty(Shape.of(1, heads, tokens));
        be.gemm(m, n, k, 1f, MatrixView.of(a, k), MatrixView.of(b, n), 0f, MatrixView.of(c0, n), 1);
        be.attention(qkv, heads, 0.25f, o0, l0);
        float[] cRef = be.toFloats(c0), oRef = be.toFloats(o0);
        ExecutorService ex = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                fs.add(ex.submit(() -> {
                    for (int rep = 0; rep < 5; rep++) {
                        Tensor c = be.empty(Shape.of(m, n)), o = be.empty(Shape.of(1, tokens, heads * d));
                        be.gemm(m, n, k, 1f, MatrixView.of(a, k), MatrixView.of(b, n), 0f, MatrixView.of(c, n), 1);
                        be.attention(qkv, heads, 0.25f, o, be.empty(Shape.of(1, heads, tokens)));
                        assertArrayEquals(cRef, be.toFloats(c));
                        assertArrayEquals(oRef, be.toFloats(o));
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) f.get();
        } finally {
            ex.shutdownNow();
        }
    }

    @Test void inPlaceOutputsWhereTheContractAllowsThem() {
        CpuBackend be = new CpuBackend();
        float[] x = CpuOpsTest.random(2 * 3 * 8, 5);
        // cross-entropy with glogits == logits
        Tensor logits = be.fromFloats(x, Shape.of(2, 3, 8)), labels = be.fromInts(new int[] {0, 1, 2, 255, 1, 1, 0, 2,
                2, 2, 1, 0, 255, 0, 1, 2}, Shape.of(2, 8));
        Tensor loss = be.empty(Shape.of(1)), g = be.empty(Shape.of(2, 3, 8));
        be.softmaxCrossEntropy(logits, labels, null, 255, loss, g);
        Tensor same = be.fromFloats(x, Shape.of(2, 3, 8)), loss2 = be.empty(Shape.of(1));
        be.softmaxCrossEntropy(same, labels, null, 255, loss2, same);
        assertEquals(be.toFloats(loss)[0], be.toFloats(loss2)[0]);
        assertArrayEquals(be.toFloats(g), be.toFloats(same));
        // layerNorm and gelu in place
        Tensor y = be.empty(Shape.of(6, 8)), mean = be.empty(Shape.of(6)), rstd = be.empty(Shape.of(6));
        Tensor gam = be.full(Shape.of(8), 1.5f), bet = be.full(Shape.of(8), 0.1f);
        be.layerNorm(be.fromFloats(x, Shape.of(6, 8)), gam, bet, 1e-6f, y, mean, rstd);
        Tensor inPlace = be.fromFloats(x, Shape.of(6, 8));
        be.layerNorm(inPlace, gam, bet, 1e-6f, inPlace, be.empty(Shape.of(6)), be.empty(Shape.of(6)));
        assertArrayEquals(be.toFloats(y), be.toFloats(inPlace));
        Tensor gl = be.empty(Shape.of(6, 8));
        be.gelu(y, gl);
        be.gelu(y, y);
        assertArrayEquals(be.toFloats(gl), be.toFloats(y));
        assertEquals(DType.F32, y.dtype());
    }
}
