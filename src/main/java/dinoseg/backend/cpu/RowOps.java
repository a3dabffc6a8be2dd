package dinoseg.backend.cpu;

/**
 * Vector loops in the one shape C2 (JDK 17) turns into SIMD code: every array indexed by the bare
 * loop counter, at most five arrays loaded per iteration. The GEMM and attention kernels are
 * written in terms of these. {@link #maddRows} and {@link #setRows} go to {@link VectorRowOps}
 * when the Vector API is available.
 */
final class RowOps {
    private RowOps() { }

    /** acc[j] += x0*b0[j] + x1*b1[j] + x2*b2[j] + x3*b3[j] for j < n. */
    static void madd4(float[] acc, float[] b0, float[] b1, float[] b2, float[] b3,
                      float x0, float x1, float x2, float x3, int n) {
        for (int j = 0; j < n; j++) acc[j] += x0 * b0[j] + x1 * b1[j] + x2 * b2[j] + x3 * b3[j];
    }

    /** acc[j] = x0*b0[j] + x1*b1[j] + x2*b2[j] + x3*b3[j] for j < n. */
    static void set4(float[] acc, float[] b0, float[] b1, float[] b2, float[] b3,
                     float x0, float x1, float x2, float x3, int n) {
        for (int j = 0; j < n; j++) acc[j] = x0 * b0[j] + x1 * b1[j] + x2 * b2[j] + x3 * b3[j];
    }

    /** acc[j] += x0*b0[j] for j < n. */
    static void madd1(float[] acc, float[] b0, float x0, int n) {
        for (int j = 0; j < n; j++) acc[j] += x0 * b0[j];
    }

    /** acc[j] += sum_{i < count} coef[coefOff + i] * rows[rowOff + i][j] for j < n. */
    static void maddRows(float[] acc, float[][] rows, int rowOff, float[] coef, int coefOff, int count, int n) {
        if (CpuGemm.VECTOR_AVAILABLE) VectorRowOps.rows(acc, rows, rowOff, coef, coefOff, count, n, false);
        else maddRowsScalar(acc, rows, rowOff, coef, coefOff, count, n);
    }

    /** acc[j] = sum_{i < count} coef[coefOff + i] * rows[rowOff + i][j] for j < n. */
    static void setRows(float[] acc, float[][] rows, int rowOff, float[] coef, int coefOff, int count, int n) {
        if (CpuGemm.VECTOR_AVAILABLE) VectorRowOps.rows(acc, rows, rowOff, coef, coefOff, count, n, true);
        else setRowsScalar(acc, rows, rowOff, coef, coefOff, count, n);
    }

    /** {@link #maddRows} in C2-vectorised loops (the path without jdk.incubator.vector). */
    static void maddRowsScalar(float[] acc, float[][] rows, int rowOff, float[] coef, int coefOff, int count, int n) {
        int i = 0;
        for (; i + 4 <= count; i += 4)
            madd4(acc, rows[rowOff + i], rows[rowOff + i + 1], rows[rowOff + i + 2], rows[rowOff + i + 3],
                    coef[coefOff + i], coef[coefOff + i + 1], coef[coefOff + i + 2], coef[coefOff + i + 3], n);
        for (; i < count; i++) madd1(acc, rows[rowOff + i], coef[coefOff + i], n);
    }

    /** {@link #setRows} in C2-vectorised loops (the path without jdk.incubator.vector). */
    static void setRowsScalar(float[] acc, float[][] rows, int rowOff, float[] coef, int coefOff, int count, int n) {
        if (count >= 4) {
            set4(acc, rows[rowOff], rows[rowOff + 1], rows[rowOff + 2], rows[rowOff + 3],
                    coef[coefOff], coef[coefOff + 1], coef[coefOff + 2], coef[coefOff + 3], n);
            maddRowsScalar(acc, rows, rowOff + 4, coef, coefOff + 4, count - 4, n);
        } else {
            java.util.Arrays.fill(acc, 0, n, 0f);
            maddRowsScalar(acc, rows, rowOff, coef, coefOff, count, n);
        }
    }

    /** m[r] = max(m[r], s[r]) for r < n. */
    static void maxInto(float[] m, float[] s, int n) {
        if (CpuGemm.VECTOR_AVAILABLE) VectorRowOps.maxInto(m, s, n);
        else maxIntoScalar(m, s, n);
    }

    static void maxIntoScalar(float[] m, float[] s, int n) {
        for (int r = 0; r < n; r++) m[r] = Math.max(m[r], s[r]);
    }

    /** s[r] = exp(s[r] - m[r]); sum[r] += s[r] for r < n ({@link FastExp}). */
    static void expSubSum(float[] s, float[] m, float[] sum, int n) {
        if (CpuGemm.VECTOR_AVAILABLE) VectorRowOps.expSubSum(s, m, sum, n);
        else expSubSumScalar(s, m, sum, n);
    }

    static void expSubSumScalar(float[] s, float[] m, float[] sum, int n) {
        for (int r = 0; r < n; r++) {
            float p = FastExp.exp(s[r] - m[r]);
            s[r] = p;
            sum[r] += p;
        }
    }

    /** Attention backward: p = exp(s[c]·scale - lse); s[c] = p; dp[c] = p·(dp[c] - di)·scale for c < n. */
    static void probsAndGrads(float[] s, float[] dp, float scale, float lse, float di, int n) {
        if (CpuGemm.VECTOR_AVAILABLE) VectorRowOps.probsAndGrads(s, dp, scale, lse, di, n);
        else probsAndGradsScalar(s, dp, scale, lse, di, n);
    }

    static void probsAndGradsScalar(float[] s, float[] dp, float scale, float lse, float di, int n) {
        for (int c = 0; c < n; c++) {
            float p = FastExp.exp(s[c] * scale - lse);
            s[c] = p;
            dp[c] = p * (dp[c] - di) * scale;
        }
    }
}
