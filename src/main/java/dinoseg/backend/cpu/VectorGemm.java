package dinoseg.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API ({@code jdk.incubator.vector}) GEMM of {@link CpuGemm}: a BLIS-style packed
 * product with a 6×(2 vectors) register-blocked micro-kernel.
 *
 * <p>Only {@link CpuGemm} touches this class, and only after it found the incubator module in the
 * boot layer, so a JVM started without {@code --add-modules jdk.incubator.vector} never loads it.
 *
 * <p>Per batch entry and per chunk of k (at most {@link #PACK_FLOATS} packed floats), two phases,
 * each one parallel loop over the shared pool:
 * <ol>
 *   <li><b>pack</b> alpha·op(A) into MR-row micro-panels and op(B) into NR-column micro-panels, each
 *       cut into KC-deep slabs and stored k-major ({@code ap[slab + r·kc·MR + p·MR + i]},
 *       {@code bp[slab + q·kc·NR + p·NR + j]}), zero-padded to whole micro-panels so the kernel never
 *       branches on edges. Every element of A and B is packed exactly once per call, whatever the
 *       transposes; the threads split the micro-panels between them.</li>
 *   <li><b>compute</b> C in tiles of a grid whose shape follows C's (about 3 tiles per thread, taller
 *       than wide when m ≫ n, wider when n ≫ m, so each tile re-reads little of the packed
 *       operands). In a tile, per slab and per MC-row block of A: for each B micro-panel (KC·NR
 *       floats, kept in L1), the A micro-panels of the block (in L2) stream by the micro-kernel.</li>
 * </ol>
 * The micro-kernel sums an MR×NR block of C in MR·NR/L vector registers (L = lanes of
 * {@link FloatVector#SPECIES_PREFERRED}: 16 with AVX-512, 8 with AVX2), per k step loads NR/L
 * vectors of B, broadcasts MR values of A and issues MR·NR/L fused multiply-adds, then adds the
 * block to C (loads of C that do not hold up the sums: with k in the tokens, C lives in L3).
 * The packing and the compute loop are separate methods per transpose, so how C2 compiles one
 * does not depend on which transposes ran first.
 *
 * <p>A frozen linear weight comes packed ({@link #packLinearWeight}, kept by {@link CpuStorage}):
 * {@link #gemmPackedB} then packs only A, each thread its own rows, with no phase boundary.
 */
final class VectorGemm {
    private VectorGemm() { }

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Lanes per vector. */
    static final int L = S.length();
    /**
     * Rows of the register tile: 6×2 accumulators + 2 B vectors + 1 broadcast fit the 16 AVX2
     * registers. (With JDK 17's C2, 8- and 12-row tiles ran 4-5× slower: their kernels are no
     * longer compiled to registers only.)
     */
    static final int MR = 6;
    /** Columns of the register tile: two vectors. */
    static final int NR = 2 * L;
    /** Depth of a packed slab: a B micro-panel (KC·NR floats, 32 KiB with AVX-512) stays in L1. */
    static final int KC = Math.max(1, Integer.getInteger("dinoseg.gemm.vkc", 256));
    /** Rows of A per block of a tile (a multiple of MR): MC·KC floats stay in L2. */
    static final int MC = roundUp(Integer.getInteger("dinoseg.gemm.vmc", 240), MR);
    /**
     * Largest packed A + B, in floats (default 4 Mi = 16 MiB; property dinoseg.gemm.packfloats): k
     * is cut into chunks of whole slabs so that (m + n)·chunk stays below this; when even one slab
     * is larger, C is cut in halves (rows or columns) until it fits or is one micro-panel wide.
     * The buffer belongs to the calling thread and is kept for its next call.
     */
    static final long PACK_FLOATS = Math.max(1, Long.getLong("dinoseg.gemm.packfloats", 1L << 22));

    private static int roundUp(int x, int q) { return Math.max(q, (x + q - 1) / q * q); }

    static String description() {
        return "vector " + MR + "x" + NR + " (" + S.vectorBitSize() + "-bit)";
    }

    /** Per-thread packing buffer (grown on demand) and the edge tile. */
    private static final class Buffers {
        float[] pack = new float[0];
        final float[] edge = new float[MR * NR];

        float[] pack(long floats) {
            if (pack.length < floats) pack = new float[Math.toIntExact(floats)];
            return pack;
        }
    }

    private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

    /**
     * C_i = alpha·op(A_i)·op(B_i) + beta·C_i for i in [0, batch), with the meaning of
     * {@link CpuGemm#gemm}: A stored k×m when transA, B stored n×k when transB, C not read when
     * beta == 0. {@code parallel} lets it use the shared pool (ignored inside the pool).
     */
    static void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                     float[] a, long offA, int lda, long strideA,
                     float[] b, long offB, int ldb, long strideB,
                     float beta, float[] c, long offC, int ldc, long strideC, int batch, boolean parallel) {
        gemm(transA, transB, m, n, k, alpha, a, offA, lda, strideA, b, offB, ldb, strideB,
                beta, c, offC, ldc, strideC, batch, parallel, PACK_FLOATS);
    }

    /** As above with the packing limit given (tests cut k into small chunks with it). */
    static void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                     float[] a, long offA, int lda, long strideA,
                     float[] b, long offB, int ldb, long strideB,
                     float beta, float[] c, long offC, int ldc, long strideC, int batch, boolean parallel,
                     long packFloats) {
        int threads = Parallel.THREADS;
        parallel &= threads > 1 && !Parallel.inPool() && 2L * m * n * Math.max(k, 1) * batch >= 2_000_000;
        if (parallel && batch > 1 && (batch % threads == 0 || batch >= 4 * threads)) {
            // whole entries per thread: nothing is shared, each packs into its own buffer
            Parallel.forChunks(batch, Math.min(batch, threads * 3), (from, to) -> {
                for (int bi = from; bi < to; bi++)
                    entry(transA, transB, m, n, k, alpha, a, offA + bi * strideA, lda, b, offB + bi * strideB, ldb,
                            beta, c, offC + bi * strideC, ldc, false, packFloats);
            });
            return;
        }
        for (int bi = 0; bi < batch; bi++)
            entry(transA, transB, m, n, k, alpha, a, offA + bi * strideA, lda, b, offB + bi * strideB, ldb,
                    beta, c, offC + bi * strideC, ldc, parallel, packFloats);
    }

    /** Tile grid {rows, columns} for C of m×n in about {@code want} tiles, shaped like C. */
    static int[] grid(int m, int n, int want) {
        int mp = (m + MR - 1) / MR, np = (n + NR - 1) / NR;
        int mt = (int) Math.round(Math.sqrt(want * (double) m / n));
        mt = Math.max(1, Math.min(Math.min(want, mp), mt));
        int nt = Math.max(1, Math.min(np, (want + mt - 1) / mt));
        return new int[] {mt, nt};
    }

    /**
     * A linear weight w [n, k] (row-major, as {@code F.linear} takes it) packed once as the B operand
     * of y = x·wᵀ: B = wᵀ in NR-column micro-panels and KC-deep slabs, exactly as {@link #packBT}
     * lays out op(B) for the whole depth ({@code panels[pc·npad + q·kc·NR + p·NR + j]}), so
     * {@link #gemmPackedB} skips packing B (ONNX Runtime's MLAS prepacks constant weights the same
     * way). {@code n·k} must be w's length.
     */
    static float[] packLinearWeight(float[] w, int n, int k) {
        int np = (n + NR - 1) / NR;
        float[] panels = new float[Math.toIntExact((long) np * NR * k)];
        packBT(w, 0, k, n, 0, k, panels, 0, np * NR, 0, np);
        return panels;
    }

    /** Whether {@link #gemmPackedB} splits an m-row product among the threads as well as the unpacked path does. */
    static boolean packedBFits(int m) {
        return (m + MR - 1) / MR >= 2 * Parallel.THREADS;
    }

    /**
     * C = alpha·op(A)·B + beta·C (batch 1) with B given as {@link #packLinearWeight}'s panels of w
     * [n, k] (B = wᵀ): the same sums in the same order as {@link #gemm} with B = w transposed, so
     * the same bits. C is cut into row pieces of at most about MC rows, a multiple of the thread
     * count; each thread packs its piece's rows of A, slab by slab, into its own buffer and runs the
     * micro-kernel over all of B. Nothing is shared but B, which no one writes: no hand-off between
     * a packing and a compute phase, and A's rows stay in the cache of the thread that packed them.
     */
    static void gemmPackedB(boolean transA, int m, int n, int k, float alpha, float[] a, long offA, int lda,
                            float[] bp, float beta, float[] c, long offC, int ldc, boolean parallel) {
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0f) {
            scale(beta, c, offC, ldc, 0, m, 0, n);
            return;
        }
        int mp = (m + MR - 1) / MR, npad = (n + NR - 1) / NR * NR;
        if ((long) npad * k != bp.length) throw new IllegalArgumentException("gemm: packed B holds " + bp.length + " floats, not " + npad + "x" + k);
        int threads = parallel && !Parallel.inPool() && 2L * m * n * k >= 2_000_000 ? Parallel.THREADS : 1;
        int pieces = Math.min(mp, threads == 1 ? 1 : roundUp((m + MC - 1) / MC, threads));
        Parallel.Range body = (u0, u1) -> {
            Buffers bf = BUFFERS.get();
            for (int u = u0; u < u1; u++) {
                int r0 = (int) ((long) mp * u / pieces), r1 = (int) ((long) mp * (u + 1) / pieces);
                int i0 = r0 * MR, rows = Math.min(m, r1 * MR) - i0, lpad = (r1 - r0) * MR;
                long oa = transA ? offA + i0 : offA + (long) i0 * lda, oc = offC + (long) i0 * ldc;
                float[] ap = bf.pack((long) lpad * Math.min(k, KC));
                scale(beta, c, oc, ldc, 0, rows, 0, n);
                for (int pc = 0; pc < k; pc += KC) {
                    int kc = Math.min(KC, k - pc);
                    if (transA) packAT(a, oa, lda, rows, pc, kc, alpha, ap, lpad, 0, r1 - r0);
                    else packAN(a, oa, lda, rows, pc, kc, alpha, ap, lpad, 0, r1 - r0);
                    tile(ap, lpad, bp, pc * npad, npad, kc, 0, rows, 0, n, c, oc, ldc, bf.edge);
                }
            }
        };
        if (pieces > 1) Parallel.forChunks(pieces, pieces, body);
        else body.run(0, 1);
    }

    /** One product C = alpha·op(A)·op(B) + beta·C. */
    private static void entry(boolean transA, boolean transB, int m, int n, int k, float alpha,
                              float[] a, long offA, int lda, float[] b, long offB, int ldb,
                              float beta, float[] c, long offC, int ldc, boolean parallel, long packFloats) {
        if (k == 0 || alpha == 0f) {
            scale(beta, c, offC, ldc, 0, m, 0, n);
            return;
        }
        int mp = (m + MR - 1) / MR, np = (n + NR - 1) / NR;
        long mpad = (long) mp * MR, npad = (long) np * NR;
        if ((mpad + npad) * Math.min(k, KC) > packFloats && (mp > 1 || np > 1)) {
            // even one slab of A and B is over the limit: C in two halves, cut across its longer side
            if (np == 1 || (mp > 1 && mpad >= npad)) {
                int h = (mp + 1) / 2 * MR;
                entry(transA, transB, h, n, k, alpha, a, offA, lda, b, offB, ldb, beta, c, offC, ldc, parallel, packFloats);
                entry(transA, transB, m - h, n, k, alpha, a, offA + (transA ? h : (long) h * lda), lda, b, offB, ldb,
                        beta, c, offC + (long) h * ldc, ldc, parallel, packFloats);
            } else {
                int w = (np + 1) / 2 * NR;
                entry(transA, transB, m, w, k, alpha, a, offA, lda, b, offB, ldb, beta, c, offC, ldc, parallel, packFloats);
                entry(transA, transB, m, n - w, k, alpha, a, offA, lda, b, offB + (transB ? (long) w * ldb : w), ldb,
                        beta, c, offC + w, ldc, parallel, packFloats);
            }
            return;
        }
        int chunk = (int) Math.min(k, Math.max(1, packFloats / (mpad + npad) / KC) * KC);
        float[] buf = BUFFERS.get().pack((mpad + npad) * chunk);
        int threads = parallel ? Parallel.THREADS : 1;
        long flops = 2L * m * n * k;
        int want = threads > 1 && flops >= 2_000_000 ? threads * 3 : 1;
        int[] g = grid(m, n, want);
        int mt = g[0], nt = g[1], tiles = mt * nt;
        for (int k0 = 0; k0 < k; k0 += chunk) {
            final int kl = Math.min(chunk, k - k0), kk0 = k0;
            final int bBase = Math.toIntExact(mpad * kl);
            final boolean first = k0 == 0;
            int packs = Math.min(threads * 2, Math.max(mp, np));
            Parallel.Range pack = (u0, u1) -> {
                for (int u = u0; u < u1; u++) {
                    int r0 = (int) ((long) mp * u / packs), r1 = (int) ((long) mp * (u + 1) / packs);
                    int q0 = (int) ((long) np * u / packs), q1 = (int) ((long) np * (u + 1) / packs);
                    if (transA) packAT(a, offA, lda, m, kk0, kl, alpha, buf, (int) mpad, r0, r1);
                    else packAN(a, offA, lda, m, kk0, kl, alpha, buf, (int) mpad, r0, r1);
                    if (transB) packBT(b, offB, ldb, n, kk0, kl, buf, bBase, (int) npad, q0, q1);
                    else packBN(b, offB, ldb, n, kk0, kl, buf, bBase, (int) npad, q0, q1);
                }
            };
            if (threads > 1 && packs > 1) Parallel.forChunks(packs, packs, pack);
            else pack.run(0, packs);
            Parallel.Range compute = (t0, t1) -> {
                float[] edge = BUFFERS.get().edge;
                for (int t = t0; t < t1; t++) {
                    int mi = t / nt, ni = t % nt;
                    int i0 = CpuGemm.cut(m, mi, mt, MR), i1 = CpuGemm.cut(m, mi + 1, mt, MR);
                    int j0 = CpuGemm.cut(n, ni, nt, NR), j1 = CpuGemm.cut(n, ni + 1, nt, NR);
                    if (i1 <= i0 || j1 <= j0) continue;
                    if (first) scale(beta, c, offC, ldc, i0, i1, j0, j1);
                    tile(buf, (int) mpad, buf, bBase, (int) npad, kl, i0, i1, j0, j1, c, offC, ldc, edge);
                }
            };
            if (tiles > 1) Parallel.forChunks(tiles, tiles, compute);
            else compute.run(0, 1);
        }
    }

    /** C[i0..i1, j0..j1] *= beta, or = 0 without reading C when beta == 0. */
    private static void scale(float beta, float[] c, long offC, int ldc, int i0, int i1, int j0, int j1) {
        if (beta == 1f) return;
        int w = j1 - j0;
        for (int i = i0; i < i1; i++) {
            int base = Math.toIntExact(offC + (long) i * ldc + j0);
            if (beta == 0f) java.util.Arrays.fill(c, base, base + w, 0f);
            else for (int j = 0; j < w; j++) c[base + j] *= beta;
        }
    }

    /**
     * A stored m×k (row i at offA + i·lda): micro-panels r0..r1 of the chunk [k0, k0+kl), into
     * buf[pc·mpad + r·kc·MR + p·MR + i] = alpha·A[r·MR+i][k0+pc+p], zero past m.
     */
    private static void packAN(float[] a, long offA, int lda, int m, int k0, int kl, float alpha,
                               float[] buf, int mpad, int r0, int r1) {
        for (int pc = 0; pc < kl; pc += KC) {
            int kc = Math.min(KC, kl - pc);
            for (int r = r0; r < r1; r++) {
                int i0 = r * MR, h = Math.min(MR, m - i0);
                int base = pc * mpad + r * kc * MR;
                for (int i = 0; i < h; i++) {
                    int src = Math.toIntExact(offA + (long) (i0 + i) * lda + k0 + pc);
                    for (int p = 0, dst = base + i; p < kc; p++, dst += MR) buf[dst] = alpha * a[src + p];
                }
                for (int i = h; i < MR; i++)
                    for (int p = 0, dst = base + i; p < kc; p++, dst += MR) buf[dst] = 0f;
            }
        }
    }

    /** As {@link #packAN} with A stored k×m (op(A)[i][p] = A[p][i]): rows of A are read along i. */
    private static void packAT(float[] a, long offA, int lda, int m, int k0, int kl, float alpha,
                               float[] buf, int mpad, int r0, int r1) {
        for (int pc = 0; pc < kl; pc += KC) {
            int kc = Math.min(KC, kl - pc);
            for (int p = 0; p < kc; p++) {
                int src = Math.toIntExact(offA + (long) (k0 + pc + p) * lda);
                for (int r = r0; r < r1; r++) {
                    int i0 = r * MR, h = Math.min(MR, m - i0);
                    int dst = pc * mpad + r * kc * MR + p * MR;
                    for (int i = 0; i < h; i++) buf[dst + i] = alpha * a[src + i0 + i];
                    for (int i = h; i < MR; i++) buf[dst + i] = 0f;
                }
            }
        }
    }

    /**
     * B stored k×n (row p at offB + p·ldb): micro-panels q0..q1 of the chunk [k0, k0+kl), into
     * buf[bBase + pc·npad + q·kc·NR + p·NR + j] = B[k0+pc+p][q·NR+j], zero past n.
     */
    private static void packBN(float[] b, long offB, int ldb, int n, int k0, int kl,
                               float[] buf, int bBase, int npad, int q0, int q1) {
        for (int pc = 0; pc < kl; pc += KC) {
            int kc = Math.min(KC, kl - pc);
            for (int p = 0; p < kc; p++) {
                int src = Math.toIntExact(offB + (long) (k0 + pc + p) * ldb);
                for (int q = q0; q < q1; q++) {
                    int j0 = q * NR, w = Math.min(NR, n - j0);
                    int dst = bBase + pc * npad + q * kc * NR + p * NR;
                    System.arraycopy(b, src + j0, buf, dst, w);
                    if (w < NR) java.util.Arrays.fill(buf, dst + w, dst + NR, 0f);
                }
            }
        }
    }

    /** As {@link #packBN} with B stored n×k (op(B)[p][j] = B[j][p]): each row of B is read along p. */
    private static void packBT(float[] b, long offB, int ldb, int n, int k0, int kl,
                               float[] buf, int bBase, int npad, int q0, int q1) {
        for (int pc = 0; pc < kl; pc += KC) {
            int kc = Math.min(KC, kl - pc);
            for (int q = q0; q < q1; q++) {
                int j0 = q * NR, w = Math.min(NR, n - j0);
                int base = bBase + pc * npad + q * kc * NR;
                for (int j = 0; j < w; j++) {
                    int src = Math.toIntExact(offB + (long) (j0 + j) * ldb + k0 + pc);
                    for (int p = 0, dst = base + j; p < kc; p++, dst += NR) buf[dst] = b[src + p];
                }
                for (int j = w; j < NR; j++)
                    for (int p = 0, dst = base + j; p < kc; p++, dst += NR) buf[dst] = 0f;
            }
        }
    }

    /**
     * C[i0..i1, j0..j1] += packed A rows (in ap from 0, mpad rows per slab) × packed B columns (in bp
     * from bBase, npad columns per slab) over the chunk (depth kl); i0 is a multiple of MR and j0 of NR.
     */
    private static void tile(float[] ap, int mpad, float[] bp, int bBase, int npad, int kl, int i0, int i1, int j0, int j1,
                             float[] c, long offC, int ldc, float[] edge) {
        for (int pc = 0; pc < kl; pc += KC) {
            int kc = Math.min(KC, kl - pc);
            int aSlab = pc * mpad, bSlab = bBase + pc * npad;
            for (int ic = i0; ic < i1; ic += MC) {
                int ie = Math.min(i1, ic + MC);
                for (int jr = j0; jr < j1; jr += NR) {
                    int nr = Math.min(NR, j1 - jr);
                    int bo = bSlab + (jr / NR) * kc * NR;
                    for (int ir = ic; ir < ie; ir += MR) {
                        int mr = Math.min(MR, ie - ir);
                        int ao = aSlab + (ir / MR) * kc * MR;
                        int ci = Math.toIntExact(offC + (long) ir * ldc + jr);
                        if (mr == MR && nr == NR) {
                            kernel(ap, ao, bp, bo, kc, c, ci, ldc);
                        } else {
                            java.util.Arrays.fill(edge, 0f);
                            kernel(ap, ao, bp, bo, kc, edge, 0, NR);
                            for (int r = 0; r < mr; r++)
                                for (int j = 0; j < nr; j++) c[ci + r * ldc + j] += edge[r * NR + j];
                        }
                    }
                }
            }
        }
    }

    /** C[ci + r*ldc + j] += sum_p ap[ao + p*6 + r]·bp[bo + p*NR + j] for the full 6×NR tile. */
    private static void kernel(float[] ap, int ao, float[] bp, int bo, int kc, float[] c, int ci, int ldc) {
        FloatVector z = FloatVector.zero(S);
        FloatVector c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
        FloatVector c40 = z, c41 = z, c50 = z, c51 = z;
        for (int p = 0; p < kc; p++, ao += 6, bo += NR) {
            FloatVector b0 = FloatVector.fromArray(S, bp, bo), b1 = FloatVector.fromArray(S, bp, bo + L);
            FloatVector x = FloatVector.broadcast(S, ap[ao]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, ap[ao + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, ap[ao + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, ap[ao + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, ap[ao + 4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, ap[ao + 5]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
        }
        // written out, not through a helper taking FloatVectors: where C2 does not inline such a call
        // (seen on JDK 17 within bench's full model), it boxes every vector it passes
        FloatVector.fromArray(S, c, ci).add(c00).intoArray(c, ci);
        FloatVector.fromArray(S, c, ci + L).add(c01).intoArray(c, ci + L);
        FloatVector.fromArray(S, c, ci + ldc).add(c10).intoArray(c, ci + ldc);
        FloatVector.fromArray(S, c, ci + ldc + L).add(c11).intoArray(c, ci + ldc + L);
        FloatVector.fromArray(S, c, ci + 2 * ldc).add(c20).intoArray(c, ci + 2 * ldc);
        FloatVector.fromArray(S, c, ci + 2 * ldc + L).add(c21).intoArray(c, ci + 2 * ldc + L);
        FloatVector.fromArray(S, c, ci + 3 * ldc).add(c30).intoArray(c, ci + 3 * ldc);
        FloatVector.fromArray(S, c, ci + 3 * ldc + L).add(c31).intoArray(c, ci + 3 * ldc + L);
        FloatVector.fromArray(S, c, ci + 4 * ldc).add(c40).intoArray(c, ci + 4 * ldc);
        FloatVector.fromArray(S, c, ci + 4 * ldc + L).add(c41).intoArray(c, ci + 4 * ldc + L);
        FloatVector.fromArray(S, c, ci + 5 * ldc).add(c50).intoArray(c, ci + 5 * ldc);
        FloatVector.fromArray(S, c, ci + 5 * ldc + L).add(c51).intoArray(c, ci + 5 * ldc + L);
    }
}
