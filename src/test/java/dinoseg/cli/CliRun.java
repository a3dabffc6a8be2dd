package dinoseg.cli;

import java.io.PrintWriter;
import java.io.StringWriter;

import picocli.CommandLine;

/** Runs the command line in-process, as {@code java -jar dinoseg.jar ARGS} would, capturing both streams. */
final class CliRun {
    private CliRun() { }

    /** Exit status, standard output and standard error of one run. */
    record Run(int code, String out, String err) { }

    static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }
}
