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
 */
final class CpuAttention {
    private CpuAttention() { }

    static final int BQ = 64;
    static final int BK = 64;

    /** Per-thread scratch for one query block × one key block. */
    private static final class Scratch {
        final int d;
        final float[] q, kT, k, v, vT, s, acc, m, l, dO, dP, o, dRow, lse;
        Scratch(int d) {
            this.d = d;
            q = new float[BQ * d]; kT = new float[d * BK]; k = new float[BK * d]; v = new float[BK * d];
            vT = new float[d * BK]; s = new float[BQ * BK]; acc = new float[BQ * d];
            m = new float[BQ]; l = new float[BQ]; dO = new float[BQ * d]; dP = new float[BQ * BK];
            o = new float[BQ * d]; dRow = new float[BQ]; lse = new float[BQ];
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
        final float[] q = sc.q, kT = sc.kT, v = sc.v, s = sc.s, acc = sc.acc, m = sc.m, l = sc.l;
        final long base = (long) b * n * row;
        for (int r = 0; r < rows; r++) {
            int src = (int) (base + (long) (r0 + r) * row + h * d);
            for (int x = 0; x < d; x++) q[r * d + x] = qkv[src + x] * scale;
        }
        Arrays.fill(acc, 0, rows * d, 0f);
        Arrays.fill(m, 0, rows, Float.NEGATIVE_INFINITY);
        Arrays.fill(l, 0, rows, 0f);
        for (int c0 = 0; c0 < n; c0 += BK) {
            int cols = Math.min(BK, n - c0);
            loadKeys(qkv, base, row, hd, h, d, c0, cols, kT, null, v, null);
            // s = q · kᵀ
            scores(q, kT, s, rows, cols, d);
            for (int r = 0; r < rows; r++) {
                int so = r * BK;
                float mx = m[r];
                for (int c = 0; c < cols; c++) mx = Math.max(mx, s[so + c]);
                float corr = (float) Math.exp(m[r] - mx); // exp(-inf) = 0 on the first block
                float sum = 0f;
                for (int c = 0; c < cols; c++) {
                    float p = (float) Math.exp(s[so + c] - mx);
                    s[so + c] = p;
                    sum += p;
                }
                l[r] = l[r] * corr + sum;
                m[r] = mx;
                int ao = r * d;
                if (corr != 1f) for (int x = 0; x < d; x++) acc[ao + x] *= corr;
                for (int c = 0; c < cols; c++) {
                    float p = s[so + c];
                    int vo = c * d;
                    for (int x = 0; x < d; x++) acc[ao + x] += p * v[vo + x];
                }
            }
        }
        for (int r = 0; r < rows; r++) {
            int dst = (int) ((long) b * n * hd + (long) (r0 + r) * hd + h * d);
            float inv = 1f / l[r];
            for (int x = 0; x < d; x++) out[dst + x] = acc[r * d + x] * inv;
            if (lse != null) lse[((b * heads) + h) * n + r0 + r] = (float) (m[r] + Math.log(l[r]));
        }
    }

    /** Loads key/value rows [c0, c0+cols) of head h: kT (d×BK), k (BK×d), v (BK×d), vT (d×BK); null to skip. */
    private static void loadKeys(float[] qkv, long base, int row, int hd, int h, int d, int c0, int cols,
                                 float[] kT, float[] k, float[] v, float[] vT) {
        for (int c = 0; c < cols; c++) {
            int ks = (int) (base + (long) (c0 + c) * row + hd + h * d);
            int vs = ks + hd;
            for (int x = 0; x < d; x++) {
                float kx = qkv[ks + x], vx = qkv[vs + x];
                if (kT != null) kT[x * BK + c] = kx;
                if (k != null) k[c * d + x] = kx;
                if (v != null) v[c * d + x] = vx;
                if (vT != null) vT[x * BK + c] = vx;
            }
        }
    }

    /** s[r*BK + c] = sum_x a[r*d + x] * bT[x*BK + c]. */
    private static void scores(float[] a, float[] bT, float[] s, int rows, int cols, int d) {
        for (int r = 0; r < rows; r++) {
            int so = r * BK, ao = r * d;
            Arrays.fill(s, so, so + BK, 0f);
            for (int x = 0; x < d; x++) {
                float ax = a[ao + x];
                int bo = x * BK;
                for (int c = 0; c < BK; c++) s[so + c] += ax * bT[bo + c];
            }
        }
    }

