package dinoseg.io;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * One-line reasons a path given by the user is not the kind of thing expected: a folder where a
 * file is wanted ("is a directory") is told apart from a missing path ("does not exist"), and a
 * file where a folder is wanted says so ("is a file, not a folder"). Every reason starts with the
 * path, as the other errors of dinoseg do.
 */
public final class FileKinds {
    private FileKinds() { }

    /**
     * Why {@code file} cannot be read as a {@code noun} (e.g. "video file"), or null when it is a
     * regular file (symbolic links followed): "P: is a directory, not a video file" or
     * "P: video file does not exist".
     */
    public static String notAFile(Path file, String noun) {
        if (Files.isRegularFile(file)) return null;
        if (Files.isDirectory(file)) return file + ": is a directory, not " + ("aeiou".indexOf(noun.charAt(0)) >= 0 ? "an " : "a ") + noun;
        return file + ": " + noun + " does not exist";
    }

    /** {@link #notAFile} as an {@link IllegalArgumentException}; returns {@code file} when it is a regular file. */
    public static Path requireFile(Path file, String noun) {
        String why = notAFile(file, noun);
        if (why != null) throw new IllegalArgumentException(why);
        return file;
    }

    /**
     * Whether two paths name the same file or folder: {@link Files#isSameFile} (links followed)
     * where both exist, else the same normalized absolute path.
     */
    public static boolean same(Path a, Path b) {
        if (Files.exists(a) && Files.exists(b)) {
            try {
                return Files.isSameFile(a, b);
            } catch (java.io.IOException e) {
                // unreadable attributes: fall back on the names
            }
        }
        return a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
    }

    /**
     * Why {@code dir} cannot be used as a folder, or null when it is one: "P: is a file, not a
     * folder" or "P: folder does not exist".
     */
    public static String notAFolder(Path dir) {
        if (Files.isDirectory(dir)) return null;
        if (Files.exists(dir)) return dir + ": is a file, not a folder";
        return dir + ": folder does not exist";
    }

    /** {@link #notAFolder} as an {@link IllegalArgumentException}; returns {@code dir} when it is a folder. */
    public static Path requireFolder(Path dir) {
        String why = notAFolder(dir);
        if (why != null) throw new IllegalArgumentException(why);
        return dir;
    }
}
