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
        Path src = Golden.path("wrapped.pth");
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
}
