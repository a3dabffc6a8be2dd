package dinoseg.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;

import static org.junit.jupiter.api.Assertions.*;

class AtomicFilesTest {
    @TempDir Path dir;

    @Test
    void failedWriteLeavesTheOldFileAndNoTemporary() throws Exception {
        Path f = dir.resolve("model.safetensors");
        AtomicFiles.writeString(f, "good");
        assertThrows(IOException.class, () -> AtomicFiles.write(f, out -> {
            out.write("half".getBytes());
            throw new IOException("disk full");
        }));
        assertEquals("good", Files.readString(f));
        try (var s = Files.list(dir)) { assertEquals(1, s.count(), "no temporary file left behind"); }
    }

    @Test
    void outputsAreReadableByOthersLikeOrdinaryFiles() throws Exception {
        Path f = dir.resolve("mask.png");
        AtomicFiles.writeString(f, "x");
        if (f.getFileSystem().supportedFileAttributeViews().contains("posix")) {
            var perms = Files.getPosixFilePermissions(f);
            assertTrue(perms.contains(PosixFilePermission.OTHERS_READ), perms.toString());
            assertTrue(perms.contains(PosixFilePermission.GROUP_READ), perms.toString());
        }
    }

    @Test
    void aFolderInPlaceOfTheFileIsSaidBeforeAnythingIsWritten() throws Exception {
        Path folder = Files.createDirectories(dir.resolve("out"));
        boolean[] called = {false};
        IOException e = assertThrows(IOException.class, () -> AtomicFiles.write(folder, out -> called[0] = true));
        assertEquals(folder + ": is a directory; cannot write a file in its place", e.getMessage());
        assertFalse(called[0], "the body ran before the target was checked");
        try (var s = Files.list(dir)) { assertEquals(1, s.count(), "no temporary file beside the folder"); }
        assertTrue(Files.isDirectory(folder));
    }

    @Test
    void anUnwritableFolderIsNamedWithTheTargetNotATemporaryName() throws Exception {
        // /proc accepts no new files (as a read-only or permission-denied folder): the error names the target and the folder
        Path target = Path.of("/proc/dinoseg-test-out.json");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(target.getParent()), "a Linux /proc");
        IOException e = assertThrows(IOException.class, () -> AtomicFiles.checkWritable(target));
        assertTrue(e.getMessage().startsWith(target + ": cannot write a file in /proc ("), e.getMessage());
        assertFalse(e.getMessage().contains(".tmp"), e.getMessage());
        IOException w = assertThrows(IOException.class, () -> AtomicFiles.writeString(target, "x"));
        assertTrue(w.getMessage().startsWith(target + ": cannot write a file in /proc"), w.getMessage());
        AtomicFiles.checkWritable(dir.resolve("sub/ok.json"));   // a writable place: no error, no file left, the folder made
        try (var s = Files.list(dir.resolve("sub"))) { assertEquals(0, s.count()); }
    }
}
