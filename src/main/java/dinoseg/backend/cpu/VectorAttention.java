package dinoseg.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * fp32 flash-attention on register-tiled Vector API micro-kernels: the path {@link CpuAttention} takes
 * when {@link CpuGemm#VECTOR_AVAILABLE} and the precision is fp32. Like {@link VectorGemm}, only
 * loaded after that check.
 *
 * <p>Layout as {@link CpuAttention}: qkv [B, N, 3·H·D] with (3, H, D) along the last axis, out
 * [B, N, H·D], lse [B, H, N] (natural log). Every product is one of two micro-kernels that keep a
 * 6×{@link #NR} block of the result in 12 vector registers (as {@link VectorGemm}'s 6×32 tile) while
 * the reduction streams by:
 * <ul>
 *   <li>{@link #rowTileSet} (and its Add and Rescale twins): the left operand read as six rows
 *       (a[row·lda + p], broadcast), the right one a packed panel of NR columns, p-major (b[p·NR + j]);
 *   <li>{@link #packedTile}: the left operand packed six-wide (a[6·p + t]), the right one rows of the
 *       block's probability matrices at the fixed stride {@link #PB}.
 * </ul>
 * Edges are zero-padded (rows to multiples of 6, key panels to NR, a last panel of ≤ L keys taken by
 * the one-vector twins rowTileSet1 and packedTile1) so the kernels never branch; padded key columns
 * get score −∞ and so probability 0.
 *
 * <p>Forward (FlashAttention-2, Dao 2023, algorithm 1): each head's K and V packed into NR-wide
 * panels, then its query blocks of ≤ {@link #FWD_BQ} rows, one task per (batch, head) when the heads
 * split evenly over the threads and a head's panels fit in half an L2 (see {@link #perHead}), else
 * all heads packed first and one task per (batch, head, query block); per key block of ≤
 * {@link #FWD_BK} keys S = (scale·Q)·Kᵀ, the online softmax
 * (running max m, running sum l, exp by {@link FastExp}'s algorithm in vector form), then
 * O = diag(e^{m_old − m})·O + P·V with the rescaling folded into the kernel's store.
 *
 * <p>Backward (FA2 algorithm 2): one task per (batch, head), Δ = rowsum(dO∘O); per key block and per
 * query block P = exp(scale·Q·Kᵀ − lse) is recomputed, dP = dO·Vᵀ, dS = scale·P∘(dP − Δ), then
 * dVᵀ += dOᵀ·P and dKᵀ += Qᵀ·dS (accumulated for the key block, written once) and dQ += dS·K
 * (accumulated for the head in a scratch, written at the end). No two tasks write the same element,
 * and every sum runs in a fixed order, so the results do not depend on the thread count.
 */
final class VectorAttention {
    private VectorAttention() { }

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Lanes per vector. */
    static final int L = S.length();
    /** Rows of the register tile. */
    static final int MR = 6;
    /** Columns of the register tile: two vectors. */
    static final int NR = 2 * L;
    /** Most query rows of one forward task (a multiple of MR; property dinoseg.attn.fbq). */
    static final int FWD_BQ = roundUp(Integer.getInteger("dinoseg.attn.fbq", 126), MR);
    /** Most keys of one forward block; also the row stride of its score block (a multiple of NR; dinoseg.attn.fbk). */
    static final int FWD_BK = roundUp(Integer.getInteger("dinoseg.attn.fbk", 256), NR);
    /** Most query rows of one backward step (a multiple of MR; dinoseg.attn.bbq). */
    static final int BWD_BQ = roundUp(Integer.getInteger("dinoseg.attn.bbq", 96), MR);
    /** Most keys of one backward block; also the row stride of P and dS there (a multiple of NR; dinoseg.attn.bbk). */
    static final int PB = roundUp(Integer.getInteger("dinoseg.attn.bbk", 64), NR);

    static int roundUp(int x, int q) { return (x + q - 1) / q * q; }

    /** Splits n into ceil(n / max) near-equal blocks, each rounded up to a multiple of q; returns the block size. */
    private static int blockSize(int n, int max, int q) {
        int blocks = (n + max - 1) / max;
        return Math.min(max, roundUp((n + blocks - 1) / blocks, q));
    }

    // ------------------------------------------------------------------ forward

    /** Forward scratch of one thread for head size d. */
    private static final class Fwd {
        final int d, dq;
        final float[] q, o, s, m, l, corr;

        Fwd(int d) {
            this.d = d;
            dq = roundUp(d, NR);
            q = new float[FWD_BQ * d];
            o = new float[FWD_BQ * dq];
            s = new float[FWD_BQ * FWD_BK];
            m = new float[FWD_BQ];
            l = new float[FWD_BQ * L];
            corr = new float[FWD_BQ];
        }
    }

    private static final ThreadLocal<Fwd[]> FWD = ThreadLocal.withInitial(() -> new Fwd[1]);
    /** The packed keys and values of a forward call, kept per calling thread and grown as needed. */
    private static final ThreadLocal<float[][]> PACKED = ThreadLocal.withInitial(() -> new float[2][0]);

    /** Most floats of one head's packed K and V for the per-head schedule: 512 KiB, half a typical L2. */
    static final int PER_HEAD_MAX_FLOATS = 1 << 17;

    static void forward(float[] qkv, int batch, int n, int heads, int d, float scale, float[] out, float[] lse) {
        int dq = roundUp(d, NR), nP = roundUp(n, NR);
        if (perHead(Parallel.THREADS, Parallel.inPool(), batch * heads, nP * d + dq * nP))
            forwardPerHead(qkv, batch, n, heads, d, scale, out, lse);
        else
            forwardTwoPhase(qkv, batch, n, heads, d, scale, out, lse);
    }

    /**
     * Whether {@link #forward} runs one task per (batch, head): when several threads share the work,
     * the (batch, head) pairs split evenly between them, and one head's packed K and V (packedFloats)
     * stay in a core's L2 while all its query blocks use them. Then a head's keys are packed by the
     * thread that reads them, in its own cache, with no pool hand-off between a pack phase and a
     * compute phase; at 224×224 (257 tokens) this cut the attention op's time by 13–19% on 2 cores.
     * Otherwise (long sequences, or fewer heads than threads) query blocks are the tasks.
     */
    static boolean perHead(int threads, boolean inPool, int batchHeads, int packedFloats) {
        return threads > 1 && !inPool && batchHeads % threads == 0 && packedFloats <= PER_HEAD_MAX_FLOATS;
    }

    /** One task per (batch, head): pack its K and V into the thread's own buffers, then all its query blocks. */
    static void forwardPerHead(float[] qkv, int batch, int n, int heads, int d, float scale, float[] out, float[] lse) {
        final int bq = blockSize(n, FWD_BQ, MR), qBlocks = (n + bq - 1) / bq;
        final int bk = blockSize(n, FWD_BK, NR);
        final int hd = heads * d, row = 3 * hd, dq = roundUp(d, NR), nP = roundUp(n, NR);
        final int kFloats = nP * d, vFloats = dq * nP;
        Parallel.forChunks(batch * heads, batch * heads, (t0, t1) -> {
            Fwd sc = fwdScratch(d);
            float[][] own = PACKED.get();
            if (own[0].length < kFloats) own[0] = new float[kFloats];
            if (own[1].length < vFloats) own[1] = new float[vFloats];
            float[] kh = own[0], vh = own[1];
            for (int t = t0; t < t1; t++) {
                int b = t / heads, h = t % heads;
                long base = (long) b * n * row;
                packKeys(qkv, base, row, hd + h * d, 0, n, nP, d, kh, 0);
                packRows(qkv, base, row, 2 * hd + h * d, 0, n, d, dq, nP, vh, 0);
                for (int qb = 0; qb < qBlocks; qb++)
                    forwardBlock(qkv, n, heads, d, scale, out, lse, b, h, qb * bq, Math.min(n, qb * bq + bq), bk, sc, kh, 0, vh, 0, nP);
            }
        });
    }

    /** Every head's K and V packed once (one parallel phase), then one task per (batch, head, query block). */
    static void forwardTwoPhase(float[] qkv, int batch, int n, int heads, int d, float scale, float[] out, float[] lse) {
        final int bq = blockSize(n, FWD_BQ, MR), qBlocks = (n + bq - 1) / bq;
        final int bk = blockSize(n, FWD_BK, NR);
        final int hd = heads * d, row = 3 * hd, dq = roundUp(d, NR), nP = roundUp(n, NR);
        // every head's K as NR-key panels of Kᵀ and V as NR-channel panels
        final int kStride = nP * d, vStride = dq * nP;
        float[][] packed = PACKED.get();
        if (packed[0].length < (long) batch * heads * kStride) packed[0] = new float[Math.multiplyExact(batch * heads, kStride)];
        if (packed[1].length < (long) batch * heads * vStride) packed[1] = new float[Math.multiplyExact(batch * heads, vStride)];
        final float[] kAll = packed[0], vAll = packed[1];
        Parallel.forRange(batch * heads, 2L * n * d, (t0, t1) -> {
            for (int t = t0; t < t1; t++) {
                int b = t / heads, h = t % heads;
                long base = (long) b * n * row;
                packKeys(qkv, base, row, hd + h * d, 0, n, nP, d, kAll, t * kStride);
                packRows(qkv, base, row, 2 * hd + h * d, 0, n, d, dq, nP, vAll, t * vStride);
            }
        });
        Parallel.forRange(batch * heads * qBlocks, 4L * bq * n * d, (t0, t1) -> {
            Fwd sc = fwdScratch(d);
            for (int t = t0; t < t1; t++) {
                int qb = t % qBlocks, bh = t / qBlocks;
                forwardBlock(qkv, n, heads, d, scale, out, lse, bh / heads, bh % heads,
                        qb * bq, Math.min(n, qb * bq + bq), bk, sc, kAll, bh * kStride, vAll, bh * vStride, nP);
            }
        });
    }

    private static Fwd fwdScratch(int d) {
        Fwd[] holder = FWD.get();
        if (holder[0] == null || holder[0].d != d) holder[0] = new Fwd(d);
        return holder[0];
    }

    private static void forwardBlock(float[] qkv, int n, int heads, int d, float scale, float[] out, float[] lse,
                                     int b, int h, int r0, int r1, int bk, Fwd sc,
                                     float[] kAll, int kBase, float[] vAll, int vBase, int nP) {
        final int hd = heads * d, row = 3 * hd, dq = sc.dq;
        final int rows = r1 - r0, rowsR = roundUp(rows, MR);
        final float[] q = sc.q, o = sc.o, s = sc.s, m = sc.m, l = sc.l, corr = sc.corr;
        final long base = (long) b * n * row;
        // scale·Q of the block, rows past the end zero
        for (int r = 0; r < rows; r++) {
            int src = Math.toIntExact(base + (long) (r0 + r) * row + h * d);
            for (int x = 0; x < d; x++) q[r * d + x] = qkv[src + x] * scale;
        }
        Arrays.fill(q, rows * d, rowsR * d, 0f);
        Arrays.fill(o, 0, rowsR * dq, 0f);
        Arrays.fill(m, 0, rowsR, Float.NEGATIVE_INFINITY);
        Arrays.fill(l, 0, rowsR * L, 0f);
        Arrays.fill(corr, rows, rowsR, 0f);
        for (int c0 = 0; c0 < n; c0 += bk) {
            final int cols = Math.min(bk, n - c0), colsP = roundUp(cols, L);
            // S[r][c] = Σ_x (scale·q)[r][x]·k[c][x], row stride FWD_BK; a last panel of ≤ L keys one vector wide
            for (int ct = 0; ct < colsP; ct += NR)
                for (int it = 0; it < rowsR; it += MR)
                    if (colsP - ct >= NR) rowTileSet(q, it * d, d, kAll, kBase + (c0 + ct) * d, d, s, it * FWD_BK + ct, FWD_BK);
                    else rowTileSet1(q, it * d, d, kAll, kBase + (c0 + ct) * d, d, s, it * FWD_BK + ct, FWD_BK);
            softmaxBlock(s, rows, cols, colsP, m, l, corr);
            // O = diag(corr)·O + P·V
            for (int xt = 0; xt < dq; xt += NR)
                for (int it = 0; it < rowsR; it += MR)
                    rowTileRescale(s, it * FWD_BK, FWD_BK, vAll, vBase + xt * nP + c0 * NR, cols, o, it * dq + xt, dq, corr, it);
        }
        for (int r = 0; r < rows; r++) {
            int dst = Math.toIntExact((long) b * n * hd + (long) (r0 + r) * hd + h * d);
            float sum = FloatVector.fromArray(S, l, r * L).reduceLanes(VectorOperators.ADD);
            float inv = 1f / sum;
            for (int x = 0; x < d; x++) out[dst + x] = o[r * dq + x] * inv;
            if (lse != null) lse[(b * heads + h) * n + r0 + r] = (float) (m[r] + Math.log(sum));
        }
    }

    // e^x below is FastExp's algorithm (x = k·ln 2 + r, degree-7 Taylor polynomial in r, 2^k into the
    // exponent bits) written out in each loop: as a method of its own C2 sometimes compiled it apart
    // and then would not inline it, boxing its vectors (runs 2× slower). x is clamped to [−87.3, 88.7]
    // first (lanes below give ≈1.2e-38 instead of 0, −∞ included; the forward's arguments are ≤ 0, so
    // it clamps only below), k comes back as a float by subtracting the shift, r by fused multiply-adds.
    private static final float SHIFT = 12582912f;   // 1.5·2^23: adding it leaves round(x·log2 e) in the low bits
    private static final float LOG2E = 1.44269504f, LN2_HI = 0.693145751953125f, LN2_LO = 1.42860682e-6f;
    private static final int EXP_BIAS = 127 - 0x4B400000;

    /**
     * One key block of the online softmax over rows r < rows of s (stride FWD_BK): columns [cols, colsP)
     * set to −∞ (probability 0), m_r = max(m_r, max_c s_rc), s_rc = e^{s_rc − m_r},
     * corr_r = e^{m_old − m_r}, and the running sum, kept as L lanes per row (l[r·L + lane]) so that
     * only the end reduces it across lanes (JDK 17 adds a vector's lanes one after the other),
     * l_r = corr_r·l_r + s_r. Maxima by compare and blend: FloatVector.max pays for Java's NaN and −0
     * rules. (Kept out of forwardBlock so that C2 compiles its vector loops on their own.)
     */
    private static void softmaxBlock(float[] s, int rows, int cols, int colsP, float[] m, float[] l, float[] corr) {
        for (int r = 0; r < rows; r++) {
            int so = r * FWD_BK;
            Arrays.fill(s, so + cols, so + colsP, Float.NEGATIVE_INFINITY);
            FloatVector vm = FloatVector.fromArray(S, s, so);
            for (int c = L; c < colsP; c += L) {
                FloatVector v = FloatVector.fromArray(S, s, so + c);
                vm = vm.blend(v, vm.lt(v));
            }
            float mx = Math.max(m[r], vm.reduceLanes(VectorOperators.MAX));
            FloatVector sum = FloatVector.zero(S);
            for (int c = 0; c < colsP; c += L) {
                FloatVector ex = FloatVector.fromArray(S, s, so + c).sub(mx);
                ex = ex.blend(-87.3f, ex.lt(-87.3f));     // ≤ 0 here: only the lower clamp
                FloatVector et = ex.fma(LOG2E, SHIFT), ek = et.sub(SHIFT);
                FloatVector er = ek.fma(FloatVector.broadcast(S, -LN2_HI), ex).sub(ek.mul(LN2_LO));
                FloatVector p = er.fma(1f / 5040, 1f / 720).fma(er, FloatVector.broadcast(S, 1f / 120))
                        .fma(er, FloatVector.broadcast(S, 1f / 24)).fma(er, FloatVector.broadcast(S, 1f / 6))
                        .fma(er, FloatVector.broadcast(S, 0.5f)).fma(er, FloatVector.broadcast(S, 1f))
                        .fma(er, FloatVector.broadcast(S, 1f))
                        .mul(et.reinterpretAsInts().add(EXP_BIAS).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats());
                p.intoArray(s, so + c);
                sum = sum.add(p);
            }
            float cr = FastExp.exp(m[r] - mx);   // 0 on the first block (m = −∞)
            corr[r] = cr;
            FloatVector.fromArray(S, l, r * L).mul(cr).add(sum).intoArray(l, r * L);
            m[r] = mx;
        }
    }

    /** kT[kto + ct·d + x·NR + j] = qkv row (c0+ct+j), element off+x: NR-column panels of Kᵀ, zero past cols. */
    private static void packKeys(float[] qkv, long base, int row, int off, int c0, int cols, int colsP, int d, float[] kT, int kto) {
        for (int ct = 0; ct < colsP; ct += NR) {
            int w = Math.min(NR, cols - ct), pan = kto + ct * d;
            for (int j = 0; j < w; j++) {
                int src = Math.toIntExact(base + (long) (c0 + ct + j) * row + off);
                for (int x = 0, dst = pan + j; x < d; x++, dst += NR) kT[dst] = qkv[src + x];
            }
            if (w < NR)
                for (int x = 0; x < d; x++) Arrays.fill(kT, pan + x * NR + w, pan + x * NR + NR, 0f);
        }
    }

    /** dst[dsto + xt·stride + c·NR + j] = qkv[base + (c0+c)·row + off + xt + j] for j with xt+j < d, else 0. */
    private static void packRows(float[] qkv, long base, int row, int off, int c0, int cols, int d, int dq, int stride,
                                 float[] dst, int dsto) {
        for (int c = 0; c < cols; c++) {
            int src = Math.toIntExact(base + (long) (c0 + c) * row + off);
            for (int xt = 0; xt < dq; xt += NR) {
                int w = Math.min(NR, d - xt), o = dsto + xt * stride + c * NR;
                System.arraycopy(qkv, src + xt, dst, o, w);
                if (w < NR) Arrays.fill(dst, o + w, o + NR, 0f);
            }
        }
    }

    // ------------------------------------------------------------------ backward

    /** Backward scratch of one thread: per-head arrays for n tokens and the block arrays. */
    private static final class Bwd {
        final int d, dq, dr, n, np;
        final float[] q, dO, qT6, dOT6, lse, delta, dQ;
        final float[] kT, vT, k, dKT, dVT, s, dP;

        Bwd(int d, int n) {
            this.d = d;
            this.n = n;
            dq = roundUp(d, NR);
            dr = roundUp(d, MR);
            np = roundUp(n, MR);
            q = new float[np * d];
            dO = new float[np * d];
            qT6 = new float[dr * n];
            dOT6 = new float[dr * n];
            lse = new float[np];
            delta = new float[np];
            dQ = new float[np * dq];
            kT = new float[PB * d];
            vT = new float[PB * d];
            k = new float[dq * PB];
            dKT = new float[dr * PB];
            dVT = new float[dr * PB];
            s = new float[BWD_BQ * PB];
            dP = new float[BWD_BQ * PB];
        }
    }

    private static final ThreadLocal<Bwd[]> BWD = ThreadLocal.withInitial(() -> new Bwd[1]);

    static void backward(float[] qkv, float[] out, float[] lse, float[] gout, int batch, int n, int heads, int d,
                         float scale, float[] gqkv) {
        Parallel.forRange(batch * heads, 10L * n * n * d, (t0, t1) -> {
            Bwd[] holder = BWD.get();
            if (holder[0] == null || holder[0].d != d || holder[0].n != n) holder[0] = new Bwd(d, n);
            Bwd sc = holder[0];
            for (int t = t0; t < t1; t++)
                backwardHead(qkv, out, lse, gout, n, heads, d, scale, gqkv, t / heads, t % heads, sc);
        });
    }

    private static void backwardHead(float[] qkv, float[] out, float[] lseAll, float[] gout, int n, int heads, int d,
                                     float scale, float[] gqkv, int b, int h, Bwd sc) {
        final int hd = heads * d, row = 3 * hd, dq = sc.dq, dr = sc.dr, np = sc.np;
        final long base = (long) b * n * row, obase = (long) b * n * hd;
        final float[] q = sc.q, dO = sc.dO, qT6 = sc.qT6, dOT6 = sc.dOT6, lse = sc.lse, delta = sc.delta, dQ = sc.dQ;
        final float[] kT = sc.kT, vT = sc.vT, k = sc.k, dKT = sc.dKT, dVT = sc.dVT, s = sc.s, dP = sc.dP;
        // Q and dO row-major and six-wide transposed; Δ_i = rowsum(dO_i ∘ O_i); padded rows: P = 0
        for (int i = 0; i < n; i++) {
            int qs = Math.toIntExact(base + (long) i * row + h * d), os = Math.toIntExact(obase + (long) i * hd + h * d);
            System.arraycopy(qkv, qs, q, i * d, d);
            System.arraycopy(gout, os, dO, i * d, d);
            float acc = 0f;
            for (int x = 0; x < d; x++) {
                int t6 = (x / MR) * n * MR + i * MR + x % MR;
                qT6[t6] = qkv[qs + x];
                dOT6[t6] = gout[os + x];
                acc += gout[os + x] * out[os + x];
            }
            delta[i] = acc;
            lse[i] = lseAll[(b * heads + h) * n + i];
        }
        for (int x = d; x < dr; x++)
            for (int i = 0; i < n; i++) {
                int t6 = (x / MR) * n * MR + i * MR + x % MR;
                qT6[t6] = 0f;
                dOT6[t6] = 0f;
            }
        Arrays.fill(q, n * d, np * d, 0f);
        Arrays.fill(dO, n * d, np * d, 0f);
        Arrays.fill(delta, n, np, 0f);
        Arrays.fill(lse, n, np, Float.POSITIVE_INFINITY);
        Arrays.fill(dQ, 0f);
        final int bq = blockSize(n, BWD_BQ, MR);
        final int bk = blockSize(n, PB, NR);
        for (int c0 = 0; c0 < n; c0 += bk) {
            final int cols = Math.min(bk, n - c0), colsP = roundUp(cols, L);
            packKeys(qkv, base, row, hd + h * d, c0, cols, roundUp(cols, NR), d, kT, 0);
            packKeys(qkv, base, row, 2 * hd + h * d, c0, cols, roundUp(cols, NR), d, vT, 0);
            packRows(qkv, base, row, hd + h * d, c0, cols, d, dq, PB, k, 0);
            Arrays.fill(dKT, 0f);
            Arrays.fill(dVT, 0f);
            for (int r0 = 0; r0 < n; r0 += bq) {
                final int rows = Math.min(bq, n - r0), rowsR = roundUp(rows, MR);
                // S = Q·Kᵀ (unscaled) and dP = dO·Vᵀ
                for (int ct = 0; ct < colsP; ct += NR)
                    for (int it = 0; it < rowsR; it += MR)
                        if (colsP - ct >= NR) {
                            rowTileSet(q, (r0 + it) * d, d, kT, ct * d, d, s, it * PB + ct, PB);
                            rowTileSet(dO, (r0 + it) * d, d, vT, ct * d, d, dP, it * PB + ct, PB);
                        } else {
                            rowTileSet1(q, (r0 + it) * d, d, kT, ct * d, d, s, it * PB + ct, PB);
                            rowTileSet1(dO, (r0 + it) * d, d, vT, ct * d, d, dP, it * PB + ct, PB);
                        }
                probsAndGrads(s, dP, rowsR, cols, colsP, scale, lse, delta, r0);
                // dVᵀ[x][c] += Σ_r dO[r][x]·P[r][c]; dKᵀ[x][c] += Σ_r Q[r][x]·dS[r][c]
                for (int ct = 0; ct < colsP; ct += NR)
                    for (int xt = 0; xt < dr; xt += MR)
                        if (colsP - ct >= NR) {
                            packedTile(dOT6, xt * n + r0 * MR, s, ct, rows, dVT, xt * PB + ct, PB);
                            packedTile(qT6, xt * n + r0 * MR, dP, ct, rows, dKT, xt * PB + ct, PB);
                        } else {
                            packedTile1(dOT6, xt * n + r0 * MR, s, ct, rows, dVT, xt * PB + ct, PB);
                            packedTile1(qT6, xt * n + r0 * MR, dP, ct, rows, dKT, xt * PB + ct, PB);
                        }
                // dQ[r][x] += Σ_c dS[r][c]·K[c][x]
                for (int xt = 0; xt < dq; xt += NR)
                    for (int it = 0; it < rowsR; it += MR)
                        rowTileAdd(dP, it * PB, PB, k, xt * PB, cols, dQ, (r0 + it) * dq + xt, dq);
            }
            for (int c = 0; c < cols; c++) {
                int dst = Math.toIntExact(base + (long) (c0 + c) * row + hd + h * d);
                for (int x = 0; x < d; x++) {
                    gqkv[dst + x] = dKT[x * PB + c];
                    gqkv[dst + hd + x] = dVT[x * PB + c];
                }
            }
        }
        for (int i = 0; i < n; i++)
            System.arraycopy(dQ, i * dq, gqkv, Math.toIntExact(base + (long) i * row + h * d), d);
    }

    /**
     * Rows r < rowsR of the backward block (stride PB): columns [cols, colsP) of s set to −∞, then
     * P = e^{scale·s − lse} into s and dS = scale·P∘(dP − Δ) into dP (padded rows have lse = +∞, so P = 0).
     */
    private static void probsAndGrads(float[] s, float[] dP, int rowsR, int cols, int colsP, float scale,
                                      float[] lse, float[] delta, int r0) {
        for (int r = 0; r < rowsR; r++) {
            int so = r * PB;
            Arrays.fill(s, so + cols, so + colsP, Float.NEGATIVE_INFINITY);
            float li = lse[r0 + r], di = delta[r0 + r];
            for (int c = 0; c < colsP; c += L) {
                FloatVector ex = FloatVector.fromArray(S, s, so + c).fma(scale, -li);
                ex = ex.blend(-87.3f, ex.lt(-87.3f)).blend(88.7f, ex.compare(VectorOperators.GT, 88.7f));
                FloatVector et = ex.fma(LOG2E, SHIFT), ek = et.sub(SHIFT);
                FloatVector er = ek.fma(FloatVector.broadcast(S, -LN2_HI), ex).sub(ek.mul(LN2_LO));
                FloatVector p = er.fma(1f / 5040, 1f / 720).fma(er, FloatVector.broadcast(S, 1f / 120))
                        .fma(er, FloatVector.broadcast(S, 1f / 24)).fma(er, FloatVector.broadcast(S, 1f / 6))
                        .fma(er, FloatVector.broadcast(S, 0.5f)).fma(er, FloatVector.broadcast(S, 1f))
                        .fma(er, FloatVector.broadcast(S, 1f))
                        .mul(et.reinterpretAsInts().add(EXP_BIAS).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats());
                p.intoArray(s, so + c);
                p.mul(FloatVector.fromArray(S, dP, so + c).sub(di)).mul(scale).intoArray(dP, so + c);
            }
        }
    }

    // ------------------------------------------------------------------ micro-kernels

    // The three rowTile* kernels differ only in their store; one kernel with a mode switch grew past
    // C2's inlining budget and its vectors were boxed (as VectorGemm's note says of larger tiles).

    /** The 6×NR tile C[co + t·ldc + j] = Σ_{p<k} a[ao + t·lda + p]·b[bo + p·NR + j] for t < 6, j < NR. */
    private static void rowTileSet(float[] a, int ao, int lda, float[] b, int bo, int k, float[] c, int co, int ldc) {
        FloatVector z = FloatVector.zero(S);
        FloatVector c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
        FloatVector c40 = z, c41 = z, c50 = z, c51 = z;
        final int a0 = ao, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda, a4 = a3 + lda, a5 = a4 + lda;
        for (int p = 0; p < k; p++) {
            int bp = bo + p * NR;
            FloatVector b0 = FloatVector.fromArray(S, b, bp), b1 = FloatVector.fromArray(S, b, bp + L);
            FloatVector x = FloatVector.broadcast(S, a[a0 + p]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, a[a1 + p]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, a[a2 + p]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, a[a3 + p]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, a[a4 + p]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, a[a5 + p]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
        }
        c00.intoArray(c, co); c01.intoArray(c, co + L);
        c10.intoArray(c, co + ldc); c11.intoArray(c, co + ldc + L);
        c20.intoArray(c, co + 2 * ldc); c21.intoArray(c, co + 2 * ldc + L);
        c30.intoArray(c, co + 3 * ldc); c31.intoArray(c, co + 3 * ldc + L);
        c40.intoArray(c, co + 4 * ldc); c41.intoArray(c, co + 4 * ldc + L);
        c50.intoArray(c, co + 5 * ldc); c51.intoArray(c, co + 5 * ldc + L);
    }

    /** As {@link #rowTileSet} with C += the product. */
    private static void rowTileAdd(float[] a, int ao, int lda, float[] b, int bo, int k, float[] c, int co, int ldc) {
        FloatVector z = FloatVector.zero(S);
        FloatVector c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
        FloatVector c40 = z, c41 = z, c50 = z, c51 = z;
        final int a0 = ao, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda, a4 = a3 + lda, a5 = a4 + lda;
        for (int p = 0; p < k; p++) {
            int bp = bo + p * NR;
            FloatVector b0 = FloatVector.fromArray(S, b, bp), b1 = FloatVector.fromArray(S, b, bp + L);
            FloatVector x = FloatVector.broadcast(S, a[a0 + p]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, a[a1 + p]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, a[a2 + p]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, a[a3 + p]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, a[a4 + p]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, a[a5 + p]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
        }
        FloatVector.fromArray(S, c, co).add(c00).intoArray(c, co);
        FloatVector.fromArray(S, c, co + L).add(c01).intoArray(c, co + L);
        FloatVector.fromArray(S, c, co + ldc).add(c10).intoArray(c, co + ldc);
        FloatVector.fromArray(S, c, co + ldc + L).add(c11).intoArray(c, co + ldc + L);
        FloatVector.fromArray(S, c, co + 2 * ldc).add(c20).intoArray(c, co + 2 * ldc);
        FloatVector.fromArray(S, c, co + 2 * ldc + L).add(c21).intoArray(c, co + 2 * ldc + L);
        FloatVector.fromArray(S, c, co + 3 * ldc).add(c30).intoArray(c, co + 3 * ldc);
        FloatVector.fromArray(S, c, co + 3 * ldc + L).add(c31).intoArray(c, co + 3 * ldc + L);
        FloatVector.fromArray(S, c, co + 4 * ldc).add(c40).intoArray(c, co + 4 * ldc);
        FloatVector.fromArray(S, c, co + 4 * ldc + L).add(c41).intoArray(c, co + 4 * ldc + L);
        FloatVector.fromArray(S, c, co + 5 * ldc).add(c50).intoArray(c, co + 5 * ldc);
        FloatVector.fromArray(S, c, co + 5 * ldc + L).add(c51).intoArray(c, co + 5 * ldc + L);
    }

    /** As {@link #rowTileSet} with C[row t] = corr[ro + t]·C[row t] + the product. */
    private static void rowTileRescale(float[] a, int ao, int lda, float[] b, int bo, int k, float[] c, int co, int ldc,
                                       float[] corr, int ro) {
        FloatVector z = FloatVector.zero(S);
        FloatVector c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
        FloatVector c40 = z, c41 = z, c50 = z, c51 = z;
        final int a0 = ao, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda, a4 = a3 + lda, a5 = a4 + lda;
        for (int p = 0; p < k; p++) {
            int bp = bo + p * NR;
            FloatVector b0 = FloatVector.fromArray(S, b, bp), b1 = FloatVector.fromArray(S, b, bp + L);
            FloatVector x = FloatVector.broadcast(S, a[a0 + p]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, a[a1 + p]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, a[a2 + p]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, a[a3 + p]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, a[a4 + p]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, a[a5 + p]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
        }
        // c = c * corr[row] + acc, written out (see packedTile1: no helper with FloatVector parameters)
        FloatVector f = FloatVector.broadcast(S, corr[ro]);
        FloatVector.fromArray(S, c, co).fma(f, c00).intoArray(c, co);
        FloatVector.fromArray(S, c, co + L).fma(f, c01).intoArray(c, co + L);
        f = FloatVector.broadcast(S, corr[ro + 1]);
        FloatVector.fromArray(S, c, co + ldc).fma(f, c10).intoArray(c, co + ldc);
        FloatVector.fromArray(S, c, co + ldc + L).fma(f, c11).intoArray(c, co + ldc + L);
        f = FloatVector.broadcast(S, corr[ro + 2]);
        FloatVector.fromArray(S, c, co + 2 * ldc).fma(f, c20).intoArray(c, co + 2 * ldc);
        FloatVector.fromArray(S, c, co + 2 * ldc + L).fma(f, c21).intoArray(c, co + 2 * ldc + L);
        f = FloatVector.broadcast(S, corr[ro + 3]);
        FloatVector.fromArray(S, c, co + 3 * ldc).fma(f, c30).intoArray(c, co + 3 * ldc);
        FloatVector.fromArray(S, c, co + 3 * ldc + L).fma(f, c31).intoArray(c, co + 3 * ldc + L);
        f = FloatVector.broadcast(S, corr[ro + 4]);
        FloatVector.fromArray(S, c, co + 4 * ldc).fma(f, c40).intoArray(c, co + 4 * ldc);
        FloatVector.fromArray(S, c, co + 4 * ldc + L).fma(f, c41).intoArray(c, co + 4 * ldc + L);
        f = FloatVector.broadcast(S, corr[ro + 5]);
        FloatVector.fromArray(S, c, co + 5 * ldc).fma(f, c50).intoArray(c, co + 5 * ldc);
        FloatVector.fromArray(S, c, co + 5 * ldc + L).fma(f, c51).intoArray(c, co + 5 * ldc + L);
    }

    /** The 6×NR tile C[co + t·ldc + j] += Σ_{p<k} a[ao + 6p + t]·b[bo + p·PB + j] for t < 6, j < NR. */
    private static void packedTile(float[] a, int ao, float[] b, int bo, int k, float[] c, int co, int ldc) {
        FloatVector z = FloatVector.zero(S);
        FloatVector c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
        FloatVector c40 = z, c41 = z, c50 = z, c51 = z;
        for (int p = 0; p < k; p++) {
            int bp = bo + p * PB, ap = ao + p * MR;
            FloatVector b0 = FloatVector.fromArray(S, b, bp), b1 = FloatVector.fromArray(S, b, bp + L);
            FloatVector x = FloatVector.broadcast(S, a[ap]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, a[ap + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, a[ap + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, a[ap + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, a[ap + 4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, a[ap + 5]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
        }
        FloatVector.fromArray(S, c, co).add(c00).intoArray(c, co);
        FloatVector.fromArray(S, c, co + L).add(c01).intoArray(c, co + L);
        FloatVector.fromArray(S, c, co + ldc).add(c10).intoArray(c, co + ldc);
        FloatVector.fromArray(S, c, co + ldc + L).add(c11).intoArray(c, co + ldc + L);
        FloatVector.fromArray(S, c, co + 2 * ldc).add(c20).intoArray(c, co + 2 * ldc);
        FloatVector.fromArray(S, c, co + 2 * ldc + L).add(c21).intoArray(c, co + 2 * ldc + L);
        FloatVector.fromArray(S, c, co + 3 * ldc).add(c30).intoArray(c, co + 3 * ldc);
        FloatVector.fromArray(S, c, co + 3 * ldc + L).add(c31).intoArray(c, co + 3 * ldc + L);
        FloatVector.fromArray(S, c, co + 4 * ldc).add(c40).intoArray(c, co + 4 * ldc);
        FloatVector.fromArray(S, c, co + 4 * ldc + L).add(c41).intoArray(c, co + 4 * ldc + L);
        FloatVector.fromArray(S, c, co + 5 * ldc).add(c50).intoArray(c, co + 5 * ldc);
        FloatVector.fromArray(S, c, co + 5 * ldc + L).add(c51).intoArray(c, co + 5 * ldc + L);
    }

    /** {@link #rowTileSet} one vector wide: j < L. */
    private static void rowTileSet1(float[] a, int ao, int lda, float[] b, int bo, int k, float[] c, int co, int ldc) {
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
        final int a0 = ao, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda, a4 = a3 + lda, a5 = a4 + lda;
        for (int p = 0; p < k; p++) {
            FloatVector b0 = FloatVector.fromArray(S, b, bo + p * NR);
            c0 = FloatVector.broadcast(S, a[a0 + p]).fma(b0, c0);
            c1 = FloatVector.broadcast(S, a[a1 + p]).fma(b0, c1);
            c2 = FloatVector.broadcast(S, a[a2 + p]).fma(b0, c2);
            c3 = FloatVector.broadcast(S, a[a3 + p]).fma(b0, c3);
            c4 = FloatVector.broadcast(S, a[a4 + p]).fma(b0, c4);
            c5 = FloatVector.broadcast(S, a[a5 + p]).fma(b0, c5);
        }
        c0.intoArray(c, co); c1.intoArray(c, co + ldc); c2.intoArray(c, co + 2 * ldc);
        c3.intoArray(c, co + 3 * ldc); c4.intoArray(c, co + 4 * ldc); c5.intoArray(c, co + 5 * ldc);
    }

    /** {@link #packedTile} one vector wide: j < L. */
    private static void packedTile1(float[] a, int ao, float[] b, int bo, int k, float[] c, int co, int ldc) {
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
        for (int p = 0; p < k; p++) {
            int ap = ao + p * MR;
            FloatVector b0 = FloatVector.fromArray(S, b, bo + p * PB);
            c0 = FloatVector.broadcast(S, a[ap]).fma(b0, c0);
            c1 = FloatVector.broadcast(S, a[ap + 1]).fma(b0, c1);
            c2 = FloatVector.broadcast(S, a[ap + 2]).fma(b0, c2);
            c3 = FloatVector.broadcast(S, a[ap + 3]).fma(b0, c3);
            c4 = FloatVector.broadcast(S, a[ap + 4]).fma(b0, c4);
            c5 = FloatVector.broadcast(S, a[ap + 5]).fma(b0, c5);
        }
        // written out, not through a helper with FloatVector parameters: where C2's node budget stops
        // inlining such a helper (NodeCountInliningCutoff, seen on JDK 17), each call boxes its vectors
        FloatVector.fromArray(S, c, co).add(c0).intoArray(c, co);
        FloatVector.fromArray(S, c, co + ldc).add(c1).intoArray(c, co + ldc);
        FloatVector.fromArray(S, c, co + 2 * ldc).add(c2).intoArray(c, co + 2 * ldc);
        FloatVector.fromArray(S, c, co + 3 * ldc).add(c3).intoArray(c, co + 3 * ldc);
        FloatVector.fromArray(S, c, co + 4 * ldc).add(c4).intoArray(c, co + 4 * ldc);
        FloatVector.fromArray(S, c, co + 5 * ldc).add(c5).intoArray(c, co + 5 * ldc);
    }
}