    static void backward(float[] qkv, float[] out, float[] lse, float[] gout, int batch, int n, int heads, int d,
                         float scale, float[] gqkv) {
        final int tasks = batch * heads;
        Parallel.forRange(tasks, 8L * n * n * d, (t0, t1) -> {
            Scratch sc = scratch(d);
            float[] dq = new float[n * d];
            float[] dRowAll = new float[n];
            float[] dk = new float[BK * d], dv = new float[BK * d];
            for (int t = t0; t < t1; t++) {
                backwardHead(qkv, out, lse, gout, n, heads, d, scale, gqkv, t / heads, t % heads, sc, dq, dRowAll, dk, dv);
            }
        });
    }

    private static void backwardHead(float[] qkv, float[] out, float[] lse, float[] gout, int n, int heads, int d,
                                     float scale, float[] gqkv, int b, int h, Scratch sc,
                                     float[] dq, float[] dRowAll, float[] dk, float[] dv) {
        final int hd = heads * d, row = 3 * hd;
        final long base = (long) b * n * row, obase = (long) b * n * hd;
        final int lbase = (b * heads + h) * n;
        final float[] q = sc.q, kT = sc.kT, k = sc.k, vT = sc.vT, s = sc.s, dO = sc.dO, dP = sc.dP;
        // D_i = rowsum(dO_i ∘ O_i)
        for (int i = 0; i < n; i++) {
            int o = (int) (obase + (long) i * hd + h * d);
            float acc = 0f;
            for (int x = 0; x < d; x++) acc += gout[o + x] * out[o + x];
            dRowAll[i] = acc;
        }
        Arrays.fill(dq, 0f);
        for (int c0 = 0; c0 < n; c0 += BK) {
            int cols = Math.min(BK, n - c0);
            loadKeys(qkv, base, row, hd, h, d, c0, cols, kT, k, null, vT);
            Arrays.fill(dk, 0, cols * d, 0f);
            Arrays.fill(dv, 0, cols * d, 0f);
            for (int r0 = 0; r0 < n; r0 += BQ) {
                int rows = Math.min(BQ, n - r0);
                for (int r = 0; r < rows; r++) {
                    int src = (int) (base + (long) (r0 + r) * row + h * d);
                    int go = (int) (obase + (long) (r0 + r) * hd + h * d);
                    for (int x = 0; x < d; x++) {
                        q[r * d + x] = qkv[src + x];
                        dO[r * d + x] = gout[go + x];
                    }
                }
                scores(q, kT, s, rows, cols, d);   // unscaled q·kᵀ
                scores(dO, vT, dP, rows, cols, d); // dP = dO · vᵀ
                for (int r = 0; r < rows; r++) {
                    int so = r * BK;
                    float l = lse[lbase + r0 + r], di = dRowAll[r0 + r];
                    int go = r * d;
                    for (int c = 0; c < cols; c++) {
                        float p = (float) Math.exp(s[so + c] * scale - l);
                        // dV_c += p * dO_r
                        int vo = c * d;
                        for (int x = 0; x < d; x++) dv[vo + x] += p * dO[go + x];
                        // dS = P ∘ (dP - D), times scale for the gradient of the scores' inputs
                        s[so + c] = p * (dP[so + c] - di) * scale;
                    }
                    // dQ_r += dS_r · K ; dK_c += dS_rc · Q_r
                    int qo = (r0 + r) * d;
                    for (int c = 0; c < cols; c++) {
                        float ds = s[so + c];
                        if (ds == 0f) continue;
                        int ko = c * d;
                        for (int x = 0; x < d; x++) dq[qo + x] += ds * k[ko + x];
                        for (int x = 0; x < d; x++) dk[ko + x] += ds * q[go + x];
                    }
                }
            }
            for (int c = 0; c < cols; c++) {
                int dst = (int) (base + (long) (c0 + c) * row + hd + h * d);
                System.arraycopy(dk, c * d, gqkv, dst, d);
                System.arraycopy(dv, c * d, gqkv, dst + hd, d);
            }
        }
        for (int i = 0; i < n; i++) {
            int dst = (int) (base + (long) i * row + h * d);
            System.arraycopy(dq, i * d, gqkv, dst, d);
        }
    }
}
