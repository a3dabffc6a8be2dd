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
import dinoseg.checkpoint.HubSettings;
import dinoseg.checkpoint.WeightsCache;
import dinoseg.checkpoint.WeightsHub;
import dinoseg.checkpoint.WeightsName;
import dinoseg.io.ProgressBar;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code dinoseg weights ...}: weight-file tools. */
@Command(name = "weights", mixinStandardHelpOptions = true,
        description = {"Weight files and the weights cache.",
                "Names (dinov2_vit{s,b,l,g}14[_reg4], facebook/dinov2-[with-registers-]{small,base,large,giant}[@REV]) are downloaded once into "
                        + "the cache: $DINOSEG_CACHE, else $XDG_CACHE_HOME/dinoseg, else ~/.cache/dinoseg. Sources: $DINOSEG_DINOV2_URL "
                        + "(default https://dl.fbaipublicfiles.com/dinov2), $HF_ENDPOINT (default https://huggingface.co) with $HF_TOKEN; "
                        + "DINOSEG_OFFLINE=1 or HF_HUB_OFFLINE=1: no network."},
        subcommands = {WeightsCommand.ListNames.class, WeightsCommand.Download.class, WeightsCommand.PathOf.class, WeightsCommand.Verify.class,
                WeightsCommand.Check.class, WeightsCommand.Fuzz.class})
public final class WeightsCommand implements Runnable {
    @Spec CommandSpec spec;

    @Override public void run() { throw Main.missingSubcommand(spec.commandLine()); }

    /** The hub of this process's settings, notes and bars on {@code err}. */
    private static WeightsHub hub(PrintWriter err) {
        return new WeightsHub(HubSettings.current(), err);
    }

    /** A known name, or a usage error. */
    private static WeightsName name(CommandSpec spec, String s) {
        return WeightsName.parse(s).orElseThrow(() -> new CommandLine.ParameterException(spec.commandLine(),
                "'" + s + "' is not a known weights name (dinoseg weights list shows them)"));
    }

    /** {@code dinoseg weights list}: the names, their backbones and what the cache holds. */
    @Command(name = "list", mixinStandardHelpOptions = true,
            description = "List the weights names, the backbone each implies, and the cached file (or '-'), then other cached files "
                    + "(e.g. official heads) and the cache folder. Reads only the cache, never the network.")
    public static final class ListNames implements Callable<Integer> {
        @Spec CommandSpec spec;

        @Override public Integer call() throws IOException {
            PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
            WeightsHub hub = hub(err);
            Set<String> shown = new HashSet<>();
            out.printf(Locale.ROOT, "%-40s %-10s %s%n", "NAME", "BACKBONE", "CACHED");
            for (WeightsName n : WeightsName.all()) {
                Path p = hub.cached(n);
                n.files(hub.settings()).forEach(f -> shown.add(f.key()));
                out.printf(Locale.ROOT, "%-40s %-10s %s%n", n.name(), n.preset(), p == null ? "-" : p + " (" + ProgressBar.size(Files.size(p)) + ")");
            }
            Map<String, WeightsCache.Entry> entries = hub.cache().entries(err::println);
            long bytes = 0;
            boolean header = false;
            for (var e : entries.entrySet()) {
                bytes += e.getValue().size();
                if (shown.contains(e.getKey())) continue;
                if (!header) out.println("other cached files:");
                header = true;
                out.println("  " + hub.cache().file(e.getKey()) + " (" + ProgressBar.size(e.getValue().size()) + ", from " + e.getValue().url() + ")");
            }
            out.println("cache: " + hub.cache().root() + " (" + entries.size() + " files, " + ProgressBar.size(bytes) + ")"
                    + (hub.settings().offline() ? "; offline (" + hub.settings().offlineBy() + ")" : ""));
            out.flush();
            return 0;
        }
    }

    /** {@code dinoseg weights download NAME...}: fetch into the cache. */
    @Command(name = "download", mixinStandardHelpOptions = true,
            description = "Download weights into the cache (resuming an interrupted download, checking size and checksum) and print "
                    + "the local file of each. NAME is a weights name or an official file path below $DINOSEG_DINOV2_URL "
                    + "(dinov2_vits14/dinov2_vits14_voc2012_linear_head.pth). Cached, intact files are not downloaded again. "
                    + "Exit status 1 when any fails.")
    public static final class Download implements Callable<Integer> {
        @Spec CommandSpec spec;

