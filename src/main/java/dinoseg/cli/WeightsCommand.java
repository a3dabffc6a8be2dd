package dinoseg.cli;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dinoseg.io.HostTensor;
import dinoseg.io.StateDict;
import dinoseg.io.WeightFuzzer;
import dinoseg.io.WeightNames;
import dinoseg.io.WeightFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code dinoseg weights ...}: weight-file tools. */
@Command(name = "weights", mixinStandardHelpOptions = true, description = "Weight-file tools.",
        subcommands = {WeightsCommand.Check.class, WeightsCommand.Fuzz.class})
public final class WeightsCommand implements Runnable {
    @Spec CommandSpec spec;

    @Override public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** {@code dinoseg weights check FILE...}: reads each file as --weights would and says what it holds. */
    @Command(name = "check", mixinStandardHelpOptions = true,
            description = "Read weight files (.pth in zip or legacy format, .safetensors) as --weights does and print, per file, "
                    + "the tensors, parameters and backbone names found, or the one-line error. Exit status 1 when any file fails.")
    public static final class Check implements Callable<Integer> {
        @Spec CommandSpec spec;

        @Parameters(paramLabel = "FILE", arity = "1..*", description = "Weight files.")
        List<Path> files;

        @Option(names = "--verbose", description = "Print stack traces of errors.")
        boolean verbose;

        @Override public Integer call() {
            PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
            int failed = 0;
            for (Path f : files) {
                try {
                    StateDict sd = WeightFiles.read(f);
                    long params = 0;
                    for (HostTensor t : sd.tensors().values()) params += t.data().length;
                    List<String> notes = new ArrayList<>();
                    Map<String, HostTensor> bb = WeightNames.toOfficialBackbone(sd.tensors(), f.toString(), notes::add);
                    long head = sd.tensors().keySet().stream().filter(k -> k.startsWith("head.")).count();
                    if (head == sd.tensors().size() && !bb.containsKey("patch_embed.proj.weight"))   // e.g. a frozen run's *_head.safetensors
                        out.printf(Locale.ROOT, "%s: %d tensors, %d values; no backbone: a segmentation head only (%d head.* tensors)%n",
                                f, sd.tensors().size(), params, head);
                    else
                        out.printf(Locale.ROOT, "%s: %d tensors, %d values; backbone: %d tensors%s%n", f, sd.tensors().size(), params,
                                bb.size(), bb.containsKey("patch_embed.proj.weight") ? " (official names)" : " (no patch_embed.proj.weight found)");
                    for (String n : notes) err.println(n);
                } catch (IOException | IllegalArgumentException e) {
                    failed++;
                    err.println("error: " + ErrorHandler.oneLine(e.getMessage() == null ? f + ": " + e.getClass().getSimpleName() : e.getMessage()));
                    if (verbose) e.printStackTrace(err);
                }
            }
            out.flush();
            err.flush();
            return failed == 0 ? 0 : 1;
        }
    }

    /** {@code dinoseg weights fuzz}: the readers against mutated files; one JSON summary line. */
    @Command(name = "fuzz", mixinStandardHelpOptions = true,
            description = "Fuzz the weight readers: mutate valid seed files (built in: a zip and a legacy .pth and a safetensors; "
                    + "--seeds adds a folder's own) with structure-aware pickle, zip, legacy and safetensors mutations, read each "
                    + "in a worker thread with a time limit, and print one JSON line: cases, ok loads, clean rejections, unexpected "
                    + "outcomes (exceptions other than a one-line error naming the file, OutOfMemoryError, StackOverflowError, "
                    + "timeouts), the slowest case. The first unexpected cases are saved for reproduction "
                    + "(dinoseg weights check FILE). Exit status 1 when any case was unexpected.")
    public static final class Fuzz implements Callable<Integer> {
        @Spec CommandSpec spec;

        @Option(names = "--cases", paramLabel = "N", defaultValue = "10000", description = "Number of mutated files (default: ${DEFAULT-VALUE}).")
        int cases;

        @Option(names = "--seed", paramLabel = "N", defaultValue = "1", description = "Random seed; case i depends only on it and i (default: ${DEFAULT-VALUE}).")
        long seed;

        @Option(names = "--seeds", paramLabel = "DIR", description = "Also mutate the .pth/.pt/.bin/.safetensors files (<= 4 MiB) of this folder.")
        Path seedsDir;

        @Option(names = "--timeout-ms", paramLabel = "MS", defaultValue = "5000", description = "Time limit per case (default: ${DEFAULT-VALUE}).")
        long timeoutMs;

        @Option(names = "--save", paramLabel = "DIR", defaultValue = "fuzz-failures", description = "Folder for unexpected cases (default: ${DEFAULT-VALUE}).")
        Path save;

        @Option(names = "--keep", paramLabel = "N", defaultValue = "5", description = "How many unexpected cases to save (default: ${DEFAULT-VALUE}).")
        int keep;

        @Override public Integer call() throws IOException {
            if (cases < 1) throw new IllegalArgumentException("--cases must be at least 1, got " + cases);
            if (timeoutMs < 1) throw new IllegalArgumentException("--timeout-ms must be positive, got " + timeoutMs);
            PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
            List<WeightFuzzer.Seed> seeds = new ArrayList<>(WeightFuzzer.builtinSeeds());
            if (seedsDir != null) seeds.addAll(WeightFuzzer.seedsFrom(seedsDir, line -> { err.println(line); err.flush(); }));
            WeightFuzzer.Summary s = WeightFuzzer.run(seeds, cases, seed, timeoutMs, save, keep, line -> { err.println(line); err.flush(); });
            JsonObject o = new JsonObject();
            o.addProperty("cases", s.cases());
            o.addProperty("seed", seed);
            o.addProperty("seeds", seeds.size());
            o.addProperty("ok", s.ok());
            o.addProperty("rejected", s.rejected());
            o.addProperty("unexpected", s.unexpected());
            o.addProperty("slowest_ms", s.slowestMs());
            o.addProperty("slowest_case", s.slowestMutation());
            o.addProperty("seconds", Math.round(s.seconds() * 10) / 10.0);
            o.addProperty("max_heap_mib", Runtime.getRuntime().maxMemory() >> 20);
            JsonArray saved = new JsonArray();
            s.saved().forEach(saved::add);
            o.add("saved", saved);
            JsonArray first = new JsonArray();
            s.firstUnexpected().forEach(first::add);
            o.add("first_unexpected", first);
            Gson g = new GsonBuilder().disableHtmlEscaping().create();
            out.println(g.toJson(o));
            out.flush();
            return s.unexpected() == 0 ? 0 : 1;
        }
    }
}
