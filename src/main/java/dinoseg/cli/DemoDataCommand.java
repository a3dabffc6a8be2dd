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
        refuseForeignFolder(out);
        DemoData.Summary s = DemoData.generate(out, seed);
        spec.commandLine().getOut().println("demo data: " + s.train() + " train / " + s.valid() + " valid images of " + s.size() + "x" + s.size()
                + ", classes " + s.classes().names() + " -> " + s.root() + " (classes.json written)");
        spec.commandLine().getOut().flush();
        return 0;
    }

    /**
     * demo-data writes only into a new or empty folder, or over its own earlier output (a classes.json
     * with the demo's classes): mixing demo images into a user's dataset and replacing its classes.json
     * would corrupt it silently.
     *
     * @throws IllegalArgumentException one line naming the folder
     */
    static void refuseForeignFolder(Path out) throws java.io.IOException {
        if (java.nio.file.Files.exists(out) && !java.nio.file.Files.isDirectory(out))
            throw new IllegalArgumentException(out + ": is a file; give a folder for the demo dataset");
        if (!java.nio.file.Files.isDirectory(out)) return;
        try (var entries = java.nio.file.Files.list(out)) {
            if (entries.findAny().isEmpty()) return;
        }
        Path classes = out.resolve("classes.json");
        boolean ownOutput = false;
        if (java.nio.file.Files.isRegularFile(classes)) {
            try {
                ownOutput = dinoseg.data.ClassSet.load(classes).names().equals(DemoData.classes().names());
            } catch (RuntimeException e) {
                ownOutput = false;   // unreadable: not ours
            }
        }
        if (!ownOutput)
            throw new IllegalArgumentException(out + ": folder is not empty and is not an earlier demo-data output; "
                    + "demo-data writes only into a new or empty folder (its files and classes.json would mix into this one)");
    }
}
