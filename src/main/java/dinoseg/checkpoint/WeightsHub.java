package dinoseg.checkpoint;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dinoseg.io.JsonText;
import dinoseg.model.BackboneConfig;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Named weights through the cache: a {@link WeightsName} or an official file path becomes a local
 * file, downloaded once ({@link Download}: resumable, size- and checksum-checked, atomic) and
 * found in the cache ({@link WeightsCache}) after that without touching the network. Offline
 * ({@link HubSettings#offline()}) nothing is requested: a file missing from the cache is one line
 * saying which and how to get it.
 *
 * <p>Errors are one line naming the URL or file and the problem: an {@link IOException} for the
 * network, the cache and offline misses, an {@link IllegalArgumentException} for a bad path or a
 * config.json that contradicts the name.
 */
public final class WeightsHub {
    private final HubSettings settings;
    private final WeightsCache cache;
    private final PrintWriter progress;
    private final Consumer<String> log;

    /**
     * A hub with these settings; the download bar and notes go to {@code err} (null: silent).
     */
    public WeightsHub(HubSettings settings, PrintWriter err) {
        this.settings = settings;
        this.cache = new WeightsCache(settings.cache());
        this.progress = err;
        this.log = err == null ? line -> { } : line -> {
            err.println(line);
            err.flush();
        };
    }

    /**
     * {@code $DINOSEG_DINOV2_URL/<relativePath>} (e.g. {@code dinov2_vits14/dinov2_vits14_voc2012_linear_head.pth})
     * through the cache with the settings of this process ({@link HubSettings#current()}), the bar and
     * notes on stderr: the local file, downloaded and verified if it was not cached.
     *
     * @throws IllegalArgumentException a path that is absolute, has {@code .}/{@code ..} parts or odd characters, or bad settings
     * @throws UncheckedIOException     one line naming the URL (or the cached file) and the problem: HTTP status, connection,
     *                                  interrupted transfer, size or checksum, offline and not cached
     */
    public static Path fetchOfficial(String relativePath) {
        try {
            return new WeightsHub(HubSettings.current(), new PrintWriter(System.err, true)).official(relativePath);
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
        }
    }

    public HubSettings settings() { return settings; }

    public WeightsCache cache() { return cache; }

    /** {@link #fetchOfficial} with this hub's settings; errors as checked {@link IOException}s. */
    public Path official(String relativePath) throws IOException {
        WeightsName.RemoteFile rf = WeightsName.RemoteFile.official(settings, relativePath);
        return fetch(rf, relativePath, "dinoseg weights download with network access");
    }

    /**
     * The weights file of a name (downloaded if needed; for Hugging Face also its config.json, which
     * must agree with the name's backbone).
     */
    public Path fetch(WeightsName name) throws IOException {
        List<WeightsName.RemoteFile> files = name.files(settings);
        String how = "dinoseg weights download " + name.name();
        // the small config.json first: a repository that is not what the name says is refused before the big download
        for (WeightsName.RemoteFile rf : files.subList(1, files.size()))
            if (rf.key().endsWith("/config.json")) checkConfig(fetch(rf, name.name(), how), name);
        return fetch(files.get(0), name.name(), how);
    }

    /** The cached weights file of a name when it is there and intact (no network), else null. */
    public Path cached(WeightsName name) throws IOException {
        try (WeightsCache.Held l = cache.lock()) {
            Path first = null;
            for (WeightsName.RemoteFile rf : name.files(settings)) {
                if (cache.check(rf.key(), log) != WeightsCache.State.OK) return null;
                if (first == null) first = cache.file(rf.key());
            }
            return first;
        }
    }

    /** One file through the cache: {@code what} names it in messages, {@code howToGet} ends the offline line. */
    private Path fetch(WeightsName.RemoteFile rf, String what, String howToGet) throws IOException {
        Path file = cache.file(rf.key());
        try (WeightsCache.Held l = cache.lock()) {
            WeightsCache.State st = cache.check(rf.key(), log);
            if (st == WeightsCache.State.OK) return file;
            if (st == WeightsCache.State.CORRUPTED)
                log.accept("warning: " + file + " is corrupted (its SHA-256 is not the one recorded when it was downloaded); "
                        + (settings.offline() ? "cannot fetch it again offline" : "fetching it again"));
            if (settings.offline()) {
                if (st == WeightsCache.State.UNRECORDED) {
                    log.accept("note: " + file + " is not in the cache's manifest; using it unverified (" + settings.offlineBy() + ")");
                    return file;
                }
                throw new IOException(what + ": " + file + (st == WeightsCache.State.CORRUPTED ? " is corrupted" : " is not in the cache")
                        + " and " + settings.offlineBy() + " forbids downloading " + rf.url() + "; fetch it once online ("
                        + howToGet + ") or pass a local file");
            }
            Download.Result r = new Download(settings, progress, log).fetch(rf, file, what);
            cache.record(rf.key(), new WeightsCache.Entry(rf.url(), r.size(), r.sha256(), Files.getLastModifiedTime(file).toMillis(),
                    r.published(), r.commit(), Instant.now().truncatedTo(ChronoUnit.SECONDS).toString()), log);
            log.accept("cached " + rf.url() + " as " + file + " (" + dinoseg.io.ProgressBar.size(r.size()) + ", sha256 " + r.sha256()
                    + (r.published() != null ? ", matches the Hub's" : "") + ")");
            return file;
        }
    }

    /**
     * Checks a Hub config.json against the backbone the name stands for: hidden_size,
     * num_hidden_layers, num_attention_heads, num_register_tokens (absent: 0) and use_swiglu_ffn,
     * where present (transformers' Dinov2Config / Dinov2WithRegistersConfig keys).
     */
    static void checkConfig(Path config, WeightsName name) throws IOException {
        JsonElement e = JsonText.parse(Files.readString(config, StandardCharsets.UTF_8), config.toString());
        if (!e.isJsonObject()) throw new IllegalArgumentException(config + ": config.json is not a JSON object");
        JsonObject o = e.getAsJsonObject();
        BackboneConfig want = BackboneConfig.preset(name.preset());
        List<String> bad = new ArrayList<>();
        for (var k : Map.of("hidden_size", want.embedDim(), "num_hidden_layers", want.depth(), "num_attention_heads", want.heads(),
                "num_register_tokens", want.registers()).entrySet()) {
            long got = k.getKey().equals("num_register_tokens") && !o.has(k.getKey()) ? 0 : number(o, k.getKey(), config);
            if (got >= 0 && got != k.getValue()) bad.add(k.getKey() + " " + got + " (expected " + k.getValue() + ")");
        }
        if (o.has("use_swiglu_ffn") && o.get("use_swiglu_ffn").isJsonPrimitive() && o.get("use_swiglu_ffn").getAsJsonPrimitive().isBoolean()
                && o.get("use_swiglu_ffn").getAsBoolean() != want.swiglu())
            bad.add("use_swiglu_ffn " + o.get("use_swiglu_ffn") + " (expected " + want.swiglu() + ")");
        if (!bad.isEmpty())
            throw new IllegalArgumentException(config + ": does not describe the " + name.preset() + " backbone " + name.name()
                    + " stands for: " + String.join(", ", bad));
    }

    private static long number(JsonObject o, String k, Path where) {
        if (!o.has(k)) return -1;
        JsonElement v = o.get(k);
        if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isNumber())
            throw new IllegalArgumentException(where + ": " + k + " must be a number, got " + v);
        return v.getAsLong();
    }

    /** What {@link #verify} found for one cached file. */
    public record Verified(String key, Path file, String problem) {
        public boolean ok() { return problem == null; }
    }

    /**
     * Hashes every file the manifest records (no network) and compares size and SHA-256 with the
     * record; a corrupted file is deleted and forgotten (so it is fetched again on its next use), a
     * missing one forgotten. Only the keys {@code which} accepts when it is not null.
     */
    public List<Verified> verify(java.util.function.Predicate<String> which) throws IOException {
        List<Verified> out = new ArrayList<>();
        try (WeightsCache.Held l = cache.lock()) {
            for (var e : cache.entries(log).entrySet()) {
                if (which != null && !which.test(e.getKey())) continue;
                Path f = cache.file(e.getKey());
                String problem = null;
                if (!Files.isRegularFile(f)) problem = "missing (forgotten; fetched again on its next use)";
                else {
                    long size = Files.size(f);
                    String sha = size == e.getValue().size() ? WeightsCache.sha256(f) : null;
                    if (sha == null || !sha.equals(e.getValue().sha256())) {
                        problem = "corrupted (" + (sha == null ? size + " bytes, recorded " + e.getValue().size()
                                : "sha256 " + sha + ", recorded " + e.getValue().sha256()) + "); removed, fetched again on its next use";
                        Files.delete(f);
                    } else if (Files.getLastModifiedTime(f).toMillis() != e.getValue().mtimeMs()) {
                        var v = e.getValue();
                        cache.record(e.getKey(), new WeightsCache.Entry(v.url(), v.size(), v.sha256(), Files.getLastModifiedTime(f).toMillis(),
                                v.published(), v.commit(), v.downloaded()), log);
                    }
                }
                if (problem != null) cache.record(e.getKey(), null, log);
                out.add(new Verified(e.getKey(), f, problem));
            }
        }
        return out;
    }
}
