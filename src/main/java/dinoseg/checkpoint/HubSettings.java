package dinoseg.checkpoint;

import java.nio.file.Path;
import java.util.Locale;
import java.util.function.Function;

/**
 * Where weights come from and where they are kept: the settings of {@link WeightsHub}, read from
 * environment variables by {@link #current()} or from any lookup by {@link #from} (tests pass a map,
 * since a running JVM cannot change its environment).
 *
 * <ul>
 *   <li>{@code DINOSEG_CACHE}: the cache folder; else {@code $XDG_CACHE_HOME/dinoseg}; else {@code ~/.cache/dinoseg}.</li>
 *   <li>{@code DINOSEG_DINOV2_URL}: base of the official checkpoints (default {@value #DEFAULT_DINOV2_URL}).</li>
 *   <li>{@code HF_ENDPOINT}: the Hugging Face Hub (default {@value #DEFAULT_HF_ENDPOINT}), as huggingface_hub reads it.</li>
 *   <li>{@code HF_TOKEN}: sent as {@code Authorization: Bearer} to the Hub (never to a host it redirects to).</li>
 *   <li>{@code DINOSEG_OFFLINE} or {@code HF_HUB_OFFLINE} true ({@code 1}, {@code true}, {@code yes}, {@code on}, any case,
 *       as huggingface_hub's {@code _is_true}): never touch the network.</li>
 * </ul>
 *
 * @param cache       the cache folder
 * @param dinov2Url   base URL of the official files, without a trailing slash
 * @param hfEndpoint  base URL of the Hub, without a trailing slash
 * @param hfToken     the Hub token, or null
 * @param offlineBy   the setting that forbids the network ("DINOSEG_OFFLINE=1"), or null when online
 * @param retries     how often an interrupted or failed transfer is tried again (resuming) within one call, at least 0
 * @param retryDelayMs milliseconds before the first retry (doubled for each further one), at least 0
 * @param stallMs     a transfer that receives nothing for this long is abandoned (kept for resuming), at least 1
 * @param interactive whether the progress bar redraws in place (a terminal) or prints a line per tenth
 */
public record HubSettings(Path cache, String dinov2Url, String hfEndpoint, String hfToken, String offlineBy,
                          int retries, long retryDelayMs, long stallMs, boolean interactive) {
    public static final String DEFAULT_DINOV2_URL = "https://dl.fbaipublicfiles.com/dinov2";
    public static final String DEFAULT_HF_ENDPOINT = "https://huggingface.co";

    public HubSettings {
        if (retries < 0 || retryDelayMs < 0 || stallMs < 1) throw new IllegalArgumentException("retries, delays and timeouts must not be negative");
    }

    /**
     * The settings of this process: each variable from the Java system property of the same name
     * when one is set ({@code java -DDINOSEG_OFFLINE=1 -jar ...}), else from the environment; home is
     * {@code user.home}. Two retries (1 s, then 2 s later), 60 s without data counts as a stall.
     */
    public static HubSettings current() {
        return from(n -> {
            String p = System.getProperty(n);
            return p != null ? p : System.getenv(n);
        }, Path.of(System.getProperty("user.home", ".")));
    }

    /** The settings a lookup of variable names gives (null: unset), with {@code home} for {@code ~}. */
    public static HubSettings from(Function<String, String> env, Path home) {
        Path cache;
        if (set(env, "DINOSEG_CACHE")) cache = Path.of(env.apply("DINOSEG_CACHE").trim());
        else if (set(env, "XDG_CACHE_HOME")) cache = Path.of(env.apply("XDG_CACHE_HOME").trim()).resolve("dinoseg");
        else cache = home.resolve(".cache").resolve("dinoseg");
        String offline = isTrue(env.apply("DINOSEG_OFFLINE")) ? "DINOSEG_OFFLINE=" + env.apply("DINOSEG_OFFLINE").trim()
                : isTrue(env.apply("HF_HUB_OFFLINE")) ? "HF_HUB_OFFLINE=" + env.apply("HF_HUB_OFFLINE").trim() : null;
        String token = set(env, "HF_TOKEN") ? env.apply("HF_TOKEN").trim() : null;
        return new HubSettings(cache, base(env, "DINOSEG_DINOV2_URL", DEFAULT_DINOV2_URL), base(env, "HF_ENDPOINT", DEFAULT_HF_ENDPOINT),
                token, offline, 2, 1000, 60_000, System.console() != null);
    }

    /** These settings with another retry policy (tests: no waiting). */
    public HubSettings withRetries(int retries, long retryDelayMs) {
        return new HubSettings(cache, dinov2Url, hfEndpoint, hfToken, offlineBy, retries, retryDelayMs, stallMs, interactive);
    }

    /** These settings with another stall limit in milliseconds. */
    public HubSettings withStallMs(long stallMs) {
        return new HubSettings(cache, dinov2Url, hfEndpoint, hfToken, offlineBy, retries, retryDelayMs, stallMs, interactive);
    }

    /** Whether the network is off limits. */
    public boolean offline() { return offlineBy != null; }

    /** huggingface_hub's {@code _is_true}: 1, ON, YES, TRUE in any case. */
    static boolean isTrue(String v) {
        if (v == null) return false;
        String s = v.trim().toUpperCase(Locale.ROOT);
        return s.equals("1") || s.equals("ON") || s.equals("YES") || s.equals("TRUE");
    }

    private static boolean set(Function<String, String> env, String name) {
        String v = env.apply(name);
        return v != null && !v.isBlank();
    }

    private static String base(Function<String, String> env, String name, String def) {
        String v = set(env, name) ? env.apply(name).trim() : def;
        while (v.endsWith("/")) v = v.substring(0, v.length() - 1);
        if (!v.startsWith("http://") && !v.startsWith("https://"))
            throw new IllegalArgumentException(name + "=" + v + ": not an http:// or https:// URL");
        return v;
    }
}
