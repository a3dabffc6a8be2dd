package dinoseg.backend.cpu;

import java.lang.management.ManagementFactory;

/**
 * Blocked, packed single-precision GEMM with two micro-kernels.
 *
 * <p>When the JVM runs with {@code --add-modules jdk.incubator.vector} (the CLI relaunches itself
 * so; Maven's tests and {@code tools/bench_gemm.sh} pass it) tiles go to {@link VectorGemm}, a
 * 6×(2 vectors) register-blocked Vector API kernel, which also does its own packing and
 * splitting (A and B packed once per call and shared by the threads; see there). Otherwise the
 * scalar kernel below runs; it is kept as the fallback and is tested as much as the vector one
 * ({@code CpuGemmScalarTest}). {@link #kernelName()} says which is active.
 *
 * <p>Scalar path: work is split into tiles of C (batch × row chunks × column chunks), one pool task per few
 * tiles. Inside a tile, columns are cut into NC-wide panels and k into KC-deep slabs; the slab of
 * op(B) is packed as KC separate row arrays and alpha·op(A) (MC×KC) row-major, so the kernel reads
 * both contiguously whatever the transposes, leading dimensions and offsets.
 *
 * <p>The scalar micro-kernel builds one row of C in an NC-float accumulator, four k-steps per pass:
 * {@code acc[j] += a0*b0[j] + a1*b1[j] + a2*b2[j] + a3*b3[j]}. C2 (JDK 17) only vectorises a loop
 * whose arrays are all indexed by the bare counter and whose body is small enough to unroll, which
 * rules out register tiles over several rows; this 5-load form is the largest that still becomes
 * AVX2/AVX-512 code. ROWS rows of C take turns on the same four B rows (so those come from L2 once
 * per ROWS rows and then from L1); each accumulator is added to C once per slab.
 *
 * <p>Block sizes (tuned on a 2-core AVX-512 EPYC; the system properties dinoseg.gemm.mc/kc/nc/rows
 * override them): a KC×NC slab of B (256 KiB) stays in L2, ROWS accumulators plus four B rows
 * (16 KiB) in L1.
 */
final class CpuGemm {
    private CpuGemm() { }

    /** Name of the incubating Vector API module that {@link VectorGemm} needs. */
    static final String VECTOR_MODULE = "jdk.incubator.vector";

    /**
     * Whether the JIT emits fused multiply-adds (HotSpot's UseFMA: the CPU has FMA and AVX is on).
     * Without them a Vector API {@code fma} falls back to a slow software path, so the vector
     * kernels are not used. (A multiply-then-add variant of the kernel is no way out on JDK 17:
     * the extra bytecode pushes the kernel past C2's inlining budget and its vectors get boxed.)
     * Assumed true when the flag cannot be read.
     */
    static final boolean HARDWARE_FMA = probeFma();

    /**
     * True when the Vector API kernel ({@link VectorGemm}) can run: its module is in the boot layer
     * (the JVM was started with {@code --add-modules jdk.incubator.vector}), the JIT emits FMA
     * instructions ({@link #HARDWARE_FMA}) and the class links.
     * The property {@code dinoseg.gemm.scalar=true} forces the scalar kernel.
     */
    static final boolean VECTOR_AVAILABLE = probeVector();

