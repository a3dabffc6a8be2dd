package dinoseg.backend.cpu;

/**
 * Vector loops in the one shape C2 (JDK 17) turns into SIMD code: every array indexed by the bare
 * loop counter, at most five arrays loaded per iteration. The GEMM and attention kernels are
 * written in terms of these.
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
        int i = 0;
        for (; i + 4 <= count; i += 4)
            madd4(acc, rows[rowOff + i], rows[rowOff + i + 1], rows[rowOff + i + 2], rows[rowOff + i + 3],
                    coef[coefOff + i], coef[coefOff + i + 1], coef[coefOff + i + 2], coef[coefOff + i + 3], n);
        for (; i < count; i++) madd1(acc, rows[rowOff + i], coef[coefOff + i], n);
    }

    /** acc[j] = sum_{i < count} coef[coefOff + i] * rows[rowOff + i][j] for j < n. */
    static void setRows(float[] acc, float[][] rows, int rowOff, float[] coef, int coefOff, int count, int n) {
        if (count >= 4) {
            set4(acc, rows[rowOff], rows[rowOff + 1], rows[rowOff + 2], rows[rowOff + 3],
                    coef[coefOff], coef[coefOff + 1], coef[coefOff + 2], coef[coefOff + 3], n);
            maddRows(acc, rows, rowOff + 4, coef, coefOff + 4, count - 4, n);
        } else {
            java.util.Arrays.fill(acc, 0, n, 0f);
            maddRows(acc, rows, rowOff, coef, coefOff, count, n);
        }
    }
}
