package dinoseg.io;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/** Writes files through a temporary sibling and an atomic rename, so a crash never leaves half a file. */
public final class AtomicFiles {
    private AtomicFiles() { }

    /** Something that writes a file's bytes to a stream. */
    @FunctionalInterface
    public interface Writer {
        void write(OutputStream out) throws IOException;
    }

    /** Writes the body of a file through a channel. */
    @FunctionalInterface
    public interface Body { void write(FileChannel ch) throws IOException; }

    public static void write(Path target, Writer writer) throws IOException {
        writeChannel(target, ch -> {
            // not closed here: closing the stream would close the channel before it is forced to disk
            OutputStream out = new java.io.BufferedOutputStream(java.nio.channels.Channels.newOutputStream(ch), 1 << 20);
            writer.write(out);
            out.flush();
        });
    }

    /** The channel form (named apart from {@link #write(Path, Writer)} so lambdas are not ambiguous). */
    public static void writeChannel(Path file, Body body) throws IOException {
        Path abs = file.toAbsolutePath();
        // before any temporary file: the rename over a folder would fail only after the work, beside the folder
        if (Files.isDirectory(abs)) throw new IOException(file + ": is a directory; cannot write a file in its place");
        Path dir = abs.getParent();
        if (dir != null) Files.createDirectories(dir);
        Path tmp = temporaryBeside(file, dir, abs);
        try {
            ordinaryPermissions(tmp);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                body.write(ch);
                ch.force(false);
            }
            rename(tmp, abs);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** The temporary file beside the target; failing, an error that names the target and its folder, not the temporary name. */
    private static Path temporaryBeside(Path file, Path dir, Path abs) throws IOException {
        try {
            return Files.createTempFile(dir, "." + abs.getFileName() + ".", ".tmp");
        } catch (IOException e) {
            String why = e instanceof java.nio.file.AccessDeniedException ? "permission denied"
                    : e instanceof java.nio.file.NoSuchFileException ? "no such folder, or it cannot hold files"
                    : e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            throw new IOException(file + ": cannot write a file in " + dir + " (" + why + ")", e);
        }
    }

    /**
     * Checks, before any long work, that {@code target} can be written atomically: creates and deletes
     * a temporary file beside it (the folder is made if missing).
     *
     * @throws IOException one line naming the target when its folder cannot hold a new file, or it is a folder
     */
    public static void checkWritable(Path target) throws IOException {
        Path abs = target.toAbsolutePath();
        if (Files.isDirectory(abs)) throw new IOException(target + ": is a directory; cannot write a file in its place");
        Path dir = abs.getParent();
        try {
            if (dir != null) Files.createDirectories(dir);
        } catch (IOException e) {
            throw new IOException(target + ": cannot make its folder " + dir + " (" + e.getClass().getSimpleName() + ")", e);
        }
        Files.deleteIfExists(temporaryBeside(target, dir, abs));
    }

    /**
     * Makes a finished temporary file the target: forces its bytes to disk, then renames it over
     * {@code target} atomically (a plain replacing move where the file system cannot). For files a
     * library must write by path itself (the video encoder); the caller created {@code tmp} beside
     * the target (same directory, so the rename stays on one file system) and deletes it on failure.
     */
    public static void publish(Path tmp, Path target) throws IOException {
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
            ch.force(false);
        }
        rename(tmp, target.toAbsolutePath());
    }

    private static void rename(Path tmp, Path abs) throws IOException {
        try {
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /**
     * createTempFile makes owner-only (0600) files; give the temporary file the permissions of an
     * ordinarily created one (0666 less the usual umask 022) so outputs are readable like any other.
     */
    private static void ordinaryPermissions(Path tmp) throws IOException {
        if (tmp.getFileSystem().supportedFileAttributeViews().contains("posix"))
            Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
    }

    public static void write(Path file, byte[] bytes) throws IOException {
        writeChannel(file, ch -> {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) ch.write(b);
        });
    }

    public static void writeString(Path target, String text) throws IOException {
        write(target, text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
}
