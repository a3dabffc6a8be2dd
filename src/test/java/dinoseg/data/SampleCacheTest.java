package dinoseg.data;

import boofcv.struct.image.GrayF32;
import boofcv.struct.image.Planar;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The loader's decode-once cache: hits equal fresh decodes, the budget holds, order and errors are unchanged. */
class SampleCacheTest {
    @TempDir static Path tmp;
    static SegDataset train;
    static final int W = 37, H = 29;   // the fixture pictures' size

    @BeforeAll
    static void data() throws Exception {
        Path dir = Fixtures.rgbTree(tmp.resolve("ds"), ClassSet.voc(), 11, 2, W, H, 9, null);
        train = Datasets.open(DatasetSpec.ofDir(dir), null).train();
    }

    private static DataLoader.Options options(int workers, int prefetch, Augment.Mode mode, int size) {
        return new DataLoader.Options(4, true, false, 123, workers, prefetch, Augment.of(mode), Preprocess.of(size, 14, null));
    }

    private static void assertSameBatches(List<Batch> want, List<Batch> got, String what) {
        assertEquals(want.size(), got.size(), what);
        for (int b = 0; b < want.size(); b++) {
            assertEquals(want.get(b).ids(), got.get(b).ids(), what + " batch " + b);
            assertArrayEquals(want.get(b).images(), got.get(b).images(), what + " batch " + b);
            assertArrayEquals(want.get(b).labels(), got.get(b).labels(), what + " batch " + b);
        }
    }

    @Test
    void cacheHitsGiveTheBatchesOfAFreshDecodeInEveryModeAndForm() {
        // 14x14 targets are kept prepared (smaller than the 37x29 decoding) without augmentation; 42x42 ones as the decoding
        for (int size : new int[] {14, 42})
            for (Augment.Mode mode : Augment.Mode.values()) {
                String what = mode + " at " + size;
                try (DataLoader fresh = new DataLoader(train, options(2, 2, mode, size));
                     DataLoader cached = new DataLoader(train, options(2, 2, mode, size), 1L << 30)) {
                    for (int epoch = 0; epoch < 3; epoch++) assertSameBatches(fresh.all(epoch), cached.all(epoch), what + " epoch " + epoch);
                    SampleCache c = cached.cache();
                    assertEquals(11, c.size(), what);
                    assertEquals(11, c.misses(), what + ": each sample decoded once");
                    assertEquals(22, c.hits(), what + ": epochs 1 and 2 from the cache");
                    Object entry = c.get(0);
                    boolean prepared = mode == Augment.Mode.NONE && size == 14;
                    assertEquals(prepared ? SampleCache.Prepared.class : SampleCache.Decoded.class, entry.getClass(), what);
                }
            }
    }

    @Test
    void theCacheStaysWithinItsBudgetAndTheRestIsDecodedEachTime() {
        long one = SampleCache.decodedBytes(W, H);
        long budget = 4 * one + one / 2;   // room for 4 decoded entries
        try (DataLoader fresh = new DataLoader(train, options(2, 2, Augment.Mode.TUTORIAL, 28));
             DataLoader cached = new DataLoader(train, options(2, 2, Augment.Mode.TUTORIAL, 28), budget)) {
            for (int epoch = 0; epoch < 2; epoch++) assertSameBatches(fresh.all(epoch), cached.all(epoch), "epoch " + epoch);
            SampleCache c = cached.cache();
            assertEquals(4, c.size());
            assertEquals(4 * one, c.bytes());
            assertTrue(c.bytes() <= c.budget());
            assertEquals(4, c.hits(), "the 4 cached samples hit in epoch 1");
            assertEquals(18, c.misses(), "7 uncached samples decoded in both epochs, 4 in the first");
            assertEquals(14, c.refused(), "7 samples refused in each epoch");
        }
    }

    @Test
    void noBudgetMeansNoCache() {
        try (DataLoader dl = new DataLoader(train, options(1, 2, Augment.Mode.NONE, 14), 0)) {
            assertNull(dl.cache());
        }
        assertThrows(IllegalArgumentException.class, () -> new DataLoader(train, options(1, 2, Augment.Mode.NONE, 14), -1));
        SampleCache off = new SampleCache(3, 0);
        assertFalse(off.put(0, SampleCache.prepared(new float[3], new int[1]), 10));
        assertNull(off.get(0));
    }

