package dinoseg.io;

import dinoseg.model.Golden;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Corrupted weight files: whatever bytes are flipped or cut, reading either succeeds or fails with
 * an IOException naming the file, never another exception, an OOM or a hang.
 */
class FuzzTest {
    static byte[] validSafetensors() throws IOException {
        Path t = Files.createTempFile("fuzz", ".safetensors");
        try {
            Safetensors.write(t, Map.of("a", HostTensor.of(new float[]{1, 2, 3, 4, 5, 6}, 2, 3),
                    "b", HostTensor.of(new float[]{7}, 1)), Map.of("k", "v"));
            return Files.readAllBytes(t);
        } finally {
            Files.deleteIfExists(t);
        }
    }

    static void expectCleanOutcome(Path f, ThrowingRead read) {
        try {
            read.run();
        } catch (IOException e) {
            assertTrue(e.getMessage() != null && e.getMessage().startsWith(f.toString()), e.getMessage());
        } catch (Exception | Error e) {
            fail("unexpected " + e + " for " + f, e);
        }
    }

    interface ThrowingRead { void run() throws Exception; }

    @Property(tries = 300)
    void mutatedSafetensors(@ForAll @IntRange(min = 0, max = 400) int pos, @ForAll byte value,
                            @ForAll @IntRange(min = 0, max = 400) int cut) throws IOException {
        byte[] b = validSafetensors();
        b[pos % b.length] = value;
        if (cut % 3 == 0) b = java.util.Arrays.copyOf(b, cut % b.length);
        Path f = Files.createTempFile("fuzz", ".safetensors");
        try {
            Files.write(f, b);
            expectCleanOutcome(f, () -> Safetensors.read(f));
        } finally {
            Files.deleteIfExists(f);
        }
    }

    static byte[] pickleOf(Path pth) throws IOException {
        try (ZipFile z = new ZipFile(pth.toFile())) {
            ZipEntry e = z.stream().filter(x -> x.getName().endsWith("data.pkl")).findFirst().orElseThrow();
            try (InputStream in = z.getInputStream(e)) { return in.readAllBytes(); }
        }
    }

    /** wrapped.pth with its pickle mutated (storages kept, so rebuilt tensors are exercised). */
    @Property(tries = 300)
    void mutatedPickles(@ForAll @IntRange(min = 0, max = 100_000) int pos, @ForAll byte value, @ForAll boolean truncate) throws IOException {
        mutatePickle(Golden.path("wrapped.pth"), pos, value, truncate);
    }

    /**
     * An mmcv head checkpoint (tools/gen_official_head_golden.py: numpy scalars and arrays in its
     * meta, read as inert placeholders) with its pickle mutated.
     */
    @Property(tries = 200)
    void mutatedMmcvPickles(@ForAll @IntRange(min = 0, max = 100_000) int pos, @ForAll byte value, @ForAll boolean truncate) throws IOException {
        mutatePickle(Golden.path("official/dinov2_tiny14/dinov2_tiny14_voc2012_ms_head.pth"), pos, value, truncate);
    }

    static void mutatePickle(Path src, int pos, byte value, boolean truncate) throws IOException {
        byte[] pkl = pickleOf(src);
        int at = pos % pkl.length;
        pkl[at] = value;
        if (truncate) pkl = java.util.Arrays.copyOf(pkl, at);
        Path f = Files.createTempFile("fuzz", ".pth");
        try (ZipFile z = new ZipFile(src.toFile())) {
            ByteArrayOutputStream bo = new ByteArrayOutputStream();
            try (ZipOutputStream zo = new ZipOutputStream(bo)) {
                for (ZipEntry e : java.util.Collections.list(z.entries())) {
                    zo.putNextEntry(new ZipEntry(e.getName()));
                    if (e.getName().endsWith("data.pkl")) zo.write(pkl);
                    else try (InputStream in = z.getInputStream(e)) { zo.write(in.readAllBytes()); }
                    zo.closeEntry();
                }
            }
            Files.write(f, bo.toByteArray());
            expectCleanOutcome(f, () -> PthReader.read(f));
        } finally {
            Files.deleteIfExists(f);
        }
    }

    // ------------------------------------------------------------------ structure-aware

    static java.util.List<WeightFuzzer.Seed> seeds;

    static synchronized java.util.List<WeightFuzzer.Seed> seeds() throws IOException {
        if (seeds == null) seeds = WeightFuzzer.builtinSeeds();
        return seeds;
    }

    /**
     * Structure-aware mutations of the built-in seeds (a zip and a legacy .pth, a safetensors):
     * pickle opcodes and arguments, memo references, splices, deep / self-referential / shared
     * structures, stride-0, huge and aliasing views, memo and work bombs, lying zip records, legacy
     * storage counts, safetensors numbers and nesting. Every outcome is a load or a clean one-line
     * rejection within 5 s.
     */
    @Property(tries = 400)
    void structureAwareMutations(@ForAll long seed) throws IOException {
        WeightFuzzer.Case c = WeightFuzzer.mutate(seeds(), new java.util.SplittableRandom(seed));
        Path f = Files.createTempFile("fuzz", c.ext());
        try {
            Files.write(f, c.bytes());
            WeightFuzzer.Result r = assertTimeoutPreemptively(java.time.Duration.ofSeconds(5), () -> WeightFuzzer.check(f));
            assertNotEquals(WeightFuzzer.Verdict.UNEXPECTED, r.verdict(), () -> c.mutation() + ": " + r.detail());
        } finally {
            Files.deleteIfExists(f);
        }
    }

    /** The fuzz command's engine: both outcomes occur (mutations keep some files valid and break others), none unexpected. */
    @org.junit.jupiter.api.Test
    void runnerCountsOutcomes(@org.junit.jupiter.api.io.TempDir Path dir) throws IOException {
        WeightFuzzer.Summary s = WeightFuzzer.run(seeds(), 300, 11, 5000, dir.resolve("saved"), 3, null);
        assertEquals(300, s.cases());
        assertEquals(300, s.ok() + s.rejected() + s.unexpected());
        assertEquals(0, s.unexpected(), () -> String.join("; ", s.firstUnexpected()));
        assertTrue(s.ok() > 10 && s.rejected() > 100, s.toString());
        assertTrue(s.slowestMs() < 5000, s.toString());
    }

    /** What counts as a clean rejection message. */
    @org.junit.jupiter.api.Test
    void rejectionMessagesMustBeOneLineNamingTheFile() {
        Path f = Path.of("/tmp/x.pth");
        assertNull(WeightFuzzer.badMessage(f, "/tmp/x.pth: storage 0 is truncated"));
        assertNotNull(WeightFuzzer.badMessage(f, null));
        assertNotNull(WeightFuzzer.badMessage(f, "storage 0 is truncated"));
        assertNotNull(WeightFuzzer.badMessage(f, "/tmp/x.pth: two\nlines"));
        assertNotNull(WeightFuzzer.badMessage(f, "/tmp/x.pth: \u001b[31m"));
        assertNotNull(WeightFuzzer.badMessage(f, "/tmp/x.pth: " + "x".repeat(2000)));
    }
}
