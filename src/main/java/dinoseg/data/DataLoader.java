package dinoseg.data;

import boofcv.struct.image.GrayF32;
import boofcv.struct.image.Planar;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Parallel, deterministic batch loader. Worker threads decode and augment samples straight into the
 * batch arrays; at most {@code prefetch} batches are in flight ahead of the consumer.
 *
 * <p>Determinism: the epoch's order is a shuffle seeded by (seed, epoch), and each sample's augmentation
 * draws from a random source seeded by (seed, epoch, dataset index), so the same seed gives the same
 * batches in the same order whatever the number of workers.
 *
 * <p>The loader parallelises across samples, so it turns BoofCV's own per-image threading off
 * ({@code BoofConcurrency.USE_CONCURRENT = false}, a process-wide switch) to avoid oversubscribing cores.
 *
 * <p>With a cache budget ({@link #DataLoader(SegDataset, Options, long)}) each sample's files are
 * decoded once: later epochs take it from a {@link SampleCache} (the decoded picture and mask, or,
 * without augmentation, the finished arrays), with batches identical to those of a loader without one.
 */
public final class DataLoader implements AutoCloseable {

    /**
     * Loader settings.
     *
     * @param batchSize samples per batch
     * @param shuffle   shuffle the order every epoch
     * @param dropLast  drop a final batch smaller than batchSize
     * @param seed      seed of order and augmentation
     * @param workers   worker threads (0 or less: all cores)
     * @param prefetch  batches prepared ahead of the consumer (at least 1)
     * @param augment   augmentation ({@link Augment#none()} for validation)
     * @param preprocess target size
     */
    public record Options(int batchSize, boolean shuffle, boolean dropLast, long seed, int workers, int prefetch,
                          Augment augment, Preprocess preprocess) {
        /** Training defaults: shuffle, drop-last, all cores, prefetch 2. */
        public static Options train(int batchSize, long seed, Augment augment, Preprocess pre) {
            return new Options(batchSize, true, true, seed, 0, 2, augment, pre);
        }

        /** Validation defaults: fixed order, keep the last batch, no augmentation. */
        public static Options valid(int batchSize, Preprocess pre) {
            return new Options(batchSize, false, false, 0, 0, 2, Augment.none(), pre);
        }
    }

    private final SegDataset dataset;
    private final Options opt;
    private final ExecutorService pool;
    private final int workers;
    private final SampleCache cache;   // null: decode every sample every time

    /** Per-thread picture rebuilt from a cached decoding (the preprocessing reads it, never keeps it). */
    private static final ThreadLocal<Planar<GrayF32>> PICTURE = new ThreadLocal<>();

    /** Starts the worker threads (daemon threads; {@link #close()} stops them); no cache: every epoch decodes the files. */
    public DataLoader(SegDataset dataset, Options options) {
        this(dataset, options, 0);
    }

    /**
     * Starts the worker threads with a decode-once cache of at most {@code cacheBudgetBytes} bytes
     * ({@link SampleCache}; 0: none).
     *
     * @throws IllegalArgumentException when the batch size is not positive or the budget is negative
     */
    public DataLoader(SegDataset dataset, Options options, long cacheBudgetBytes) {
        if (options.batchSize() <= 0) throw new IllegalArgumentException("batch size must be positive, got " + options.batchSize());
        if (cacheBudgetBytes < 0) throw new IllegalArgumentException("cache budget must not be negative, got " + cacheBudgetBytes);
        this.dataset = dataset;
        this.opt = options;
        this.cache = cacheBudgetBytes > 0 ? new SampleCache(dataset.size(), cacheBudgetBytes) : null;
        boofcv.concurrency.BoofConcurrency.USE_CONCURRENT = false;
        this.workers = options.workers() > 0 ? options.workers() : Runtime.getRuntime().availableProcessors();
        AtomicInteger n = new AtomicInteger();
        ThreadFactory tf = r -> {
            Thread t = new Thread(r, "dinoseg-loader-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
        this.pool = Executors.newFixedThreadPool(workers, tf);
    }

    /** Worker threads in use. */
    public int workers() { return workers; }

    /** The decode-once cache, or null when this loader has none. */
    public SampleCache cache() { return cache; }

    /** Batches per epoch (respecting drop-last). */
    public int batchesPerEpoch() {
        int n = dataset.size(), b = opt.batchSize();
        return opt.dropLast() ? n / b : (n + b - 1) / b;
    }

    /** The sample order of an epoch: dataset indices, shuffled by (seed, epoch) when shuffling. */
    public int[] order(int epoch) {
        int n = dataset.size();
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        if (opt.shuffle()) {
            SplittableRandom r = new SplittableRandom(mix(opt.seed(), epoch, -1));
            for (int i = n - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = idx[i]; idx[i] = idx[j]; idx[j] = t;
            }
        }
        return idx;
    }

    /** The random source of one sample in one epoch. */
    public static SplittableRandom sampleRandom(long seed, int epoch, int index) {
        return new SplittableRandom(mix(seed, epoch, index));
    }

    /** The batches of epoch {@code epoch} (0-based), produced in the background as they are consumed. */
    public Iterator<Batch> epoch(int epoch) {
        return epoch(epoch, 0);
    }

    /**
     * The batches of epoch {@code epoch} from batch {@code firstBatch} on (0-based): the same batches
     * {@link #epoch(int)} gives after its first {@code firstBatch}, without loading those (order and
     * augmentation are functions of seed, epoch and index, so a run resumed mid-epoch sees the rest).
     */
    public Iterator<Batch> epoch(int epoch, int firstBatch) {
        int[] order = order(epoch);
        int nb = batchesPerEpoch(), b = opt.batchSize();
        if (firstBatch < 0 || firstBatch > nb)
            throw new IllegalArgumentException("first batch " + firstBatch + " outside [0, " + nb + "] of an epoch");
        return new Iterator<>() {
            private final ArrayDeque<Pending> queue = new ArrayDeque<>();
            private int submitted = firstBatch;

            private void fill() {
                while (submitted < nb && queue.size() < Math.max(1, opt.prefetch())) {
                    int start = submitted * b, end = Math.min(order.length, start + b);
                    queue.add(submit(epoch, order, start, end));
                    submitted++;
                }
            }

            @Override public boolean hasNext() {
                return !queue.isEmpty() || submitted < nb;
            }

            @Override public Batch next() {
                if (!hasNext()) throw new NoSuchElementException();
                fill();
                Pending p = queue.poll();
                fill();
                return p.await();
            }
        };
    }

    /** Every batch of an epoch, in order (handy for validation and tests). */
    public List<Batch> all(int epoch) {
        List<Batch> out = new ArrayList<>();
        epoch(epoch).forEachRemaining(out::add);
        return out;
    }

    private record Pending(Batch batch, List<Future<?>> parts) {
        Batch await() {
            try {
                for (Future<?> f : parts) f.get();
            } catch (ExecutionException e) {
                for (Future<?> f : parts) f.cancel(false);
                Throwable c = e.getCause();
                if (c instanceof RuntimeException re) throw re;
                throw new IllegalStateException(ImageIOUtil.oneLine(c), c);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("data loader interrupted");
            }
            return batch;
        }
    }

    private Pending submit(int epoch, int[] order, int start, int end) {
        int n = end - start, h = opt.preprocess().height(), w = opt.preprocess().width();
        float[] images = new float[n * 3 * h * w];
        int[] labels = new int[n * h * w];
        List<String> ids = new ArrayList<>(n);
        List<Future<?>> parts = new ArrayList<>(n);
        int ignore = dataset.classes().ignoreIndex();
        for (int k = 0; k < n; k++) {
            int index = order[start + k];
            int slot = k;
            ids.add(dataset.sample(index).id());
            parts.add(pool.submit(() -> loadInto(epoch, index, images, slot * 3 * h * w, labels, slot * h * w, ignore)));
        }
        return new Pending(new Batch(images, labels, n, h, w, List.copyOf(ids)), parts);
    }

    /**
     * Sample {@code index} of epoch {@code epoch} into the batch arrays: from the cache when it holds
     * the sample, else decoded from its files (and offered to the cache: the finished arrays when the
     * loader does not augment and they are the smaller form, else the decoding).
     */
    private void loadInto(int epoch, int index, float[] images, int imageOffset, int[] labels, int labelOffset, int ignore) {
        Preprocess pre = opt.preprocess();
        int w = pre.width(), h = pre.height();
        Object hit = cache == null ? null : cache.get(index);
        if (hit instanceof SampleCache.Prepared p) {
            System.arraycopy(p.chw(), 0, images, imageOffset, p.chw().length);
            if (p.labelInts() != null) System.arraycopy(p.labelInts(), 0, labels, labelOffset, w * h);
            else for (int i = 0, n = w * h; i < n; i++) labels[labelOffset + i] = p.labelBytes()[i] & 255;
            return;
        }
        if (hit instanceof SampleCache.Decoded d) {
            Planar<GrayF32> picture = d.image(PICTURE.get());
            PICTURE.set(picture);
            pre.apply(picture, d.labels(), ignore, opt.augment(), sampleRandom(opt.seed(), epoch, index), images, imageOffset, labels, labelOffset);
            return;
        }
        SegDataset.Item item = dataset.load(index);
        pre.apply(item.image(), item.mask().labels(), ignore, opt.augment(), sampleRandom(opt.seed(), epoch, index), images, imageOffset, labels, labelOffset);
        if (cache == null) return;
        int iw = item.image().width, ih = item.image().height;
        if (opt.augment().mode() == Augment.Mode.NONE && SampleCache.preparedBytes(w, h) <= SampleCache.decodedBytes(iw, ih)) {
            SampleCache.Prepared p = SampleCache.prepared(java.util.Arrays.copyOfRange(images, imageOffset, imageOffset + 3 * w * h),
                    java.util.Arrays.copyOfRange(labels, labelOffset, labelOffset + w * h));
            cache.put(index, p, p.bytes());
        } else {
            SampleCache.Decoded d = SampleCache.decoded(item.image(), item.mask().labels());
            cache.put(index, d, d.bytes());
        }
    }

    /** SplitMix64-style mixing of (seed, epoch, index) into one well-spread seed. */
    static long mix(long seed, int epoch, int index) {
        long z = seed * 0x9E3779B97F4A7C15L + epoch * 0xBF58476D1CE4E5B9L + (index + 1L) * 0x94D049BB133111EBL;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Stops the workers. */
    @Override public void close() {
        pool.shutdownNow();
    }
}
