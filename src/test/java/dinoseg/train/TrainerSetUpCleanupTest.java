package dinoseg.train;

import dinoseg.backend.Backends;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** A run whose set-up fails leaves no run folder of its own behind, and never removes one that was there. */
class TrainerSetUpCleanupTest {
    @TempDir static Path tmp;
    static Path data;

    @BeforeAll static void writeData() throws Exception {
        data = TinyData.write(tmp.resolve("data"), 2, 1, 28, 1);
    }

    private static Exception fail(TrainConfig c) {
        Trainer t = new Trainer(c, Backends.cpu(), new PrintWriter(new StringWriter(), true), new PrintWriter(new StringWriter(), true));
        return assertThrows(Exception.class, t::run);
    }

    private static String[] list(Path dir) throws Exception {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toArray(String[]::new);
        }
    }

    @Test void missingWeightsCreateNoRunFolder(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("outputs/2026-01-01_00-00-00");
        Exception e = fail(TinyData.config(data, out, 28).epochs(1).weights(dir.resolve("missing.pth").toString()).build());
        assertTrue(e.getMessage().contains("missing.pth"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("outputs")), "a failed start left " + dir.resolve("outputs"));
    }

    @Test void aBadDatasetFolderCreatesNoRunFolder(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        TrainConfig.Builder b = TinyData.config(dir.resolve("no-data"), out, 28).epochs(1);
        fail(b.build());
        assertFalse(Files.exists(out));
    }

    @Test void aFailureAfterTheFolderIsMadeRemovesWhatThisRunCreated(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("a/b/run");
        // a feature cache larger than its budget fails after the folder and config.json are written
        Exception e = fail(TinyData.config(data, out, 28).epochs(1).cacheFeatures(true).cacheBudget(1e-15).build());
        assertTrue(e instanceof IllegalArgumentException, e.toString());
        assertFalse(Files.exists(dir.resolve("a")), "a failed start left " + dir.resolve("a"));
    }

    @Test void aFolderThatExistedStaysWithWhatItHeld(@TempDir Path dir) throws Exception {
        Path out = Files.createDirectories(dir.resolve("mine"));
        Files.writeString(out.resolve("notes.txt"), "keep");
        fail(TinyData.config(data, out, 28).epochs(1).cacheFeatures(true).cacheBudget(1e-15).build());
        assertArrayEquals(new String[] {"notes.txt"}, list(out), "only the run's own files go");
        fail(TinyData.config(data, out, 28).epochs(1).weights(dir.resolve("missing.pth").toString()).build());
        assertArrayEquals(new String[] {"notes.txt"}, list(out));
    }

    @Test void anEmptyFolderThatExistedIsKept(@TempDir Path dir) throws Exception {
        Path out = Files.createDirectories(dir.resolve("empty"));
        fail(TinyData.config(data, out, 28).epochs(1).cacheFeatures(true).cacheBudget(1e-15).build());
        assertTrue(Files.isDirectory(out));
        assertArrayEquals(new String[0], list(out));
    }

    @Test void anOutDirThatIsAFileIsSaidBeforeAnyWork(@TempDir Path dir) throws Exception {
        Path out = Files.writeString(dir.resolve("run"), "x");
        Exception e = fail(TinyData.config(data, out, 28).epochs(1).build());
        assertEquals(out + ": is a file, not a folder (--out-dir)", e.getMessage());
    }
}
