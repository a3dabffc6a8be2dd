package dinoseg.train;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;

/**
 * Peak Java heap use over a stretch of work, from the JVM's memory pools: {@link #reset} clears
 * every heap pool's peak, {@link #peakBytes} sums the pools' peaks since then (an upper bound of the
 * heap in use at any one moment, the figure a GC log would show), and never less than the heap in
 * use now.
 */
public final class PeakMemory {
    private PeakMemory() { }

    public static void reset() {
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans())
            if (p.getType() == MemoryType.HEAP && p.isValid()) p.resetPeakUsage();
    }

    public static long peakBytes() {
        long sum = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans())
            if (p.getType() == MemoryType.HEAP && p.isValid() && p.getPeakUsage() != null) sum += p.getPeakUsage().getUsed();
        return Math.max(sum, usedBytes());
    }

    /** Heap in use now. */
    public static long usedBytes() {
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    /** The most heap the JVM will use (-Xmx, or its default). */
    public static long maxHeapBytes() {
        return Runtime.getRuntime().maxMemory();
    }

    public static double mib(long bytes) { return bytes / (1024.0 * 1024.0); }
}
