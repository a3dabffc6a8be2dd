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
 * dQ accumulates across blocks in an N×D scratch.
 *
 * <p>Blocks are held as arrays of rows (Kᵀ and Vᵀ as D rows of BK) so that every product is a
 * {@link RowOps} loop the JIT vectorises.
 */
final class CpuAttention {
    private CpuAttention() { }

    static final int BQ = 64;
    static final int BK = 128;

    /** Per-thread scratch for one query block × one key block. */
    private static final class Scratch {
        final int d;
        final float[][] q = new float[BQ][], dO = new float[BQ][], s = new float[BQ][], dP = new float[BQ][],
                acc = new float[BQ][], kT, vT, k = new float[BK][], v = new float[BK][], dk = new float[BK][],
                dv = new float[BK][];
        final float[] m = new float[BQ], l = new float[BQ], col = new float[BQ];

        Scratch(int d) {
            this.d = d;
            for (int r = 0; r < BQ; r++) {
                q[r] = new float[d]; dO[r] = new float[d]; acc[r] = new float[d];
                s[r] = new float[BK]; dP[r] = new float[BK];
            }
            kT = new float[d][BK];
            vT = new float[d][BK];
            for (int c = 0; c < BK; c++) { k[c] = new float[d]; v[c] = new float[d]; dk[c] = new float[d]; dv[c] = new float[d]; }
        }
    }

    private static final ThreadLocal<Scratch[]> SCRATCH = ThreadLocal.withInitial(() -> new Scratch[1]);

    private static Scratch scratch(int d) {
        Scratch[] h = SCRATCH.get();
        if (h[0] == null || h[0].d != d) h[0] = new Scratch(d);
        return h[0];
    }

    static void forward(float[] qkv, int batch, int n, int heads, int d, float scale, float[] out, float[] lse) {
        final int qBlocks = (n + BQ - 1) / BQ;
        final int tasks = batch * heads * qBlocks;
        Parallel.forRange(tasks, 4L * BQ * n * d, (t0, t1) -> {
            Scratch sc = scratch(d);
            for (int t = t0; t < t1; t++) {
                int qb = t % qBlocks, bh = t / qBlocks, h = bh % heads, b = bh / heads;
                forwardBlock(qkv, n, heads, d, scale, out, lse, b, h, qb * BQ, Math.min(n, qb * BQ + BQ), sc);
            }
        });
    }

    private static void forwardBlock(float[] qkv, int n, int heads, int d, float scale, float[] out, float[] lse,
                                     int b, int h, int r0, int r1, Scratch sc) {
        final int hd = heads * d, row = 3 * hd;
        final int rows = r1 - r0;
        final float[][] q = sc.q, s = sc.s, acc = sc.acc, kT = sc.kT, v = sc.v;
        final float[] m = sc.m, l = sc.l;
        final long base = (long) b * n * row;
        for (int r = 0; r < rows; r++) {
            int src = (int) (base + (long) (r0 + r) * row + h * d);
            float[] qr = q[r];
            for (int x = 0; x < d; x++) qr[x] = qkv[src + x] * scale;
            Arrays.fill(acc[r], 0f);
        }
        Arrays.fill(m, 0, rows, Float.NEGATIVE_INFINITY);
        Arrays.fill(l, 0, rows, 0f);
        for (int c0 = 0; c0 < n; c0 += BK) {
            int cols = Math.min(BK, n - c0);
            loadKeys(qkv, base, row, hd, h, d, c0, cols, kT, null, v, null);
            for (int r = 0; r < rows; r++) {
                float[] sr = s[r];
                RowOps.setRows(sr, kT, 0, q[r], 0, d, cols); // scaled scores q·kᵀ
                float mx = m[r];
                for (int c = 0; c < cols; c++) mx = Math.max(mx, sr[c]);
                float corr = FastExp.exp(m[r] - mx); // exp(-inf) = 0 on the first block
                float sum = 0f;
                for (int c = 0; c < cols; c++) {
                    float p = FastExp.exp(sr[c] - mx);
                    sr[c] = p;
                    sum += p;
                }
                l[r] = l[r] * corr + sum;
                m[r] = mx;
                float[] ar = acc[r];
                if (corr != 1f) for (int x = 0; x < d; x++) ar[x] *= corr;
                RowOps.maddRows(ar, v, 0, sr, 0, cols, d);
            }
        }
        for (int r = 0; r < rows; r++) {
            int dst = (int) ((long) b * n * hd + (long) (r0 + r) * hd + h * d);
            float inv = 1f / l[r];
            float[] ar = acc[r];
            for (int x = 0; x < d; x++) out[dst + x] = ar[x] * inv;
            if (lse != null) lse[((b * heads) + h) * n + r0 + r] = (float) (m[r] + Math.log(l[r]));
        }
    }

