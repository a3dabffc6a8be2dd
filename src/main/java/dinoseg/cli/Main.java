package dinoseg.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code dinoseg} command line: each subcommand parses flags, calls the library, prints. */
@Command(name = "dinoseg", mixinStandardHelpOptions = true, version = "dinoseg 0.1.0",
        description = "DINOv2 semantic segmentation: train, evaluate and segment images on CPU or CUDA.",
        subcommands = {CommandLine.HelpCommand.class, DataCommand.class, DemoDataCommand.class, SummaryCommand.class,
                FeaturesCommand.class, InferCommand.class, InferVideoCommand.class,
                TrainCommand.class,
                EvalCommand.class,
                BenchCommand.class,
                WeightsCommand.class,
                LoraCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override public void run() { throw missingSubcommand(spec.commandLine()); }

    /**
     * A command group run without its subcommand: a usage error (exit 2, one line naming the
     * subcommands), as any other missing required argument.
     */
    static CommandLine.ParameterException missingSubcommand(CommandLine cl) {
        java.util.List<String> names = new java.util.ArrayList<>();
        for (var e : cl.getSubcommands().entrySet()) if (!e.getValue().getCommandSpec().usageMessage().hidden() && !e.getKey().equals("help")) names.add(e.getKey());
        return new CommandLine.ParameterException(cl, "a subcommand is required: " + String.join(", ", names));
    }

    /** Builds the configured command line (shared by {@link #main} and tests). */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        giveVersion(cl, cl.getCommandSpec().version());   // each subcommand's -V/--version prints it too
        cl.setExecutionExceptionHandler(new ErrorHandler());
        cl.setParameterExceptionHandler(new UsageErrorHandler());
        return cl;
    }

    private static void giveVersion(CommandLine cl, String[] version) {
        for (CommandLine sub : cl.getSubcommands().values()) {
            if (sub.getCommandSpec().version().length == 0) sub.getCommandSpec().version(version);
            giveVersion(sub, version);
        }
    }

    public static void main(String[] args) {
        // java -jar cannot add the Vector API module the fast CPU GEMM needs: rerun in a JVM that has it
        int relaunched = Relaunch.runInVectorJvm(args);
        if (relaunched >= 0) System.exit(relaunched);
        // this JVM runs the command: SIGINT/SIGTERM stop it at a safe point; a relaunched child watches its launcher
        Signals.install();
        System.exit(execute(commandLine(), args));
    }

    /**
     * Runs a command line; an {@link Error} escaping a command (picocli hands only Exceptions to
     * the {@link ErrorHandler}) becomes one line too, e.g. "error: out of memory ...", with the
     * stack trace only under {@code --verbose} or {@code DINOSEG_VERBOSE=1}. Exit status 1; also 1,
     * with one line, when the command succeeded but its standard output could not be written.
     */
    public static int execute(CommandLine cl, String... args) {
        try {
            int code = cl.execute(args);
            // PrintStream and PrintWriter drop write errors: a JSON line or table that never reached a
            // full disk or a closed pipe must not end in success
            if (cl.getOut().checkError() || System.out.checkError()) {
                cl.getErr().println("error: cannot write to standard output (a full disk or a closed pipe?)");
                cl.getErr().flush();
                return code == 0 ? 1 : code;
            }
            return code;
        } catch (Error e) {
            cl.getErr().println("error: " + ErrorHandler.describe(e));
            if (ErrorHandler.verbose(java.util.Arrays.asList(args))) e.printStackTrace(cl.getErr());
            cl.getErr().flush();
            return 1;
        }
    }
}
