package dinoseg.cli;

import dinoseg.data.DemoData;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code dinoseg demo-data}: writes the small procedural dataset the training demo uses. */
@Command(name = "demo-data", mixinStandardHelpOptions = true,
        description = "Generate a small procedural dataset (tutorial layout, " + DemoData.TRAIN + " train / " + DemoData.VALID
                + " valid images of " + DemoData.SIZE + "x" + DemoData.SIZE + ": circles, squares, triangles on textured backgrounds) with classes.json.")
public final class DemoDataCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "input/demo", description = "Output folder (default: ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "Random seed; the same seed gives the same files (default: ${DEFAULT-VALUE}).")
    long seed;

    @Override public Integer call() throws Exception {
        DemoData.Summary s = DemoData.generate(out, seed);
        spec.commandLine().getOut().println("demo data: " + s.train() + " train / " + s.valid() + " valid images of " + s.size() + "x" + s.size()
                + ", classes " + s.classes().names() + " -> " + s.root() + " (classes.json written)");
        spec.commandLine().getOut().flush();
        return 0;
    }
}