    /** Loads key/value rows [c0, c0+cols) of head h into kT (d rows of BK), k, v (rows of d), vT; null to skip. */
    private static void loadKeys(float[] qkv, long base, int row, int hd, int h, int d, int c0, int cols,
                                 float[][] kT, float[][] k, float[][] v, float[][] vT) {
        for (int c = 0; c < cols; c++) {
            int ks = (int) (base + (long) (c0 + c) * row + hd + h * d);
            int vs = ks + hd;
            if (k != null) System.arraycopy(qkv, ks, k[c], 0, d);
            if (v != null) System.arraycopy(qkv, vs, v[c], 0, d);
            if (kT != null) for (int x = 0; x < d; x++) kT[x][c] = qkv[ks + x];
            if (vT != null) for (int x = 0; x < d; x++) vT[x][c] = qkv[vs + x];
        }
    }

    static void backward(float[] qkv, float[] out, float[] lse, float[] gout, int batch, int n, int heads, int d,
                         float scale, float[] gqkv) {
        final int tasks = batch * heads;
        Parallel.forRange(tasks, 8L * n * n * d, (t0, t1) -> {
            Scratch sc = scratch(d);
            float[][] dq = new float[n][d];
            float[] dRowAll = new float[n];
            for (int t = t0; t < t1; t++)
                backwardHead(qkv, out, lse, gout, n, heads, d, scale, gqkv, t / heads, t % heads, sc, dq, dRowAll);
        });
    }

    private static void backwardHead(float[] qkv, float[] out, float[] lse, float[] gout, int n, int heads, int d,
                                     float scale, float[] gqkv, int b, int h, Scratch sc, float[][] dq, float[] dRowAll) {
        final int hd = heads * d, row = 3 * hd;
        final long base = (long) b * n * row, obase = (long) b * n * hd;
        final int lbase = (b * heads + h) * n;
        final float[][] q = sc.q, kT = sc.kT, k = sc.k, vT = sc.vT, s = sc.s, dO = sc.dO, dP = sc.dP, dk = sc.dk, dv = sc.dv;
        final float[] col = sc.col;
        // D_i = rowsum(dO_i ∘ O_i)
        for (int i = 0; i < n; i++) {
            int o = (int) (obase + (long) i * hd + h * d);
            float acc = 0f;
            for (int x = 0; x < d; x++) acc += gout[o + x] * out[o + x];
            dRowAll[i] = acc;
            Arrays.fill(dq[i], 0f);
        }
        for (int c0 = 0; c0 < n; c0 += BK) {
            int cols = Math.min(BK, n - c0);
            loadKeys(qkv, base, row, hd, h, d, c0, cols, kT, k, null, vT);
            for (int c = 0; c < cols; c++) { Arrays.fill(dk[c], 0f); Arrays.fill(dv[c], 0f); }
            for (int r0 = 0; r0 < n; r0 += BQ) {
                int rows = Math.min(BQ, n - r0);
                for (int r = 0; r < rows; r++) {
                    System.arraycopy(qkv, (int) (base + (long) (r0 + r) * row + h * d), q[r], 0, d);
                    System.arraycopy(gout, (int) (obase + (long) (r0 + r) * hd + h * d), dO[r], 0, d);
                }
                for (int r = 0; r < rows; r++) {
                    float[] sr = s[r], pr = dP[r];
                    RowOps.setRows(sr, kT, 0, q[r], 0, d, cols);  // unscaled q·kᵀ
                    RowOps.setRows(pr, vT, 0, dO[r], 0, d, cols); // dP = dO·vᵀ
                    float lr = lse[lbase + r0 + r], di = dRowAll[r0 + r];
                    for (int c = 0; c < cols; c++) {
                        float p = FastExp.exp(sr[c] * scale - lr);
                        sr[c] = p;                               // P
                        pr[c] = p * (pr[c] - di) * scale;        // dS, scaled for the inputs of the scores
                    }
                    RowOps.maddRows(dq[r0 + r], k, 0, pr, 0, cols, d); // dQ_r += dS_r · K
                }
                for (int c = 0; c < cols; c++) {
                    for (int r = 0; r < rows; r++) col[r] = s[r][c];
                    RowOps.maddRows(dv[c], dO, 0, col, 0, rows, d); // dV_c += Σ_r P_rc dO_r
                    for (int r = 0; r < rows; r++) col[r] = dP[r][c];
                    RowOps.maddRows(dk[c], q, 0, col, 0, rows, d);  // dK_c += Σ_r dS_rc Q_r
                }
            }
            for (int c = 0; c < cols; c++) {
                int dst = (int) (base + (long) (c0 + c) * row + hd + h * d);
                System.arraycopy(dk[c], 0, gqkv, dst, d);
                System.arraycopy(dv[c], 0, gqkv, dst + hd, d);
            }
        }
        for (int i = 0; i < n; i++) System.arraycopy(dq[i], 0, gqkv, (int) (base + (long) i * row + h * d), d);
    }
}
