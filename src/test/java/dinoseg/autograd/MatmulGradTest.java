package dinoseg.autograd;

import dinoseg.ref.DTensor;
import dinoseg.ref.Ref;
import org.junit.jupiter.api.Test;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class MatmulGradTest {
    /** a is [2, M, K] (or [2, K, M] transposed); b is batched [2, K, N] or shared [K, N] (or transposed). */
    @ParameterizedTest(name = "transA={0} transB={1} sharedB={2}")
    @CsvSource({"false,false,false", "true,false,false", "false,true,false", "true,true,false",
                "false,false,true", "true,false,true", "false,true,true", "true,true,true"})
    void allTransposesBatchedAndShared(boolean ta, boolean tb, boolean shared) {
        int m = 3, k = 4, n = 5;
        int[] as = ta ? new int[]{2, k, m} : new int[]{2, m, k};
        int[] bs2 = tb ? new int[]{n, k} : new int[]{k, n};
        int[] bs = shared ? bs2 : new int[]{2, bs2[0], bs2[1]};
        GradCheck.of("matmul", 10 + (ta ? 1 : 0) + (tb ? 2 : 0) + (shared ? 4 : 0)).input("a", as).input("b", bs)
                .run((ops, v) -> ops.matmul(v.get(0), ta, v.get(1), tb), r -> Ref.matmul(r.get(0), ta, r.get(1), tb));
    }

    @Test
    void fourDimensionalBatch() {
        GradCheck.of("matmul", 20).input("a", 2, 2, 3, 4).input("b", 2, 2, 4, 2)
                .run((ops, v) -> ops.matmul(v.get(0), false, v.get(1), false), r -> Ref.matmul(r.get(0), false, r.get(1), false));
    }

    @Test
    void sharedMatrixUsedTwice() {
        // (a @ m) @ m with a shared [3, 3] m: both uses add into m's gradient
        GradCheck.of("matmul tied", 21).input("a", 2, 2, 3).input("m", 3, 3)
                .run((ops, v) -> ops.matmul(ops.matmul(v.get(0), false, v.get(1), false), false, v.get(1), true),
                        r -> Ref.matmul(Ref.matmul(r.get(0), false, r.get(1), false), false, r.get(1), true));
    }
}
