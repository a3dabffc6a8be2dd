package dinoseg.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register-blocked GEMM tile of {@link CpuGemm} on the Vector API ({@code jdk.incubator.vector}).
 *
 * <p>Only {@link CpuGemm} touches this class, and only after it found the incubator module in the
 * boot layer, so a JVM started without {@code --add-modules jdk.incubator.vector} never loads it.
 *
 * <p>Layout (BLIS-style): for each NC-wide panel of C's columns and each KC-deep slab of k, op(B)
 * is packed into NR-column micro-panels stored k-major ({@code bp[q*kc*NR + p*NR + j]}), then for
 * each MC-row block alpha·op(A) is packed into MR-row micro-panels, also k-major
 * ({@code ap[r*kc*MR + p*MR + i]}); both are zero-padded to whole micro-panels so the kernel never
 * branches on edges. The micro-kernel keeps an MR×NR block of C in MR·NR/L vector registers
 * (L = lanes of {@link FloatVector#SPECIES_PREFERRED}: 16 with AVX-512, 8 with AVX2) and per k step
 * loads NR/L vectors of B, broadcasts MR values of A and issues MR·NR/L fused multiply-adds. The
 * B micro-panel (KC·NR floats) stays in L1 while the A micro-panels of the block stream from L2.
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
    /** Depth of a packed slab. */
    static final int KC = Integer.getInteger("dinoseg.gemm.vkc", 256);
    /** Rows of A packed per block (a multiple of MR). */
    static final int MC = roundUp(Integer.getInteger("dinoseg.gemm.vmc", 240), MR);
    /** Columns of B packed per panel (a multiple of NR). */
    static final int NC = roundUp(Integer.getInteger("dinoseg.gemm.vnc", 1024), NR);

    private static int roundUp(int x, int q) { return Math.max(q, (x + q - 1) / q * q); }

    static String description() {
        return "vector " + MR + "x" + NR + " (" + S.vectorBitSize() + "-bit)";
    }

    /** Per-thread packing buffers and the edge tile. */
    private static final class Buffers {
        final float[] bp = new float[KC * NC];
        final float[] ap = new float[MC * KC];
        final float[] edge = new float[MR * NR];
    }

    private static final ThreadLocal<Buffers> BUFFERS = ThreadLocal.withInitial(Buffers::new);

    /** C[i0..i1, j0..j1] += alpha·op(A)·op(B) (C already scaled by beta), k ≥ 1. */
    static void tile(boolean transA, boolean transB, int i0, int i1, int j0, int j1, int k, float alpha,
                     float[] a, long offA, int lda, float[] b, long offB, int ldb,
                     float[] c, long offC, int ldc) {
        Buffers buf = BUFFERS.get();
        for (int jc = j0; jc < j1; jc += NC) {
            int nc = Math.min(NC, j1 - jc);
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                packB(transB, b, offB, ldb, pc, kc, jc, nc, buf.bp);
                for (int ic = i0; ic < i1; ic += MC) {
                    int mc = Math.min(MC, i1 - ic);
                    packA(transA, a, offA, lda, ic, mc, pc, kc, alpha, buf.ap);
                    for (int jr = 0; jr < nc; jr += NR) {
                        int nr = Math.min(NR, nc - jr);
                        int bo = (jr / NR) * kc * NR;
                        for (int ir = 0; ir < mc; ir += MR) {
                            int mr = Math.min(MR, mc - ir);
                            int ao = (ir / MR) * kc * MR;
                            int ci = Math.toIntExact(offC + (long) (ic + ir) * ldc + jc + jr);
                            if (mr == MR && nr == NR) {
                                kernel(buf.ap, ao, buf.bp, bo, kc, c, ci, ldc);
                            } else {
                                float[] e = buf.edge;
                                java.util.Arrays.fill(e, 0f);
                                kernel(buf.ap, ao, buf.bp, bo, kc, e, 0, NR);
                                for (int r = 0; r < mr; r++)
                                    for (int j = 0; j < nr; j++) c[ci + r * ldc + j] += e[r * NR + j];
                            }
                        }
                    }
                }
            }
        }
    }

    /** bp[q*kc*NR + p*NR + j] = op(B)[pc+p][jc+q*NR+j], zero past nc. */
    private static void packB(boolean transB, float[] b, long offB, int ldb, int pc, int kc, int jc, int nc, float[] bp) {
        for (int q = 0; q * NR < nc; q++) {
            int j0 = q * NR, w = Math.min(NR, nc - j0);
            int base = q * kc * NR;
            if (!transB) {
                for (int p = 0; p < kc; p++) {
                    int src = Math.toIntExact(offB + (long) (pc + p) * ldb + jc + j0);
                    int dst = base + p * NR;
                    System.arraycopy(b, src, bp, dst, w);
                    if (w < NR) java.util.Arrays.fill(bp, dst + w, dst + NR, 0f);
                }
            } else {
                // B stored n×k: op(B)[p][j] = B[j][p]; walk each of the w rows of B along p
                for (int j = 0; j < w; j++) {
                    int src = Math.toIntExact(offB + (long) (jc + j0 + j) * ldb + pc);
                    for (int p = 0, dst = base + j; p < kc; p++, dst += NR) bp[dst] = b[src + p];
                }
                if (w < NR)
                    for (int p = 0; p < kc; p++) java.util.Arrays.fill(bp, base + p * NR + w, base + p * NR + NR, 0f);
            }
        }
    }

    /** ap[r*kc*MR + p*MR + i] = alpha·op(A)[ic+r*MR+i][pc+p], zero past mc. */
    private static void packA(boolean transA, float[] a, long offA, int lda, int ic, int mc, int pc, int kc,
                              float alpha, float[] ap) {
        for (int r = 0; r * MR < mc; r++) {
            int i0 = r * MR, h = Math.min(MR, mc - i0);
            int base = r * kc * MR;
            if (!transA) {
                for (int i = 0; i < h; i++) {
                    int src = Math.toIntExact(offA + (long) (ic + i0 + i) * lda + pc);
                    for (int p = 0, dst = base + i; p < kc; p++, dst += MR) ap[dst] = alpha * a[src + p];
                }
            } else {
                // A stored k×m: op(A)[i][p] = A[p][i], rows of A are contiguous in i
                for (int p = 0; p < kc; p++) {
                    int src = Math.toIntExact(offA + (long) (pc + p) * lda + ic + i0);
                    int dst = base + p * MR;
                    for (int i = 0; i < h; i++) ap[dst + i] = alpha * a[src + i];
                }
            }
            if (h < MR)
                for (int p = 0; p < kc; p++) java.util.Arrays.fill(ap, base + p * MR + h, base + p * MR + MR, 0f);
        }
    }

    private static void add(float[] c, int o, FloatVector v0, FloatVector v1) {
        FloatVector.fromArray(S, c, o).add(v0).intoArray(c, o);
        FloatVector.fromArray(S, c, o + L).add(v1).intoArray(c, o + L);
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
        add(c, ci, c00, c01); add(c, ci + ldc, c10, c11);
        add(c, ci + 2 * ldc, c20, c21); add(c, ci + 3 * ldc, c30, c31);
        add(c, ci + 4 * ldc, c40, c41); add(c, ci + 5 * ldc, c50, c51);
    }
}
