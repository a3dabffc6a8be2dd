package dinoseg.bench;

import dinoseg.data.Augment;
import dinoseg.data.Batch;
import dinoseg.data.DataLoader;
import dinoseg.data.DatasetSpec;
import dinoseg.data.Datasets;
import dinoseg.data.DemoData;
import dinoseg.data.Preprocess;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;

/**
 * Measures loader throughput (images/s): decode + augmentation + normalisation + batching.
 *
 * <pre>java -cp target/dinoseg.jar dinoseg.bench.LoaderBench [--data DIR] [--size 644] [--augment tutorial]
 *     [--workers N] [--batch 8] [--epochs 3] [--patch 14]</pre>
 * {@code --size} is rounded up to a multiple of {@code --patch} (the model's patch size; 14 for every DINOv2
 * preset). Without {@code --data} it generates the demo data (seed 0) in a temporary folder. The first epoch is
 * warm-up; the rate printed is over the remaining epochs, with images per CPU-second (process CPU
 * time), which stays meaningful on a machine shared with other work.
 */
public final class LoaderBench {
    private LoaderBench() {}

    /** CPU time of the whole process (all threads, GC and JIT included). */
    private static long processCpuNanos() {
        java.lang.management.OperatingSystemMXBean os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun) return sun.getProcessCpuTime();
        return 0;
    }

    public static void main(String[] args) throws Exception {
        Path data = null;
        int size = 644, workers = 0, batch = 8, epochs = 3, patch = 14;
        Augment.Mode mode = Augment.Mode.TUTORIAL;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--data" -> data = Path.of(args[++i]);
                case "--size" -> size = Integer.parseInt(args[++i]);
                case "--workers" -> workers = Integer.parseInt(args[++i]);
                case "--batch" -> batch = Integer.parseInt(args[++i]);
                case "--epochs" -> epochs = Integer.parseInt(args[++i]);
                case "--patch" -> patch = Integer.parseInt(args[++i]);
                case "--augment" -> mode = Augment.Mode.parse(args[++i]);
                default -> throw new IllegalArgumentException("LoaderBench: unknown argument " + args[i]);
            }
        }
        if (epochs < 2) throw new IllegalArgumentException("LoaderBench: --epochs must be at least 2 (the first is warm-up)");
        Path tmp = null;
        if (data == null) {
            tmp = Files.createTempDirectory("dinoseg-bench");
            DemoData.generate(tmp, 0);
            data = tmp;
        }
        try {
            Datasets.Opened o = Datasets.open(DatasetSpec.ofDir(data), System.err::println);
            DataLoader.Options opt = new DataLoader.Options(batch, true, true, 1, workers, 4, Augment.of(mode), Preprocess.of(size, patch, System.err::println));
            try (DataLoader dl = new DataLoader(o.train(), opt)) {
                int images = 0;
                long start = 0, cpuStart = 0;
                for (int e = 0; e < epochs; e++) {
                    if (e == 1) {
                        start = System.nanoTime();
                        cpuStart = processCpuNanos();
                    }
                    Iterator<Batch> it = dl.epoch(e);
                    while (it.hasNext()) {
                        Batch b = it.next();
                        if (e >= 1) images += b.n();
                    }
                }
                double s = (System.nanoTime() - start) / 1e9;
                double cpu = (processCpuNanos() - cpuStart) / 1e9;
                System.out.printf(java.util.Locale.ROOT, "loader: %.1f images/s at %dx%d, augment %s, %d workers, batch %d (%d images in %.2f s; "
                                + "%.1f images per CPU-second, %d cores, load average %.1f)%n",
                        images / s, opt.preprocess().width(), opt.preprocess().height(), mode.name().toLowerCase(java.util.Locale.ROOT),
                        dl.workers(), batch, images, s, images / cpu, Runtime.getRuntime().availableProcessors(),
                        java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
            }
        } finally {
            if (tmp != null) try (var w = Files.walk(tmp)) {
                w.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
