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
        boolean verbose = "1".equals(System.getenv("DINOSEG_VERBOSE"))
                || parsed.originalArgs().contains("--verbose");
        String msg = ex.getMessage() == null ? ex.getClass().getSimpleName() : ex.getMessage();
        cl.getErr().println("error: " + msg);
        if (verbose) ex.printStackTrace(cl.getErr());
        return 1;
    }
}
