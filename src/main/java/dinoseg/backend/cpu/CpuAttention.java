package dinoseg.backend.cpu;

import java.util.Arrays;

/**
 * Flash-attention on the CPU over DINOv2's packed qkv layout.
 *
 * <p>qkv is [B, N, 3·H·D] with (3, H, D) along the last axis; out is [B, N, H·D]; lse is [B, H, N].
 * The forward takes one (batch, head, query block) per task and streams key/value blocks through an
 * online softmax (running max and running sum), so only BQ×BK scores exist at a time. The backward
 * is FlashAttention-2: per (batch, head), D_i = rowsum(dO_i ∘ O_i); for every key block the
 * probabilities are recomputed from the saved log-sum-exp, dV and dK accumulate for that block and
 * dQ accumulates across blocks in a scratch of N×D per head.
 *
 * <p>In fp32 with the Vector API present, {@link VectorAttention} runs instead (register-tiled
 * micro-kernels, same layout and results to float rounding). The code here is the fallback without
 * the Vector API and the bf16 arithmetic of the CUDA tensor-core kernels.
 *
 * <p>Every product here is a {@link RowOps} loop the JIT vectorises, and the operands are laid out
 * (transposed where needed: Kᵀ, Vᵀ, Qᵀ, dOᵀ, scores as [key][query] in the forward) so that those
 * loops run over a block of 128 tokens rather than over the 64 channels of a head.
 */
final class CpuAttention {
    private CpuAttention() { }

    static final int BQ = 128;
    static final int BK = 128;

    /** Forward scratch of one thread. */
    private static final class Fwd {
        final int d;
        final float[][] qT, k, vT, sT, accT;
        final float[] m = new float[BQ], mNew = new float[BQ], l = new float[BQ], corr = new float[BQ], sum = new float[BQ];

        Fwd(int d) {
            this.d = d;
            qT = new float[d][BQ];
            accT = new float[d][BQ];
            vT = new float[d][BK];
            k = new float[BK][d];
            sT = new float[BK][BQ];
        }
    }

    /** Backward scratch of one thread (block-sized; the per-head arrays are allocated per task chunk). */
    private static final class Bwd {
        final int d;
        final float[][] kT, vT, dKT, dVT, s, dP, dsT;

        Bwd(int d) {
            this.d = d;
            kT = new float[d][BK]; vT = new float[d][BK]; dKT = new float[d][BK]; dVT = new float[d][BK];
            s = new float[BQ][BK]; dP = new float[BQ][BK]; dsT = new float[BK][BQ];
        }
    }

    private static final ThreadLocal<Fwd[]> FWD = ThreadLocal.withInitial(() -> new Fwd[1]);
    private static final ThreadLocal<Bwd[]> BWD = ThreadLocal.withInitial(() -> new Bwd[1]);

    static void forward(float[] qkv, int batch, int n, int heads, int d, float scale, float[] out, float[] lse) {
        forward(qkv, batch, n, heads, d, scale, out, lse, false);
    }

    /**
     * As above; {@code bf16}: the tensor-core arithmetic of kernels/attention_tc.cu (the caller has
     * rounded qkv to bf16): keys in tiles of 64, and each tile's P = exp(s − running max) rounded to
     * bf16 before P·V, the row sum taken before the rounding.
     */
    static void forward(float[] qkv, int batch, int n, int heads, int d, float scale, float[] out, float[] lse, boolean bf16) {
        if (!bf16 && CpuGemm.VECTOR_AVAILABLE) VectorAttention.forward(qkv, batch, n, heads, d, scale, out, lse);
        else forwardRows(qkv, batch, n, heads, d, scale, out, lse, bf16);
    }

    /** The forward on {@link RowOps} loops: the fallback without the Vector API, and the bf16 arithmetic. */
    static void forwardRows(float[] qkv, int batch, int n, int heads, int d, float scale, float[] out, float[] lse, boolean bf16) {
        final int qBlocks = (n + BQ - 1) / BQ;
        final int tasks = batch * heads * qBlocks;
        Parallel.forRange(tasks, 4L * BQ * n * d, (t0, t1) -> {
            Fwd[] holder = FWD.get();
            if (holder[0] == null || holder[0].d != d) holder[0] = new Fwd(d);
            Fwd sc = holder[0];
            for (int t = t0; t < t1; t++) {
                int qb = t % qBlocks, bh = t / qBlocks, h = bh % heads, b = bh / heads;
                forwardBlock(qkv, n, heads, d, scale, out, lse, b, h, qb * BQ, Math.min(n, qb * BQ + BQ), sc, bf16);
            }
        });
    }

