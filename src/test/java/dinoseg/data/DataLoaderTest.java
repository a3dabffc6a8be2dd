package dinoseg.data;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class DataLoaderTest {
    @TempDir static Path tmp;
    static SegDataset train;

    @BeforeAll
    static void data() throws Exception {
        // 11 pairs of odd sizes so batches of 4 leave a remainder
        Path dir = Fixtures.rgbTree(tmp.resolve("ds"), ClassSet.voc(), 11, 2, 37, 29, 9, null);
        train = Datasets.open(DatasetSpec.ofDir(dir), null).train();
    }

    private static List<Batch> run(int workers, long seed, Augment.Mode mode, int epoch, boolean dropLast) {
        DataLoader.Options o = new DataLoader.Options(4, true, dropLast, seed, workers, 2, Augment.of(mode), Preprocess.of(42, 14, null));
        try (DataLoader dl = new DataLoader(train, o)) {
            return dl.all(epoch);
        }
    }

    @Test
    void sameSeedGivesIdenticalBatchesWhateverTheWorkerCount() {
        for (Augment.Mode mode : Augment.Mode.values()) {
            List<Batch> one = run(1, 123, mode, 1, true);
            List<Batch> three = run(3, 123, mode, 1, true);
            assertEquals(one.size(), three.size());
            for (int b = 0; b < one.size(); b++) {
                assertEquals(one.get(b).ids(), three.get(b).ids(), mode + " batch " + b);
                assertArrayEquals(one.get(b).images(), three.get(b).images(), mode + " batch " + b);
                assertArrayEquals(one.get(b).labels(), three.get(b).labels(), mode + " batch " + b);
            }
        }
    }

    @Test
    void epochsAndSeedsChangeOrderAndAugmentation() {
        List<Batch> e0 = run(2, 5, Augment.Mode.TUTORIAL, 0, false);
        List<Batch> e1 = run(2, 5, Augment.Mode.TUTORIAL, 1, false);
        List<Batch> other = run(2, 6, Augment.Mode.TUTORIAL, 0, false);
        assertNotEquals(ids(e0), ids(e1));
        assertNotEquals(ids(e0), ids(other));
        assertEquals(new HashSet<>(ids(e0)), new HashSet<>(ids(e1)));
        assertFalse(java.util.Arrays.equals(e0.get(0).images(), run(2, 6, Augment.Mode.TUTORIAL, 0, false).get(0).images()));
    }

    @Test
    void batchShapesDropLastAndCoverage() {
        List<Batch> keep = run(2, 1, Augment.Mode.NONE, 0, false);
        assertEquals(3, keep.size());
        assertEquals(4, keep.get(0).n());
        assertEquals(3, keep.get(2).n());
        assertEquals(11, new HashSet<>(ids(keep)).size());
        Batch b = keep.get(0);
        assertEquals(42, b.h());
        assertEquals(42, b.w());
        assertEquals(4 * 3 * 42 * 42, b.images().length);
        assertEquals(4 * 42 * 42, b.labels().length);
        List<Batch> drop = run(2, 1, Augment.Mode.NONE, 0, true);
        assertEquals(2, drop.size());
        for (Batch x : drop) assertEquals(4, x.n());
        // labels are class ids or the ignore index, images normalised
        for (int l : b.labels()) assertTrue(l == 255 || (l >= 0 && l < 21), "label " + l);
        for (float v : b.images()) assertTrue(v > -2.2f && v < 2.7f, "value " + v);
    }

    @Test
    void unshuffledValidationKeepsDatasetOrderAndMatchesDirectPreprocessing() {
        Preprocess pre = Preprocess.of(28, 14, null);
        try (DataLoader dl = new DataLoader(train, DataLoader.Options.valid(5, pre))) {
            List<Batch> all = dl.all(0);
            List<String> expected = new ArrayList<>();
            for (SegDataset.Sample s : train.samples()) expected.add(s.id());
            assertEquals(expected, ids(all));
            SegDataset.Item item = train.load(7);
            float[] img = new float[3 * 28 * 28];
            int[] lab = new int[28 * 28];
            pre.apply(item.image(), item.mask().labels(), 255, Augment.none(), DataLoader.sampleRandom(0, 0, 7), img, 0, lab, 0);
            Batch b = all.get(1); // samples 5..9
            float[] got = java.util.Arrays.copyOfRange(b.images(), 2 * img.length, 3 * img.length);
            assertArrayEquals(img, got);
            assertArrayEquals(lab, java.util.Arrays.copyOfRange(b.labels(), 2 * lab.length, 3 * lab.length));
        }
    }

    @Test
    void aBadFileFailsTheBatchWithOneLineNamingIt() throws Exception {
        Path dir = Fixtures.rgbTree(tmp.resolve("bad"), ClassSet.voc(), 3, 1, 16, 16, 4, null);
        Path bad = dir.resolve("train_labels/train2.png");
        Fixtures.corrupt(bad);
        SegDataset ds = Datasets.open(DatasetSpec.ofDir(dir), null).train();
        try (DataLoader dl = new DataLoader(ds, DataLoader.Options.valid(3, Preprocess.of(14, 14, null)))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> dl.all(0));
            assertTrue(e.getMessage().startsWith(bad.toString() + ": "), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
        }
        assertTrue(Files.size(bad) > 0);
    }

    private static List<String> ids(List<Batch> batches) {
        List<String> out = new ArrayList<>();
        for (Batch b : batches) out.addAll(b.ids());
        return out;
    }

    @Test
    void orderIsAPermutation() {
        try (DataLoader dl = new DataLoader(train, DataLoader.Options.train(4, 77, Augment.none(), Preprocess.of(14, 14, null)))) {
            Set<Integer> seen = new HashSet<>();
            for (int i : dl.order(3)) seen.add(i);
            assertEquals(11, seen.size());
            assertEquals(2, dl.batchesPerEpoch());
        }
    }
}