    @Test
    void withACacheOrderAndAugmentationFollowTheSeedWhateverTheWorkersAndPrefetch() {
        List<List<Batch>> runs = new ArrayList<>();
        for (int[] wp : new int[][] {{1, 1}, {3, 4}, {2, 2}})
            try (DataLoader dl = new DataLoader(train, options(wp[0], wp[1], Augment.Mode.OFFICIAL, 28), 1L << 30)) {
                List<Batch> epochs = new ArrayList<>(dl.all(0));
                epochs.addAll(dl.all(1));
                runs.add(epochs);
            }
        assertSameBatches(runs.get(0), runs.get(1), "1 worker prefetch 1 vs 3 workers prefetch 4");
        assertSameBatches(runs.get(0), runs.get(2), "1 worker prefetch 1 vs 2 workers prefetch 2");
        // epochs differ (order and augmentation), so the cache did not freeze the first epoch's draws
        assertFalse(java.util.Arrays.equals(runs.get(0).get(0).images(), runs.get(0).get(3).images()));
    }

    @Test
    void aBadFileStillFailsWithOneLineNamingItAndIsNeverCached() throws Exception {
        Path dir = Fixtures.rgbTree(tmp.resolve("bad"), ClassSet.voc(), 3, 1, 16, 16, 4, null);
        Path bad = dir.resolve("train_images/train1.jpg");
        Fixtures.corrupt(bad);
        SegDataset ds = Datasets.open(DatasetSpec.ofDir(dir), null).train();
        try (DataLoader dl = new DataLoader(ds, DataLoader.Options.valid(3, Preprocess.of(14, 14, null)), 1L << 20)) {
            for (int epoch = 0; epoch < 2; epoch++) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> dl.all(0));
                assertTrue(e.getMessage().startsWith(bad + ": "), e.getMessage());
                assertFalse(e.getMessage().contains("\n"));
            }
            assertNull(dl.cache().get(1));
        }
        assertTrue(Files.size(bad) > 0);
    }

    @Test
    void entriesKeepLabelsBeyondAByteAndPixelsExactly() {
        int[] wide = {0, 255, 300, -1, 7, 65536};
        SampleCache.Prepared p = SampleCache.prepared(new float[18], wide);
        assertNull(p.labelBytes());
        assertArrayEquals(wide, p.labelInts());
        int[] narrow = {0, 255, 3, 200, 7, 1};
        SampleCache.Prepared q = SampleCache.prepared(new float[18], narrow);
        assertNotNull(q.labelBytes());
        assertEquals(6 + 18 * 4 + SampleCache.ENTRY_OVERHEAD, q.bytes());

        Planar<GrayF32> img = new Planar<>(GrayF32.class, 3, 2, 3);
        for (int c = 0; c < 3; c++) for (int i = 0; i < 6; i++) img.getBand(c).data[i] = (c * 97 + i * 51) % 256;
        SampleCache.Decoded d = SampleCache.decoded(img, wide);
        assertArrayEquals(wide, d.labels());
        Planar<GrayF32> back = d.image(null);
        for (int c = 0; c < 3; c++) assertArrayEquals(img.getBand(c).data, back.getBand(c).data);
        SampleCache.Decoded e = SampleCache.decoded(img, narrow);
        assertArrayEquals(narrow, e.labels());
        assertEquals(SampleCache.decodedBytes(3, 2), e.bytes());
        Planar<GrayF32> reuse = new Planar<>(GrayF32.class, 3, 2, 3);
        assertSame(reuse, e.image(reuse));
    }

    @Test
    void theBudgetPropertyIsReadInMibAndBadValuesFailWithOneLine() {
        String before = System.getProperty(SampleCache.BUDGET_PROPERTY);
        try {
            System.setProperty(SampleCache.BUDGET_PROPERTY, "0");
            assertEquals(0, SampleCache.defaultBudgetBytes());
            System.setProperty(SampleCache.BUDGET_PROPERTY, "12");
            assertEquals(12L << 20, SampleCache.defaultBudgetBytes());
            System.setProperty(SampleCache.BUDGET_PROPERTY, "lots");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, SampleCache::defaultBudgetBytes);
            assertTrue(e.getMessage().startsWith("-D" + SampleCache.BUDGET_PROPERTY + "=lots: "), e.getMessage());
            System.setProperty(SampleCache.BUDGET_PROPERTY, "-3");
            assertThrows(IllegalArgumentException.class, SampleCache::defaultBudgetBytes);
            System.clearProperty(SampleCache.BUDGET_PROPERTY);
            assertEquals((long) (SampleCache.DEFAULT_HEAP_SHARE * Runtime.getRuntime().maxMemory()), SampleCache.defaultBudgetBytes());
        } finally {
            if (before == null) System.clearProperty(SampleCache.BUDGET_PROPERTY);
            else System.setProperty(SampleCache.BUDGET_PROPERTY, before);
        }
    }
}
