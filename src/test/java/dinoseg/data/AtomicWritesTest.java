package dinoseg.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The files data writes (masks, demo JPEGs, class files) go through {@code io.AtomicFiles}: a
 * failed write keeps the old file and leaves no temporary behind, and what is written is readable
 * by others like an ordinary file.
 */
class AtomicWritesTest {
    @TempDir Path dir;

    private static BufferedImage image() {
        BufferedImage img = new BufferedImage(5, 3, BufferedImage.TYPE_INT_RGB);
        img.setRGB(2, 1, 0x804020);
        return img;
    }

    private void assertOnlyFiles(String... names) throws IOException {
        try (var s = Files.list(dir)) {
            assertEquals(List.of(names), s.map(p -> p.getFileName().toString()).sorted().toList(), "no temporary file left behind");
        }
    }

    private static void assertOrdinaryPermissions(Path f) throws IOException {
        if (!f.getFileSystem().supportedFileAttributeViews().contains("posix")) return;
        var perms = Files.getPosixFilePermissions(f);
        assertTrue(perms.contains(PosixFilePermission.OTHERS_READ) && perms.contains(PosixFilePermission.GROUP_READ), f + " " + perms);
    }

    @Test void aFailedImageWriteKeepsTheOldFile() throws IOException {
        Path f = dir.resolve("mask.png");
        MaskIO.writePng(image(), f.toFile());
        byte[] before = Files.readAllBytes(f);
        IOException e = assertThrows(IOException.class, () -> MaskIO.writeAtomic(image(), "no-such-format", f.toFile()));
        assertTrue(e.getMessage().startsWith(f.toFile() + ": no ImageIO writer for no-such-format"), e.getMessage());
        assertArrayEquals(before, Files.readAllBytes(f));
        assertOnlyFiles("mask.png");
        assertOrdinaryPermissions(f);
    }

    @Test void demoJpegsAndClassFilesAreWrittenWhole() throws IOException {
        Path jpg = dir.resolve("a.jpg");
        DemoData.writeJpeg(image(), jpg, 0.95f);
        BufferedImage back = ImageIOUtil.read(jpg);
        assertEquals(5, back.getWidth());
        assertEquals(3, back.getHeight());
        assertOrdinaryPermissions(jpg);

        Path json = dir.resolve("classes.json");
        ClassSet c = ClassSet.parse("{\"classes\": [{\"name\": \"sky\"}, {\"name\": \"road\"}], \"ignore_index\": 7}");
        c.write(json);
        assertEquals(c.toJson(), Files.readString(json));
        assertOrdinaryPermissions(json);
        assertOnlyFiles("a.jpg", "classes.json");
    }
}
