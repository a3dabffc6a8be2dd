package dinoseg.cli;

import picocli.CommandLine;

/**
 * Bad flags (unknown option, wrong type, a value out of range) print one line — the problem and
 * where to look — instead of the whole usage text, and exit with picocli's usage-error code (2).
 */
final class UsageErrorHandler implements CommandLine.IParameterExceptionHandler {
    @Override
    public int handleParseException(CommandLine.ParameterException ex, String[] args) {
        CommandLine cl = ex.getCommandLine();
        String msg = ex.getMessage() == null ? "invalid arguments" : ex.getMessage().replaceAll("\\s*\\R\\s*", " ").trim();
        cl.getErr().println("error: " + msg + " (see '" + cl.getCommandSpec().qualifiedName() + " --help')");
        cl.getErr().flush();
        return cl.getCommandSpec().exitCodeOnInvalidInput();
    }
}
