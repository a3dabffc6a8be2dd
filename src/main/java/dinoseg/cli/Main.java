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
                BenchCommand.class})
public final class Main implements Runnable {

    @Override public void run() {
        new CommandLine(this).usage(System.out);
    }

    /** Builds the configured command line (shared by {@link #main} and tests). */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler(new ErrorHandler());
        cl.setParameterExceptionHandler(new UsageErrorHandler());
        return cl;
    }

    public static void main(String[] args) {
        // java -jar cannot add the Vector API module the fast CPU GEMM needs: rerun in a JVM that has it
        int relaunched = Relaunch.runInVectorJvm(args);
        if (relaunched >= 0) System.exit(relaunched);
        // this JVM runs the command: SIGINT/SIGTERM stop it at a safe point; a relaunched child watches its launcher
        Signals.install();
        System.exit(commandLine().execute(args));
    }
}
