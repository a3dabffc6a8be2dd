package dinoseg.cli;

import dinoseg.data.DatasetCheck;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

/** {@code dinoseg data ...}: dataset tools. */
@Command(name = "data", mixinStandardHelpOptions = true, description = "Dataset tools.",
        subcommands = {DataCommand.Check.class})
public final class DataCommand implements Runnable {
    @Spec CommandSpec spec;

    @Override public void run() { throw Main.missingSubcommand(spec.commandLine()); }

    /** {@code dinoseg data check}: the dataset report; exit status 1 when it cannot be trained on. */
    @Command(name = "check", mixinStandardHelpOptions = true,
            description = "Check a dataset: counts per split, unpaired, unreadable and mismatched files, unknown colours or ids, "
                    + "pixel share per class. Exit status 1 when the dataset cannot be trained on.")
    public static final class Check implements Callable<Integer> {
        @Spec CommandSpec spec;

        @Mixin DatasetOptions dataset;

        @Option(names = "--threads", paramLabel = "N", defaultValue = "0", description = "Decoding threads (0: all cores).")
        int threads;

        @Option(names = "--verbose", description = "Print stack traces of errors.")
        boolean verbose;

        @Override public Integer call() {
            CommandLine cl = spec.commandLine();
            PrintWriter err = cl.getErr();
            dataset.requireDataset(cl);
            DatasetCheck.Report r = DatasetCheck.run(dataset.toSpec(cl), threads, line -> {
                err.println(line);
                err.flush();
            });
            r.print(cl.getOut());
            return r.trainable() ? 0 : 1;
        }
    }
}
