package dinoseg.bench;

import dinoseg.backend.MatrixView;
import dinoseg.backend.cpu.CpuBackend;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Throughput of the CPU backend's GEMM (and fused attention) on the shapes that matter: m=n=k=2048,
 * and every GEMM of a ViT-S/14 block (embed 384, hidden 1536) in training at 224 and 644 pixels
 * (257 and 2117 tokens per image), batch 1 and 4, in all three forms training uses — forward
 * x·Wᵀ ({@code NT}, m = tokens), input gradient dY·W ({@code NN}, m = tokens) and weight gradient
 * dYᵀ·X ({@code TN}, k = tokens) — plus attention with N=2117, H=6, D=64.
 *
 * <p>Each case is warmed by itself (it runs repeatedly for the time budget) and then timed for the
 * same budget; the best run counts. Prints one tab-separated line per case: name, wall-clock
 * GFLOP/s, best seconds, GFLOP per CPU-second of this process over the timed runs (stable when
 * other programs share the cores). {@code tools/bench_gemm.sh} runs every case in a fresh JVM and beside numpy + OpenBLAS.
 *
 * <pre>java --add-modules jdk.incubator.vector -cp target/classes dinoseg.bench.GemmBench [options] [filter]
 *   --ms N          time budget per case for warming and for timing, milliseconds (default 400)
 *   --exact         the filter is a whole case name, not a substring
 *   --mixed-warmup  first run every selected case once (a mixed JIT profile, as in a training step)
 *   --list          print the selected cases (name, transA, transB, m, n, k) and exit</pre>
 * Without {@code --add-modules jdk.incubator.vector} the scalar GEMM kernel runs; the first line
 * (starting with '#') names the kernel.
 */
public final class GemmBench {
    private GemmBench() { }

    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    /** One GEMM: C[m×n] = op(A)·op(B), A stored k×m when ta, B stored n×k when tb. */
    record Case(String name, boolean ta, boolean tb, int m, int n, int k) {
        double flops() { return 2.0 * m * n * k; }
    }

    /** The benchmarked GEMMs, in a fixed order. */
    static List<Case> cases() {
        List<Case> out = new ArrayList<>();
        out.add(new Case("NN 2048x2048x2048", false, false, 2048, 2048, 2048));
        String[] layers = {"qkv", "proj", "fc1", "fc2"};
        int[][] inOut = {{384, 1152}, {384, 384}, {384, 1536}, {1536, 384}};
        for (int imgsz : new int[] {224, 644})
            for (int batch : new int[] {1, 4}) {
                int g = imgsz / 14, t = batch * (1 + g * g);
                for (int l = 0; l < layers.length; l++) {
                    int in = inOut[l][0], outF = inOut[l][1];
                    String p = imgsz + " b" + batch + " " + layers[l] + " ";
                    out.add(new Case(p + "NT " + t + "x" + outF + "x" + in, false, true, t, outF, in));     // y = x·Wᵀ
                    out.add(new Case(p + "NN " + t + "x" + in + "x" + outF, false, false, t, in, outF));    // dX = dY·W
                    out.add(new Case(p + "TN " + outF + "x" + in + "x" + t, true, false, outF, in, t));     // dW = dYᵀ·X
                }
            }
        return out;
    }

    private static Tensor random(CpuBackend be, long n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[Math.toIntExact(n)];
        for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextDouble() - 0.5);
        return be.fromFloats(a, Shape.of(a.length));
    }

    /** Runs op for about budgetMs to warm it, then for about budgetMs more; prints the best run. */
    private static void report(String what, double flops, Runnable op, long budgetMs) {
        long budget = budgetMs * 1_000_000L;
        long start = System.nanoTime();
        int warm = 0;
        do { op.run(); warm++; } while (System.nanoTime() - start < budget || warm < 3);
        double bestWall = Double.MAX_VALUE;
        start = System.nanoTime();
        long cpu0 = OS.getProcessCpuTime();
        int runs = 0;
        do {
            long t0 = System.nanoTime();
            op.run();
            bestWall = Math.min(bestWall, (System.nanoTime() - t0) / 1e9);
            runs++;
        } while (System.nanoTime() - start < budget || runs < 3);
        double cpu = (OS.getProcessCpuTime() - cpu0) / 1e9;
        System.out.printf(Locale.ROOT, "%s\t%.1f\t%.6f\t%.1f%n", what, flops / bestWall / 1e9, bestWall, flops * runs / cpu / 1e9);
    }

    private static Runnable gemm(CpuBackend be, Case g) {
        Tensor a = random(be, (long) g.m() * g.k(), 1), b = random(be, (long) g.k() * g.n(), 2);
        Tensor c = be.zeros(Shape.of(Math.toIntExact((long) g.m() * g.n())));
        int lda = g.ta() ? g.m() : g.k(), ldb = g.tb() ? g.k() : g.n();
        MatrixView va = MatrixView.of(a, lda).t(g.ta()), vb = MatrixView.of(b, ldb).t(g.tb()), vc = MatrixView.of(c, g.n());
        return () -> be.gemm(g.m(), g.n(), g.k(), 1f, va, vb, 0f, vc, 1);
    }

    public static void main(String[] args) {
        long ms = 400;
        boolean exact = false, mixed = false, list = false;
        String only = "";
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--ms" -> ms = Long.parseLong(args[++i]);
                case "--exact" -> exact = true;
                case "--mixed-warmup" -> mixed = true;
                case "--list" -> list = true;
                default -> only = args[i];
            }
        }
        final String filter = only;
        final boolean whole = exact;
        java.util.function.Predicate<String> selected = s -> whole ? s.equals(filter) : s.contains(filter);
        List<Case> chosen = cases().stream().filter(g -> selected.test(g.name())).toList();
        if (list) {
            for (Case g : chosen)
                System.out.println(g.name() + "\t" + g.ta() + "\t" + g.tb() + "\t" + g.m() + "\t" + g.n() + "\t" + g.k());
            return;
        }
        CpuBackend be = new CpuBackend();
        be.setPrepack(false);   // whole products, packing included, as BLAS times them
        System.out.println("# " + be.name() + ", " + Runtime.getRuntime().availableProcessors() + " threads"); // the CPU pool has one per core
        if (mixed) for (Case g : chosen) gemm(be, g).run();
        for (Case g : chosen) report(g.name(), g.flops(), gemm(be, g), ms);
        int n = 2117, h = 6, d = 64;
        String fwdName = "attention fwd N=2117 H=6 D=64", bwdName = "attention bwd N=2117 H=6 D=64";
        if (!selected.test(fwdName) && !selected.test(bwdName)) return;
        Tensor qkv = random(be, (long) n * 3 * h * d, 3).reshape(1, n, 3 * h * d);
        Tensor out = be.empty(Shape.of(1, n, h * d)), lse = be.empty(Shape.of(1, h, n));
        Tensor gout = random(be, (long) n * h * d, 4).reshape(1, n, h * d), gqkv = be.empty(Shape.of(1, n, 3 * h * d));
        float scale = (float) (1 / Math.sqrt(d));
        double fwd = 4.0 * n * n * d * h, bwd = 2.5 * fwd;
        if (selected.test(fwdName)) report(fwdName, fwd, () -> be.attention(qkv, h, scale, out, lse), ms);
        if (selected.test(bwdName)) report(bwdName, bwd, () -> be.attentionBackward(qkv, out, lse, gout, h, scale, gqkv), ms);
    }
}
