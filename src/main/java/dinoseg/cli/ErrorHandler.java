package dinoseg.cli;

import picocli.CommandLine;

/**
 * Turns an exception escaping a command into one line on stderr (the file and the problem, as the
 * exception message says them) and a non-zero exit; {@code --verbose} anywhere on the command line
 * or {@code DINOSEG_VERBOSE=1} prints the stack trace too.
 */
final class ErrorHandler implements CommandLine.IExecutionExceptionHandler {
    @Override
    public int handleExecutionException(Exception ex, CommandLine cl, CommandLine.ParseResult parsed) {
        boolean verbose = "1".equals(System.getenv("DINOSEG_VERBOSE"))
                || parsed.originalArgs().contains("--verbose");
        String msg = ex.getMessage() == null ? ex.getClass().getSimpleName() : ex.getMessage();
        cl.getErr().println("error: " + msg);
        if (verbose) ex.printStackTrace(cl.getErr());
        return 1;
    }
}
