package dinoseg.cli;

import picocli.CommandLine;

import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/**
 * Turns an exception escaping a command into one line on stderr (the file and the problem, as the
 * exception message says them, or as {@link #fileProblem} words a file-system exception) and a
 * non-zero exit; {@code --verbose} anywhere on the command line or {@code DINOSEG_VERBOSE=1} prints
 * the stack trace too. A job stopped by a signal
 * ({@link dinoseg.io.Stop.Stopped}) prints its one line and exits with the signal's status.
 */
final class ErrorHandler implements CommandLine.IExecutionExceptionHandler {
    @Override
    public int handleExecutionException(Exception ex, CommandLine cl, CommandLine.ParseResult parsed) {
        if (ex instanceof dinoseg.io.Stop.Stopped s) {
            // stopped by a signal: the line says where and what was kept; the status is the signal's (130, 143)
            cl.getErr().println(s.getMessage());
            cl.getErr().flush();
            return s.exitCode();
        }
        cl.getErr().println("error: " + message(ex));
        if (verbose(parsed.originalArgs())) ex.printStackTrace(cl.getErr());
        return 1;
    }

    static boolean verbose(java.util.List<String> args) {
        return "1".equals(System.getenv("DINOSEG_VERBOSE")) || args.contains("--verbose");
    }

    /**
     * The one line for an exception: its message, or for a {@link FileSystemException} (whose message
     * is often the path alone: "README.md") the file and the problem, "FILE: not a directory", naming
     * the other file when there is one. An {@link java.io.UncheckedIOException} is described by its cause.
     */
    static String message(Throwable ex) {
        if (ex instanceof java.io.UncheckedIOException u && u.getCause() != null) ex = u.getCause();
        if (ex instanceof FileSystemException f) return fileProblem(f);
        return ex.getMessage() == null || ex.getMessage().isBlank() ? ex.getClass().getSimpleName() : oneLine(ex.getMessage());
    }

    /**
     * "FILE: REASON" (or "FILE -> OTHER: REASON") for a file-system exception: the reason from its
     * type (no such file or directory, not a directory, permission denied, already exists, directory
     * not empty), else the operating system's reason, else the exception's type in words. An
     * existing file where a folder was to be created is "already exists and is not a directory"; a
     * file in the way of a path ("README.md/valid_preds") is named: "README.md: not a directory".
     */
    static String fileProblem(FileSystemException f) {
        String reason;
        if (f instanceof NoSuchFileException) reason = "no such file or directory";
        else if (f instanceof NotDirectoryException) reason = "not a directory";
        else if (f instanceof AccessDeniedException) reason = "permission denied";
        else if (f instanceof FileAlreadyExistsException) reason = existsNotDirectory(f.getFile())
                // what Files.createDirectories throws for a file where a folder should be
                ? "already exists and is not a directory" : "already exists";
        else if (f instanceof DirectoryNotEmptyException) reason = "directory not empty";
        else if (f.getReason() != null && !f.getReason().isBlank()) reason = oneLine(f.getReason());
        else reason = words(f.getClass().getSimpleName());
        if (f.getFile() == null) return reason;
        String blocker = fileOnThePath(f.getFile());
        if (blocker != null) return blocker + ": not a directory (" + f.getFile() + " is to be inside it)";
        return f.getFile() + (f.getOtherFile() != null ? " -> " + f.getOtherFile() : "") + ": " + reason;
    }

    /**
     * The nearest folder of {@code file}'s path that exists as something other than a directory (a
     * regular file "README.md" in "README.md/valid_preds"): what made creating {@code file} fail.
     * Null when there is none.
     */
    private static String fileOnThePath(String file) {
        try {
            for (java.nio.file.Path p = java.nio.file.Path.of(file).getParent(); p != null; p = p.getParent())
                if (java.nio.file.Files.exists(p)) return java.nio.file.Files.isDirectory(p) ? null : p.toString();
        } catch (RuntimeException e) {
            return null;
        }
        return null;
    }

    private static boolean existsNotDirectory(String file) {
        try {
            return file != null && java.nio.file.Files.exists(java.nio.file.Path.of(file)) && !java.nio.file.Files.isDirectory(java.nio.file.Path.of(file));
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** "FileSystemLoopException" as "file system loop". */
    private static String words(String className) {
        String n = className.replaceFirst("Exception$", "");
        return n.replaceAll("(?<=[a-z0-9])(?=[A-Z])", " ").toLowerCase(java.util.Locale.ROOT);
    }

    /** A message on one line (line breaks become " | "). */
    static String oneLine(String m) {
        return m.strip().replaceAll("\\s*[\\r\\n]+\\s*", " | ");
    }

    /** One line for an {@link Error} (out of memory, stack overflow, a missing class...). */
    static String describe(Error e) {
        if (e instanceof OutOfMemoryError) {
            return "out of memory (" + (e.getMessage() == null ? "no detail" : oneLine(e.getMessage())) + "): the Java heap holds at most "
                    + (Runtime.getRuntime().maxMemory() >> 20) + " MiB; raise it with java -Xmx... or use smaller inputs";
        }
        if (e instanceof StackOverflowError)
            return "stack overflow (an input nested too deeply?); rerun with --verbose for the stack trace";
        return e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + oneLine(e.getMessage()));
    }
}
