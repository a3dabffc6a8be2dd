package dinoseg.backend.cpu;

/**
 * Blocked, packed single-precision GEMM in plain Java loops that C2 vectorises.
 *
 * <p>For each output tile a thread owns, the k dimension is cut into KC-deep slabs and the columns
 * into NC-wide panels; the B panel (KC×NC) is packed row-major and alpha·A (MC×KC) is packed
 * row-major, so the micro-kernel reads both contiguously whatever the transposes and leading
 * dimensions. The micro-kernel updates 4 rows of C at a time with 4 k-steps fused per pass over
 * the C rows, which keeps the 4 C rows (NC floats each) in L1 while the B panel streams from L2.
 */
final class CpuGemm {
    private CpuGemm() { }

    static final int MC = 64;
    static final int KC = 256;
    static final int NC = 512;

    private static final ThreadLocal<float[]> PACK_A = ThreadLocal.withInitial(() -> new float[MC * KC]);
    private static final ThreadLocal<float[]> PACK_B = ThreadLocal.withInitial(() -> new float[KC * NC]);

    static void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                     float[] a, long offA, int lda, long strideA,
                     float[] b, long offB, int ldb, long strideB,
                     float beta, float[] c, long offC, int ldc, long strideC, int batch) {
        if (m == 0 || n == 0 || batch == 0) return;
        // Split into tiles: batch × row chunks × column chunks, enough for every core when the work is large.
        long flops = 2L * m * n * Math.max(k, 1) * batch;
        int threads = Parallel.THREADS;
        int want = flops < 2_000_000 || Parallel.inPool() ? 1 : threads * 3;
        int mt = 1, nt = 1;
        if (want > batch) {
            int perBatch = (want + batch - 1) / batch;
            int maxM = Math.max(1, (m + 15) / 16);
            mt = Math.min(perBatch, maxM);
            nt = Math.min((perBatch + mt - 1) / mt, Math.max(1, (n + 63) / 64));
        }
        final int fmt = mt, fnt = nt;
        final int tiles = batch * mt * nt;
        Parallel.Range body = (t0, t1) -> {
            float[] ap = PACK_A.get(), bp = PACK_B.get();
            for (int t = t0; t < t1; t++) {
                int bi = t / (fmt * fnt);
                int r = t % (fmt * fnt);
                int mi = r / fnt, ni = r % fnt;
                int i0 = (int) ((long) m * mi / fmt), i1 = (int) ((long) m * (mi + 1) / fmt);
                int j0 = (int) ((long) n * ni / fnt), j1 = (int) ((long) n * (ni + 1) / fnt);
                tile(transA, transB, i0, i1, j0, j1, k, alpha,
                        a, offA + bi * strideA, lda, b, offB + bi * strideB, ldb,
                        beta, c, offC + bi * strideC, ldc, ap, bp);
            }
        };
        if (tiles == 1) body.run(0, 1);
        else Parallel.forChunks(tiles, Math.min(tiles, threads * 3), body);
    }

    private static void tile(boolean transA, boolean transB, int i0, int i1, int j0, int j1, int k, float alpha,
                             float[] a, long offA, int lda, float[] b, long offB, int ldb,
                             float beta, float[] c, long offC, int ldc, float[] ap, float[] bp) {
        int w = j1 - j0;
        if (w <= 0 || i1 <= i0) return;
        // C = beta * C (C not read when beta == 0)
        for (int i = i0; i < i1; i++) {
            int base = Math.toIntExact(offC + (long) i * ldc + j0);
            if (beta == 0f) java.util.Arrays.fill(c, base, base + w, 0f);
            else if (beta != 1f) for (int j = 0; j < w; j++) c[base + j] *= beta;
        }
        if (k == 0 || alpha == 0f) return;
        for (int pc = 0; pc < k; pc += KC) {
            int kc = Math.min(KC, k - pc);
            for (int jc = j0; jc < j1; jc += NC) {
                int nc = Math.min(NC, j1 - jc);
                packB(transB, b, offB, ldb, pc, kc, jc, nc, bp);
                for (int ic = i0; ic < i1; ic += MC) {
                    int mc = Math.min(MC, i1 - ic);
                    packA(transA, a, offA, lda, ic, mc, pc, kc, alpha, ap);
                    kernel(ap, bp, mc, nc, kc, c, Math.toIntExact(offC + (long) ic * ldc + jc), ldc);
                }
            }
        }
    }

    /** bp[p*nc + j] = op(B)[pc+p][jc+j]. */
    private static void packB(boolean transB, float[] b, long offB, int ldb, int pc, int kc, int jc, int nc, float[] bp) {
        if (!transB) {
            for (int p = 0; p < kc; p++) {
                int src = Math.toIntExact(offB + (long) (pc + p) * ldb + jc);
                System.arraycopy(b, src, bp, p * nc, nc);
            }
        } else {
            // B stored n×k: op(B)[p][j] = B[j][p]
            for (int j = 0; j < nc; j++) {
                int src = Math.toIntExact(offB + (long) (jc + j) * ldb + pc);
                for (int p = 0; p < kc; p++) bp[p * nc + j] = b[src + p];
            }
        }
    }

    /** ap[i*kc + p] = alpha * op(A)[ic+i][pc+p]. */
    private static void packA(boolean transA, float[] a, long offA, int lda, int ic, int mc, int pc, int kc, float alpha, float[] ap) {
        if (!transA) {
            for (int i = 0; i < mc; i++) {
                int src = Math.toIntExact(offA + (long) (ic + i) * lda + pc);
                int dst = i * kc;
                for (int p = 0; p < kc; p++) ap[dst + p] = alpha * a[src + p];
            }
        } else {
            // A stored k×m: op(A)[i][p] = A[p][i]
            for (int p = 0; p < kc; p++) {
                int src = Math.toIntExact(offA + (long) (pc + p) * lda + ic);
                for (int i = 0; i < mc; i++) ap[i * kc + p] = alpha * a[src + i];
            }
        }
    }

    /** C[ci + i*ldc + j] += sum_p ap[i*kc+p] * bp[p*nc+j] for i < mc, j < nc. */
    static void kernel(float[] ap, float[] bp, int mc, int nc, int kc, float[] c, int ci, int ldc) {
        int i = 0;
        for (; i + 4 <= mc; i += 4) {
            int a0 = i * kc, a1 = a0 + kc, a2 = a1 + kc, a3 = a2 + kc;
            int c0 = ci + i * ldc, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
            int p = 0;
            for (; p + 4 <= kc; p += 4) {
                float x00 = ap[a0 + p], x01 = ap[a0 + p + 1], x02 = ap[a0 + p + 2], x03 = ap[a0 + p + 3];
                float x10 = ap[a1 + p], x11 = ap[a1 + p + 1], x12 = ap[a1 + p + 2], x13 = ap[a1 + p + 3];
                float x20 = ap[a2 + p], x21 = ap[a2 + p + 1], x22 = ap[a2 + p + 2], x23 = ap[a2 + p + 3];
                float x30 = ap[a3 + p], x31 = ap[a3 + p + 1], x32 = ap[a3 + p + 2], x33 = ap[a3 + p + 3];
                int b0 = p * nc, b1 = b0 + nc, b2 = b1 + nc, b3 = b2 + nc;
                for (int j = 0; j < nc; j++) {
                    float y0 = bp[b0 + j], y1 = bp[b1 + j], y2 = bp[b2 + j], y3 = bp[b3 + j];
                    c[c0 + j] += x00 * y0 + x01 * y1 + x02 * y2 + x03 * y3;
                    c[c1 + j] += x10 * y0 + x11 * y1 + x12 * y2 + x13 * y3;
                    c[c2 + j] += x20 * y0 + x21 * y1 + x22 * y2 + x23 * y3;
                    c[c3 + j] += x30 * y0 + x31 * y1 + x32 * y2 + x33 * y3;
                }
            }
            for (; p < kc; p++) {
                float x0 = ap[a0 + p], x1 = ap[a1 + p], x2 = ap[a2 + p], x3 = ap[a3 + p];
                int b0 = p * nc;
                for (int j = 0; j < nc; j++) {
                    float y = bp[b0 + j];
                    c[c0 + j] += x0 * y;
                    c[c1 + j] += x1 * y;
                    c[c2 + j] += x2 * y;
                    c[c3 + j] += x3 * y;
                }
            }
        }
        for (; i < mc; i++) {
            int a0 = i * kc, c0 = ci + i * ldc;
            int p = 0;
            for (; p + 4 <= kc; p += 4) {
                float x0 = ap[a0 + p], x1 = ap[a0 + p + 1], x2 = ap[a0 + p + 2], x3 = ap[a0 + p + 3];
                int b0 = p * nc, b1 = b0 + nc, b2 = b1 + nc, b3 = b2 + nc;
                for (int j = 0; j < nc; j++)
                    c[c0 + j] += x0 * bp[b0 + j] + x1 * bp[b1 + j] + x2 * bp[b2 + j] + x3 * bp[b3 + j];
            }
            for (; p < kc; p++) {
                float x0 = ap[a0 + p];
                int b0 = p * nc;
                for (int j = 0; j < nc; j++) c[c0 + j] += x0 * bp[b0 + j];
            }
        }
    }
}
