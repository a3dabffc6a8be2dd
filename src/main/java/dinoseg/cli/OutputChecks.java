package dinoseg.cli;

import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Checks of output flags made before any work is done, so a run that would end by failing to
 * write (or by writing over its own input) stops at once with one line naming the flag: a usage
 * error ({@link CommandLine.ParameterException}, exit status 2), or exit status 1 for a folder that
 * cannot be made.
 */
final class OutputChecks {
    private OutputChecks() { }

    /**
     * {@code out} (the value of {@code flag}) must name a file: not an existing directory (a usage
     * error), and its folder must exist or be creatable (the nearest existing ancestor is a folder,
     * not a file; else an {@link IllegalArgumentException}: exit status 1, as for a folder that
     * cannot be made in every command).
     */
    static void outputFile(CommandLine cl, String flag, Path out) {
        if (Files.isDirectory(out))
            throw new CommandLine.ParameterException(cl, flag + " " + out + ": is a directory; give a file name");
        Path parent = out.toAbsolutePath().normalize().getParent();
        for (Path p = parent; p != null; p = p.getParent()) {
            if (Files.isDirectory(p)) return;
            if (Files.exists(p))   // the file system's state, not the flag: a run-time error, as train --out-dir gives
                throw new IllegalArgumentException(flag + " " + out + ": cannot create its folder " + parent + ": " + p + " is a file");
        }
    }

    /** The output must not be the input: same file when both exist, else the same normalized absolute path. */
    static void notTheInput(CommandLine cl, String inFlag, Path in, String outFlag, Path out) {
        if (dinoseg.io.FileKinds.same(in, out))
            throw new CommandLine.ParameterException(cl, outFlag + " " + out + ": is the " + inFlag + " file; writing it would overwrite the input; "
                    + "give another " + outFlag);
    }
}