    private static void forwardBlock(float[] qkv, int n, int heads, int d, float scale, float[] out, float[] lse,
                                     int b, int h, int r0, int r1, Fwd sc, boolean bf16) {
        final int bk = bf16 ? 64 : BK;
        final int hd = heads * d, row = 3 * hd;
        final int rows = r1 - r0;
        final float[][] qT = sc.qT, k = sc.k, vT = sc.vT, sT = sc.sT, accT = sc.accT;
        final float[] m = sc.m, mNew = sc.mNew, l = sc.l, corr = sc.corr, sum = sc.sum;
        final long base = (long) b * n * row;
        for (int r = 0; r < rows; r++) {
            int src = (int) (base + (long) (r0 + r) * row + h * d);
            for (int x = 0; x < d; x++) qT[x][r] = qkv[src + x] * scale;
        }
        for (int x = 0; x < d; x++) Arrays.fill(accT[x], 0, rows, 0f);
        Arrays.fill(m, 0, rows, Float.NEGATIVE_INFINITY);
        Arrays.fill(l, 0, rows, 0f);
        for (int c0 = 0; c0 < n; c0 += bk) {
            int cols = Math.min(bk, n - c0);
            for (int c = 0; c < cols; c++) {
                int ks = (int) (base + (long) (c0 + c) * row + hd + h * d), vs = ks + hd;
                System.arraycopy(qkv, ks, k[c], 0, d);
                for (int x = 0; x < d; x++) vT[x][c] = qkv[vs + x];
            }
            // scores, key-major: sT[c][r] = Σ_x k[c][x]·qT[x][r] (q already scaled)
            for (int c = 0; c < cols; c++) RowOps.setRows(sT[c], qT, 0, k[c], 0, d, rows);
            System.arraycopy(m, 0, mNew, 0, rows);
            for (int c = 0; c < cols; c++) RowOps.maxInto(mNew, sT[c], rows);
            Arrays.fill(sum, 0, rows, 0f);
            for (int c = 0; c < cols; c++) RowOps.expSubSum(sT[c], mNew, sum, rows);
            for (int r = 0; r < rows; r++) {
                corr[r] = FastExp.exp(m[r] - mNew[r]); // 0 on the first block (m = -inf)
                l[r] = l[r] * corr[r] + sum[r];
                m[r] = mNew[r];
            }
            if (bf16)
                for (int c = 0; c < cols; c++) {
                    float[] p = sT[c];
                    for (int r = 0; r < rows; r++) p[r] = dinoseg.backend.Precision.BF16.round(p[r]);
                }
            // accT[x][r] = corr[r]·accT[x][r] + Σ_c vT[x][c]·P[r][c]
            for (int x = 0; x < d; x++) {
                float[] ax = accT[x];
                for (int r = 0; r < rows; r++) ax[r] *= corr[r];
                RowOps.maddRows(ax, sT, 0, vT[x], 0, cols, rows);
            }
        }
        for (int r = 0; r < rows; r++) {
            int dst = (int) ((long) b * n * hd + (long) (r0 + r) * hd + h * d);
            float inv = 1f / l[r];
            for (int x = 0; x < d; x++) out[dst + x] = accT[x][r] * inv;
            if (lse != null) lse[((b * heads) + h) * n + r0 + r] = (float) (m[r] + Math.log(l[r]));
        }
    }

    static void backward(float[] qkv, float[] out, float[] lse, float[] gout, int batch, int n, int heads, int d,
                         float scale, float[] gqkv) {
        backward(qkv, out, lse, gout, batch, n, heads, d, scale, gqkv, false);
    }

    /**
     * As above; {@code bf16}: the arithmetic of kernels/attention_tc.cu's backward (the caller has rounded
     * qkv and gout to bf16): P = exp(scale·q·k − lse) and dS = P∘(dP − Δ) in fp32, then P (for dV) and dS
     * (for dQ and dK) rounded to bf16, dQ and dK multiplied by scale after their sums.
     */
    static void backward(float[] qkv, float[] out, float[] lse, float[] gout, int batch, int n, int heads, int d,
                         float scale, float[] gqkv, boolean bf16) {
        if (!bf16 && CpuGemm.VECTOR_AVAILABLE) VectorAttention.backward(qkv, out, lse, gout, batch, n, heads, d, scale, gqkv);
        else backwardRows(qkv, out, lse, gout, batch, n, heads, d, scale, gqkv, bf16);
    }

    /** The backward on {@link RowOps} loops: the fallback without the Vector API, and the bf16 arithmetic. */
    static void backwardRows(float[] qkv, float[] out, float[] lse, float[] gout, int batch, int n, int heads, int d,
                             float scale, float[] gqkv, boolean bf16) {
        final int tasks = batch * heads;
        final int qBlocks = (n + BQ - 1) / BQ;
        Parallel.forRange(tasks, 10L * n * n * d, (t0, t1) -> {
            Bwd[] holder = BWD.get();
            if (holder[0] == null || holder[0].d != d) holder[0] = new Bwd(d);
            Bwd sc = holder[0];
            float[][] q = new float[n][d], dO = new float[n][d];
            float[][][] qT = new float[qBlocks][d][BQ], dOT = new float[qBlocks][d][BQ], dQT = new float[qBlocks][d][BQ];
            float[] dRow = new float[n];
            for (int t = t0; t < t1; t++)
                backwardHead(qkv, out, lse, gout, n, heads, d, scale, gqkv, t / heads, t % heads, sc, q, dO, qT, dOT, dQT, dRow, bf16);
        });
    }