        @Parameters(paramLabel = "NAME", arity = "1..*", description = "Weights names or official file paths.")
        List<String> names;

        @Option(names = "--verbose", description = "Print stack traces of errors.")
        boolean verbose;

        @Override public Integer call() {
            PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
            WeightsHub hub = hub(err);
            int failed = 0;
            for (String s : names) {
                try {
                    var n = WeightsName.parse(s);
                    Path p = n.isPresent() ? hub.fetch(n.get()) : hub.official(s);
                    out.println(s + " " + p);
                    out.flush();
                } catch (IOException | IllegalArgumentException e) {
                    failed++;
                    err.println("error: " + ErrorHandler.message(e));
                    if (verbose) e.printStackTrace(err);
                }
            }
            err.flush();
            return failed == 0 ? 0 : 1;
        }
    }

    /** {@code dinoseg weights path NAME}: the cached file, for scripts. */
    @Command(name = "path", mixinStandardHelpOptions = true,
            description = "Print the cached weights file of NAME (exit status 1 with a line saying how to download it when it is not cached). "
                    + "Never uses the network.")
    public static final class PathOf implements Callable<Integer> {
        @Spec CommandSpec spec;

        @Parameters(paramLabel = "NAME", description = "A weights name.")
        String name;

        @Override public Integer call() throws IOException {
            WeightsName n = name(spec, name);
            WeightsHub hub = hub(spec.commandLine().getErr());
            Path p = hub.cached(n);
            if (p == null)
                throw new IOException(n.name() + ": not in the cache " + hub.cache().root() + "; dinoseg weights download " + n.name() + " fetches it");
            spec.commandLine().getOut().println(p);
            spec.commandLine().getOut().flush();
            return 0;
        }
    }

    /** {@code dinoseg weights verify [NAME...]}: hash the cached files. */
    @Command(name = "verify", mixinStandardHelpOptions = true,
            description = "Hash every cached file (or those of the NAMEs) and compare size and SHA-256 with the manifest written at download. "
                    + "A corrupted file is removed (it is fetched again on its next use). Never uses the network. Exit status 1 when any "
                    + "file is corrupted or missing.")
    public static final class Verify implements Callable<Integer> {
        @Spec CommandSpec spec;

        @Parameters(paramLabel = "NAME", arity = "0..*", description = "Weights names (default: the whole cache).")
        List<String> names;

        @Override public Integer call() throws IOException {
            PrintWriter out = spec.commandLine().getOut();
            WeightsHub hub = hub(spec.commandLine().getErr());
            Set<String> keys = null;
            if (names != null && !names.isEmpty()) {
                keys = new HashSet<>();
                for (String s : names) for (var f : name(spec, s).files(hub.settings())) keys.add(f.key());
            }
            List<WeightsHub.Verified> vs = hub.verify(keys == null ? null : keys::contains);
            int bad = 0;
            for (WeightsHub.Verified v : vs) {
                if (!v.ok()) bad++;
                out.println((v.ok() ? "ok " : "BAD ") + v.file() + (v.ok() ? "" : ": " + v.problem()));
            }
            out.println("verified " + vs.size() + " cached file" + (vs.size() == 1 ? "" : "s") + " in " + hub.cache().root() + ": "
                    + (vs.size() - bad) + " ok, " + bad + " bad");
            out.flush();
            return bad == 0 ? 0 : 1;
        }
    }

    /** {@code dinoseg weights check FILE...}: reads each file as --weights would and says what it holds. */
    @Command(name = "check", mixinStandardHelpOptions = true,
            description = "Read weight files (.pth in zip or legacy format, .safetensors) as --weights does and print, per file, "
                    + "the tensors, parameters and backbone names found, or the one-line error. Exit status 1 when any file fails.")
    public static final class Check implements Callable<Integer> {
        @Spec CommandSpec spec;

        @Parameters(paramLabel = "FILE", arity = "1..*", description = "Weight files, or weights names (taken from the cache, downloaded once).")
        List<String> files;

        @Option(names = "--verbose", description = "Print stack traces of errors.")
        boolean verbose;

        @Override public Integer call() {
            PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
            int failed = 0;
            for (String given : files) {
                Path f = Path.of(given);
                try {
                    var name = Files.exists(f) ? java.util.Optional.<WeightsName>empty() : WeightsName.parse(given);
                    if (name.isPresent()) f = hub(err).fetch(name.get());
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