    private static boolean probeFma() {
        try {
            return !"false".equals(ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class)
                    .getVMOption("UseFMA").getValue());
        } catch (LinkageError | RuntimeException e) {
            return true;
        }
    }

    private static boolean probeVector() {
        if (Boolean.getBoolean("dinoseg.gemm.scalar")) return false;
        if (ModuleLayer.boot().findModule(VECTOR_MODULE).isEmpty()) return false;
        if (!HARDWARE_FMA) return false;
        try {
            // loads and initialises VectorGemm only now that the module is known to be there
            if (VectorGemm.L < 4) return false;
            VectorOpCaches.fill();   // before any kernel runs: see VectorOpCaches
            return true;
        } catch (LinkageError | RuntimeException e) {
            return false;
        }
    }

    /** Which micro-kernel {@code gemm(..., vector)} uses: the Vector API one or the scalar fallback. */
    static String kernelName(boolean vector) {
        return vector ? VectorGemm.description() : "scalar " + ROWS + "-row";
    }

    /** The kernel the default CPU backend uses. */
    static String kernelName() { return kernelName(VECTOR_AVAILABLE); }

    /** Rows of A packed per block. */
    static final int MC = Integer.getInteger("dinoseg.gemm.mc", 128);
    /** Depth of a packed slab: KC rows of B, each NC wide, stay in L1/L2 while a block of A streams by. */
    static final int KC = Integer.getInteger("dinoseg.gemm.kc", 128);
    /** Width of a packed B panel. */
    static final int NC = Integer.getInteger("dinoseg.gemm.nc", 512);

    /** Per-thread packing buffers: B slab as separate row arrays, packed A block, one C row accumulator. */
    private static final class Buffers {
        final float[][] bRows = new float[KC][NC];
        final float[] ap = new float[MC * KC];
        final float[][] acc = new float[ROWS][NC];
    }

    /** Rows of C built together, so each group of four B rows is read from L2 once per ROWS rows. */
    static final int ROWS = Integer.getInteger("dinoseg.gemm.rows", 4);

    private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

    static void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                     float[] a, long offA, int lda, long strideA,
                     float[] b, long offB, int ldb, long strideB,
                     float beta, float[] c, long offC, int ldc, long strideC, int batch) {
        gemm(transA, transB, m, n, k, alpha, a, offA, lda, strideA, b, offB, ldb, strideB,
                beta, c, offC, ldc, strideC, batch, VECTOR_AVAILABLE);
    }

    /** As above with the kernel chosen explicitly; {@code vector} requires {@link #VECTOR_AVAILABLE}. */
    static void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                     float[] a, long offA, int lda, long strideA,
                     float[] b, long offB, int ldb, long strideB,
                     float beta, float[] c, long offC, int ldc, long strideC, int batch, boolean vector) {
        if (vector && !VECTOR_AVAILABLE) throw new IllegalStateException("gemm: the Vector API kernel is not available");
        if (m == 0 || n == 0 || batch == 0) return;
        if (vector) {
            VectorGemm.gemm(transA, transB, m, n, k, alpha, a, offA, lda, strideA, b, offB, ldb, strideB,
                    beta, c, offC, ldc, strideC, batch, true);
            return;
        }
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
            Buffers buf = BUFFERS.get();
            for (int t = t0; t < t1; t++) {
                int bi = t / (fmt * fnt);
                int r = t % (fmt * fnt);
                int mi = r / fnt, ni = r % fnt;
                int i0 = cut(m, mi, fmt, 1), i1 = cut(m, mi + 1, fmt, 1);
                int j0 = cut(n, ni, fnt, 1), j1 = cut(n, ni + 1, fnt, 1);
                tile(transA, transB, i0, i1, j0, j1, k, alpha,
                        a, offA + bi * strideA, lda, b, offB + bi * strideB, ldb,
                        beta, c, offC + bi * strideC, ldc, buf);
            }
        };
        if (tiles == 1) body.run(0, 1);
        else Parallel.forChunks(tiles, Math.min(tiles, threads * 3), body);
    }

    /** Start of piece {@code i} of {@code parts} of [0, m), rounded down to a multiple of align (piece parts ends at m). */
    static int cut(int m, int i, int parts, int align) {
        if (i >= parts) return m;
        int x = (int) ((long) m * i / parts);
        return x / align * align;
    }

    private static void tile(boolean transA, boolean transB, int i0, int i1, int j0, int j1, int k, float alpha,
                             float[] a, long offA, int lda, float[] b, long offB, int ldb,
                             float beta, float[] c, long offC, int ldc, Buffers buf) {
        int w = j1 - j0;
        if (w <= 0 || i1 <= i0) return;
        // C = beta * C (C not read when beta == 0)
        for (int i = i0; i < i1; i++) {
            int base = Math.toIntExact(offC + (long) i * ldc + j0);
            if (beta == 0f) java.util.Arrays.fill(c, base, base + w, 0f);
            else if (beta != 1f) for (int j = 0; j < w; j++) c[base + j] *= beta;
        }
        if (k == 0 || alpha == 0f) return;
        for (int jc = j0; jc < j1; jc += NC) {
            int nc = Math.min(NC, j1 - jc);
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                packB(transB, b, offB, ldb, pc, kc, jc, nc, buf.bRows);
                for (int ic = i0; ic < i1; ic += MC) {
                    int mc = Math.min(MC, i1 - ic);
                    packA(transA, a, offA, lda, ic, mc, pc, kc, alpha, buf.ap);
                    for (int i = 0; i < mc; i += ROWS)
                        rowsKernel(buf.ap, i, Math.min(ROWS, mc - i), kc, buf.bRows, nc, buf.acc, c,
                                Math.toIntExact(offC + (long) (ic + i) * ldc + jc), ldc);
                }
            }
        }
    }

    /** bRows[p][j] = op(B)[pc+p][jc+j]. */
    private static void packB(boolean transB, float[] b, long offB, int ldb, int pc, int kc, int jc, int nc, float[][] bRows) {
        if (!transB) {
            for (int p = 0; p < kc; p++) {
                int src = Math.toIntExact(offB + (long) (pc + p) * ldb + jc);
                System.arraycopy(b, src, bRows[p], 0, nc);
            }
        } else {
            // B stored n×k: op(B)[p][j] = B[j][p]; 16 columns at a time so reads stream along 16 rows of B
            for (int j0 = 0; j0 < nc; j0 += 16) {
                int j1 = Math.min(nc, j0 + 16);
                int src0 = Math.toIntExact(offB + (long) (jc + j0) * ldb + pc);
                for (int p = 0; p < kc; p++) {
                    float[] dst = bRows[p];
                    int src = src0 + p;
                    for (int j = j0; j < j1; j++, src += ldb) dst[j] = b[src];
                }
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
            // A stored k×m: op(A)[i][p] = A[p][i]; 16 rows of op(A) at a time
            for (int i0 = 0; i0 < mc; i0 += 16) {
                int i1 = Math.min(mc, i0 + 16);
                for (int p = 0; p < kc; p++) {
                    int src = Math.toIntExact(offA + (long) (pc + p) * lda + ic);
                    for (int i = i0; i < i1; i++) ap[i * kc + p] = alpha * a[src + i];
                }
            }
        }
    }

    /**
     * Rows i0..i0+rows of the packed block into C: c[ci + r*ldc + j] += sum_p ap[(i0+r)*kc + p] * bRows[p][j].
     * Each row is summed in its own accumulator, four k-steps per {@link RowOps#madd4} pass; the
     * rows take turns on the same four B rows while those are in L1. Every array in the inner
     * loops is indexed by the bare counter, the form C2's superword pass vectorises.
     */
    static void rowsKernel(float[] ap, int i0, int rows, int kc, float[][] bRows, int nc, float[][] acc,
                           float[] c, int ci, int ldc) {
        int p = 0;
        if (kc >= 4) {
            for (int r = 0; r < rows; r++) {
                int ao = (i0 + r) * kc;
                RowOps.set4(acc[r], bRows[0], bRows[1], bRows[2], bRows[3], ap[ao], ap[ao + 1], ap[ao + 2], ap[ao + 3], nc);
            }
            p = 4;
        } else {
            for (int r = 0; r < rows; r++) java.util.Arrays.fill(acc[r], 0, nc, 0f);
        }
        for (; p + 4 <= kc; p += 4) {
            float[] b0 = bRows[p], b1 = bRows[p + 1], b2 = bRows[p + 2], b3 = bRows[p + 3];
            for (int r = 0; r < rows; r++) {
                int ao = (i0 + r) * kc + p;
                RowOps.madd4(acc[r], b0, b1, b2, b3, ap[ao], ap[ao + 1], ap[ao + 2], ap[ao + 3], nc);
            }
        }
        for (; p < kc; p++)
            for (int r = 0; r < rows; r++) RowOps.madd1(acc[r], bRows[p], ap[(i0 + r) * kc + p], nc);
        for (int r = 0; r < rows; r++) {
            float[] ar = acc[r];
            int o = ci + r * ldc;
            for (int j = 0; j < nc; j++) c[o + j] += ar[j];
        }
    }
}