    private static void backwardHead(float[] qkv, float[] out, float[] lse, float[] gout, int n, int heads, int d,
                                     float scale, float[] gqkv, int b, int h, Bwd sc,
                                     float[][] q, float[][] dO, float[][][] qT, float[][][] dOT, float[][][] dQT, float[] dRow,
                                     boolean bf16) {
        final float gradScale = bf16 ? scale : 1f;   // bf16: dS rounded unscaled, the sums scaled after
        final int hd = heads * d, row = 3 * hd;
        final long base = (long) b * n * row, obase = (long) b * n * hd;
        final int lbase = (b * heads + h) * n;
        final float[][] kT = sc.kT, vT = sc.vT, dKT = sc.dKT, dVT = sc.dVT, s = sc.s, dP = sc.dP, dsT = sc.dsT;
        // Q and dO of this head in both layouts; D_i = rowsum(dO_i ∘ O_i)
        for (int i = 0; i < n; i++) {
            int qs = (int) (base + (long) i * row + h * d), os = (int) (obase + (long) i * hd + h * d);
            System.arraycopy(qkv, qs, q[i], 0, d);
            System.arraycopy(gout, os, dO[i], 0, d);
            float[][] qTb = qT[i / BQ], dOTb = dOT[i / BQ];
            int r = i % BQ;
            float acc = 0f;
            for (int x = 0; x < d; x++) {
                qTb[x][r] = q[i][x];
                dOTb[x][r] = dO[i][x];
                acc += gout[os + x] * out[os + x];
            }
            dRow[i] = acc;
        }
        for (float[][] blk : dQT) for (float[] rowArr : blk) Arrays.fill(rowArr, 0f);
        for (int c0 = 0; c0 < n; c0 += BK) {
            int cols = Math.min(BK, n - c0);
            for (int c = 0; c < cols; c++) {
                int ks = (int) (base + (long) (c0 + c) * row + hd + h * d), vs = ks + hd;
                for (int x = 0; x < d; x++) { kT[x][c] = qkv[ks + x]; vT[x][c] = qkv[vs + x]; }
            }
            for (int x = 0; x < d; x++) { Arrays.fill(dKT[x], 0, cols, 0f); Arrays.fill(dVT[x], 0, cols, 0f); }
            for (int r0 = 0, qb = 0; r0 < n; r0 += BQ, qb++) {
                int rows = Math.min(BQ, n - r0);
                for (int r = 0; r < rows; r++) {
                    float[] sr = s[r], pr = dP[r];
                    RowOps.setRows(sr, kT, 0, q[r0 + r], 0, d, cols);  // unscaled q·kᵀ
                    RowOps.setRows(pr, vT, 0, dO[r0 + r], 0, d, cols); // dP = dO·vᵀ
                    // P into s; dS (times scale, for the inputs of the scores) into dP
                    if (bf16) bf16ProbsAndGrads(sr, pr, scale, lse[lbase + r0 + r], dRow[r0 + r], cols);
                    else RowOps.probsAndGrads(sr, pr, scale, lse[lbase + r0 + r], dRow[r0 + r], cols);
                }
                float[][] qTb = qT[qb], dOTb = dOT[qb], dQTb = dQT[qb];
                for (int x = 0; x < d; x++) {
                    RowOps.maddRows(dVT[x], s, 0, dOTb[x], 0, rows, cols);  // dV_c += Σ_r P_rc dO_r
                    RowOps.maddRows(dKT[x], dP, 0, qTb[x], 0, rows, cols);  // dK_c += Σ_r dS_rc Q_r
                }
                for (int r = 0; r < rows; r++) {
                    float[] pr = dP[r];
                    for (int c = 0; c < cols; c++) dsT[c][r] = pr[c];
                }
                for (int x = 0; x < d; x++) RowOps.maddRows(dQTb[x], dsT, 0, kT[x], 0, cols, rows); // dQ_r += Σ_c dS_rc K_c
            }
            for (int c = 0; c < cols; c++) {
                int dst = (int) (base + (long) (c0 + c) * row + hd + h * d);
                for (int x = 0; x < d; x++) {
                    gqkv[dst + x] = dKT[x][c] * gradScale;
                    gqkv[dst + hd + x] = dVT[x][c];
                }
            }
        }
        for (int i = 0; i < n; i++) {
            float[][] dQTb = dQT[i / BQ];
            int r = i % BQ, dst = (int) (base + (long) i * row + h * d);
            for (int x = 0; x < d; x++) gqkv[dst + x] = dQTb[x][r] * gradScale;
        }
    }

    /** The bf16 rows of the backward: s := bf16(P), dp := bf16(P∘(dP − Δ)), unscaled; exp as the kernels' expf. */
    private static void bf16ProbsAndGrads(float[] s, float[] dp, float scale, float lse, float di, int n) {
        for (int c = 0; c < n; c++) {
            float p = (float) Math.exp(s[c] * scale - lse);
            s[c] = dinoseg.backend.Precision.BF16.round(p);
            dp[c] = dinoseg.backend.Precision.BF16.round(p * (dp[c] - di));
        }
    }
}
