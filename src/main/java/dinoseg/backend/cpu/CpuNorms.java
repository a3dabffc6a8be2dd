package dinoseg.backend.cpu;

import dinoseg.tensor.Tensor;

import static dinoseg.backend.cpu.CpuStorage.floats;
import static dinoseg.backend.cpu.CpuStorage.ints;

/** LayerNorm and BatchNorm2d on the CPU, forward and backward; statistics accumulate in double. */
final class CpuNorms {
    private CpuNorms() { }

    /** LayerNorm over the last dimension; mean and rstd (either may be null) receive the row statistics. */
    static void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        int c = x.dim(-1);
        int rows = c == 0 ? 0 : (int) (x.numel() / c);
        float[] a = floats(x), o = floats(y);
        float[] mu = mean == null ? null : floats(mean), rs = rstd == null ? null : floats(rstd);
        float[] g = gamma == null ? null : floats(gamma), bt = beta == null ? null : floats(beta);
        if (CpuGemm.VECTOR_AVAILABLE) {
            Parallel.forRange(rows, 2L * c, (s, e) -> {
                double[] st = new double[2];
                for (int r = s; r < e; r++) {
                    VectorNorms.layerNormRow(a, o, r * c, c, eps, g, bt, st);
                    if (mu != null) mu[r] = (float) st[0];
                    if (rs != null) rs[r] = (float) st[1];
                }
            });
            return;
        }
        Parallel.forRange(rows, 6L * c, (s, e) -> {
            for (int r = s; r < e; r++) {
                int base = r * c;
                double sum = 0;
                for (int j = 0; j < c; j++) sum += a[base + j];
                double m = sum / c;
                double sq = 0;
                for (int j = 0; j < c; j++) { double dv = a[base + j] - m; sq += dv * dv; }
                double rsd = 1.0 / Math.sqrt(sq / c + eps);
                if (mu != null) mu[r] = (float) m;
                if (rs != null) rs[r] = (float) rsd;
                for (int j = 0; j < c; j++) {
                    float v = (float) ((a[base + j] - m) * rsd);
                    if (g != null) v *= g[j];
                    if (bt != null) v += bt[j];
                    o[base + j] = v;
                }
            }
        });
    }

    static void layerNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd,
                                            Tensor gx, Tensor ggamma, Tensor gbeta) {
        int c = x.dim(-1);
        int rows = c == 0 ? 0 : (int) (x.numel() / c);
        float[] g = floats(gy), a = floats(x), mu = floats(mean), rs = floats(rstd), o = floats(gx);
        float[] gm = gamma == null ? null : floats(gamma);
        boolean wantParams = ggamma != null || gbeta != null;
        int chunks = wantParams ? (int) Math.max(1, Math.min(Parallel.THREADS, (long) rows * c / Parallel.MIN_WORK)) : 1;
        double[][] pg = new double[chunks][], pb = new double[chunks][];
        Parallel.Chunk body = (id, s, e) -> {
            double[] accG = wantParams ? new double[c] : null, accB = wantParams ? new double[c] : null;
            for (int r = s; r < e; r++) {
                int base = r * c;
                float m = mu[r], rsd = rs[r];
                double sumD = 0, sumDX = 0;
                for (int j = 0; j < c; j++) {
                    float xh = (a[base + j] - m) * rsd;
                    float gv = g[base + j];
                    float d = gm == null ? gv : gv * gm[j];
                    sumD += d;
                    sumDX += d * xh;
                    if (wantParams) { accG[j] += gv * xh; accB[j] += gv; }
                }
                float meanD = (float) (sumD / c), meanDX = (float) (sumDX / c);
                for (int j = 0; j < c; j++) {
                    float xh = (a[base + j] - m) * rsd;
                    float d = gm == null ? g[base + j] : g[base + j] * gm[j];
                    o[base + j] = rsd * (d - meanD - xh * meanDX);
                }
            }
            if (wantParams) {
                pg[id] = accG;
                pb[id] = accB;
            }
        };
        if (!wantParams) Parallel.forRange(rows, 8L * c, (s, e) -> body.run(0, s, e));
        else Parallel.forChunks(rows, chunks, body);
        if (ggamma != null) reduceInto(pg, floats(ggamma), c);
        if (gbeta != null) reduceInto(pb, floats(gbeta), c);
    }

    private static void reduceInto(double[][] parts, float[] dst, int c) {
        for (int j = 0; j < c; j++) {
            double s = 0;
            for (double[] p : parts) if (p != null) s += p[j];
            dst[j] = (float) s;
        }
    }

    static void batchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                    boolean training, float momentum, float eps, Tensor y, Tensor saveMean, Tensor saveRstd) {
        int b = x.dim(0), ch = x.dim(1), hw = x.dim(2) * x.dim(3);
        long count = (long) b * hw;
        float[] a = floats(x), o = floats(y);
        float[] g = gamma == null ? null : floats(gamma), bt = beta == null ? null : floats(beta);
        float[] rm = runningMean == null ? null : floats(runningMean), rv = runningVar == null ? null : floats(runningVar);
        float[] sm = saveMean == null ? null : floats(saveMean), sr = saveRstd == null ? null : floats(saveRstd);
        Parallel.forRange(ch, 6L * count, (s, e) -> {
            for (int c = s; c < e; c++) {
                double m, rsd;
                if (training) {
                    double sum = 0;
                    for (int bi = 0; bi < b; bi++) {
                        int base = (bi * ch + c) * hw;
                        for (int i = 0; i < hw; i++) sum += a[base + i];
                    }
                    m = sum / count;
                    double sq = 0;
                    for (int bi = 0; bi < b; bi++) {
                        int base = (bi * ch + c) * hw;
                        for (int i = 0; i < hw; i++) { double dv = a[base + i] - m; sq += dv * dv; }
                    }
                    double var = sq / count;
                    rsd = 1.0 / Math.sqrt(var + eps);
                    if (rm != null) rm[c] = (float) ((1 - momentum) * rm[c] + momentum * m);
                    if (rv != null) {
                        double unbiased = count > 1 ? sq / (count - 1) : var;
                        rv[c] = (float) ((1 - momentum) * rv[c] + momentum * unbiased);
                    }
                } else {
                    m = rm[c];
                    rsd = 1.0 / Math.sqrt(rv[c] + (double) eps);
                }
                if (sm != null) sm[c] = (float) m;
                if (sr != null) sr[c] = (float) rsd;
                float sc = (float) (rsd * (g == null ? 1.0 : g[c]));
                float sh = (float) ((bt == null ? 0.0 : bt[c]) - m * rsd * (g == null ? 1.0 : g[c]));
                for (int bi = 0; bi < b; bi++) {
                    int base = (bi * ch + c) * hw;
                    for (int i = 0; i < hw; i++) o[base + i] = a[base + i] * sc + sh;
                }
            }
        });
    }

    static void batchNormBackward(Tensor gy, Tensor x, Tensor gamma, Tensor saveMean, Tensor saveRstd,
                                            boolean training, Tensor gx, Tensor ggamma, Tensor gbeta) {
        int b = x.dim(0), ch = x.dim(1), hw = x.dim(2) * x.dim(3);
        long count = (long) b * hw;
        float[] g = floats(gy), a = floats(x), o = floats(gx);
        float[] gm = gamma == null ? null : floats(gamma);
        float[] sm = floats(saveMean), sr = floats(saveRstd);
        float[] gg = ggamma == null ? null : floats(ggamma), gb = gbeta == null ? null : floats(gbeta);
        Parallel.forRange(ch, 8L * count, (s, e) -> {
            for (int c = s; c < e; c++) {
                double m = sm[c], rsd = sr[c], w = gm == null ? 1.0 : gm[c];
                double sumG = 0, sumGX = 0;
                for (int bi = 0; bi < b; bi++) {
                    int base = (bi * ch + c) * hw;
                    for (int i = 0; i < hw; i++) {
                        double gv = g[base + i];
                        sumG += gv;
                        sumGX += gv * (a[base + i] - m) * rsd;
                    }
                }
                if (gg != null) gg[c] = (float) sumGX;
                if (gb != null) gb[c] = (float) sumG;
                if (training) {
                    double meanG = sumG / count, meanGX = sumGX / count;
                    for (int bi = 0; bi < b; bi++) {
                        int base = (bi * ch + c) * hw;
                        for (int i = 0; i < hw; i++) {
                            double xh = (a[base + i] - m) * rsd;
                            o[base + i] = (float) (w * rsd * (g[base + i] - meanG - xh * meanGX));
                        }
                    }
                } else {
                    float f = (float) (w * rsd);
                    for (int bi = 0; bi < b; bi++) {
                        int base = (bi * ch + c) * hw;
                        for (int i = 0; i < hw; i++) o[base + i] = g[base + i] * f;
                    }
                }
            }
        });
    }
}
