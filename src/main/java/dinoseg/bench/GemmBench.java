package dinoseg.bench;

import dinoseg.backend.MatrixView;
import dinoseg.backend.cpu.CpuBackend;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import java.lang.management.ManagementFactory;
import java.util.SplittableRandom;

/**
 * Throughput of the CPU backend's GEMM (and fused attention) on the shapes that matter:
 * m=n=k=2048 and the ViT-S/14 linear layers at 518×518 (2116 tokens + 1), plus attention with
 * N=2117, H=6, D=64. Prints the best of several runs, wall-clock GFLOP/s and GFLOP per CPU-second
 * of this process (the latter is stable when other programs share the cores).
 *
 * <pre>java --add-modules jdk.incubator.vector -cp target/classes dinoseg.bench.GemmBench [repeats [name-filter]]</pre>
 * Without {@code --add-modules jdk.incubator.vector} the scalar GEMM kernel runs; the first line
 * names the kernel.
 */
public final class GemmBench {
    private GemmBench() { }

    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    private static Tensor random(CpuBackend be, int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble() - 0.5);
        return be.fromFloats(a, Shape.of(n));
    }

    /** Only benchmarks whose name contains this (second argument), or all. */
    private static String only = "";

    private static void report(String what, double flops, Runnable op, int repeats) {
        if (!what.contains(only)) return;
        double bestWall = Double.MAX_VALUE, bestCpu = Double.MAX_VALUE;
        for (int i = 0; i < repeats; i++) {
            long t0 = System.nanoTime(), c0 = OS.getProcessCpuTime();
            op.run();
            bestWall = Math.min(bestWall, (System.nanoTime() - t0) / 1e9);
            bestCpu = Math.min(bestCpu, (OS.getProcessCpuTime() - c0) / 1e9);
        }
        System.out.printf("%-34s %8.1f GFLOP/s  (%.3f s; %.1f GFLOP per CPU-second)%n",
                what, flops / bestWall / 1e9, bestWall, flops / bestCpu / 1e9);
    }

    private static void gemm(CpuBackend be, String name, boolean transA, boolean transB, int m, int n, int k, int repeats) {
        Tensor a = random(be, m * k, 1), b = random(be, k * n, 2), c = be.zeros(Shape.of(m * n));
        int lda = transA ? m : k, ldb = transB ? k : n;
        report(String.format("gemm %s %dx%dx%d", name, m, n, k), 2.0 * m * n * k,
                () -> be.gemm(m, n, k, 1f, MatrixView.of(a, lda).t(transA), MatrixView.of(b, ldb).t(transB), 0f, MatrixView.of(c, n), 1), repeats);
    }

    public static void main(String[] args) {
        int repeats = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        if (args.length > 1) only = args[1];
        CpuBackend be = new CpuBackend();
        System.out.println(be.name() + ", " + Runtime.getRuntime().availableProcessors() + " threads"); // the CPU pool has one per core
        gemm(be, "NN", false, false, 2048, 2048, 2048, repeats);
        gemm(be, "qkv  x·Wᵀ", false, true, 2117, 1152, 384, repeats);
        gemm(be, "fc1  x·Wᵀ", false, true, 2117, 1536, 384, repeats);
        gemm(be, "fc2  x·Wᵀ", false, true, 2117, 384, 1536, repeats);
        gemm(be, "dWfc1 gᵀ·x", true, false, 1536, 384, 2117, repeats);
        int n = 2117, h = 6, d = 64;
        Tensor qkv = random(be, n * 3 * h * d, 3).reshape(1, n, 3 * h * d);
        Tensor out = be.empty(Shape.of(1, n, h * d)), lse = be.empty(Shape.of(1, h, n));
        Tensor gout = random(be, n * h * d, 4).reshape(1, n, h * d), gqkv = be.empty(Shape.of(1, n, 3 * h * d));
        float scale = (float) (1 / Math.sqrt(d));
        double fwd = 4.0 * n * n * d * h, bwd = 2.5 * fwd;
        report("attention fwd N=2117 H=6 D=64", fwd, () -> be.attention(qkv, h, scale, out, lse), repeats);
        report("attention bwd N=2117 H=6 D=64", bwd,
                () -> be.attentionBackward(qkv, out, lse, gout, h, scale, gqkv), repeats);
    }
}
