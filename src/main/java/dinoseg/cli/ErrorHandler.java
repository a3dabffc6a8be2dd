package dinoseg.cli;

import picocli.CommandLine;

/**
 * Turns an exception escaping a command into one line on stderr (the file and the problem, as the
 * exception message says them) and a non-zero exit; {@code --verbose} anywhere on the command line
 * or {@code DINOSEG_VERBOSE=1} prints the stack trace too. A job stopped by a signal
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
        String msg = ex.getMessage() == null || ex.getMessage().isBlank() ? ex.getClass().getSimpleName() : oneLine(ex.getMessage());
        cl.getErr().println("error: " + msg);
        if (verbose(parsed.originalArgs())) ex.printStackTrace(cl.getErr());
        return 1;
    }

    static boolean verbose(java.util.List<String> args) {
        return "1".equals(System.getenv("DINOSEG_VERBOSE")) || args.contains("--verbose");
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
