package dinoseg.checkpoint;

import com.google.gson.Gson;
import com.google.gson.JsonSyntaxException;
import dinoseg.io.AtomicFiles;
import dinoseg.io.ProgressBar;
import dinoseg.io.Stop;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One file over HTTP(S) into a temporary {@code NAME.part} beside its target, then renamed onto it:
 * the JDK's {@link HttpClient}, redirects followed here (at most 10) so the Hub token never goes to
 * another host (as huggingface_hub drops {@code authorization} when the Hub redirects to its CDN),
 * an interrupted transfer resumed with {@code Range: bytes=N-} (and {@code If-Range} with the
 * server's validator, so a changed file starts over), a progress bar in bytes, and checks before the
 * rename: the size the server announced (Content-Length, Content-Range, the Hub's X-Linked-Size) and,
 * for Hub files, the checksum the Hub publishes: X-Linked-Etag, else ETag, of the Hub's own responses
 * (huggingface_hub's {@code get_hf_file_metadata}): 64 hex digits are the LFS SHA-256, 40 the git blob
 * SHA-1. A transfer with no data for {@link HubSettings#stallMs} is abandoned. Interrupted transfers,
 * connection failures, 408/429/5xx are tried again {@link HubSettings#retries} times; the part file
 * stays for the next run when they all fail.
 */
final class Download {
    private static final Gson GSON = new Gson();
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "dinoseg-download-watchdog");
        t.setDaemon(true);
        return t;
    });

    private final HubSettings settings;
    private final HttpClient client;
    private final PrintWriter progress;
    private final Consumer<String> log;

    /** What a finished download was and what the publisher said about it. */
    record Result(long size, String sha256, String published, String commit) { }

    /** What the resume of a part file needs: the URL it is of, the server's validator, the announced size. */
    private record PartInfo(String url, String validator, long total) { }

    /** A failure worth another try (the network, the server's temporary state); the part file stays. */
    private static final class Retryable extends IOException {
        Retryable(String m) { super(m); }
    }

    /** A failure to write the part file (a full disk), told apart from a failure to read the network. */
    private static final class WriteFailed extends IOException {
        WriteFailed(String m) { super(m); }
    }

    Download(HubSettings settings, PrintWriter progress, Consumer<String> log) {
        this.settings = settings;
        this.progress = progress;
        this.log = log;
        this.client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(Duration.ofMillis(settings.stallMs())).build();
    }

    /** Downloads {@code rf} onto {@code target} (atomically), retrying as the settings allow; {@code label} ends the bar. */
    Result fetch(WeightsName.RemoteFile rf, Path target, String label) throws IOException {
        Files.createDirectories(target.toAbsolutePath().getParent());
        Path part = sibling(target, ".part");
        for (int attempt = 0; ; attempt++) {
            try {
                return attempt(rf, target, label, true);
            } catch (Retryable e) {
                long kept = Files.exists(part) ? Files.size(part) : 0;
                if (attempt >= settings.retries())
                    throw new IOException(e.getMessage() + (kept > 0 ? "; " + kept + " bytes are kept in " + part + ": run again to resume" : ""));
                long wait = settings.retryDelayMs() << Math.min(attempt, 10);
                log.accept("note: " + e.getMessage() + "; trying again" + (wait > 0 ? " in " + wait / 1000.0 + " s" : "")
                        + (kept > 0 ? " from byte " + kept : ""));
                try {
                    Thread.sleep(wait);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException(rf.url() + ": interrupted");
                }
            }
        }
    }

    private Result attempt(WeightsName.RemoteFile rf, Path target, String label, boolean mayRestart) throws IOException {
        Path part = sibling(target, ".part"), infoFile = sibling(target, ".part.json");
        PartInfo info = readInfo(infoFile);
        long have = 0;
        if (Files.isRegularFile(part) && info != null && rf.url().equals(info.url())) have = Files.size(part);
        else {
            Files.deleteIfExists(part);
            Files.deleteIfExists(infoFile);
        }
        URI first = URI.create(rf.url()), uri = first;
        String published = null, commit = null;
        long linkedSize = -1;
        HttpResponse<InputStream> resp;
        for (int hop = 0; ; hop++) {
            if (hop > 10) throw new IOException(rf.url() + ": more than 10 redirects");
            HttpRequest.Builder b = HttpRequest.newBuilder(uri).GET().timeout(Duration.ofMillis(settings.stallMs()))
                    .header("User-Agent", "dinoseg").header("Accept-Encoding", "identity");
            if (have > 0) {
                b.header("Range", "bytes=" + have + "-");
                if (info.validator() != null) b.header("If-Range", info.validator());
            }
            boolean hub = sameOrigin(uri, first);
            if (rf.huggingFace() && hub && settings.hfToken() != null) b.header("Authorization", "Bearer " + settings.hfToken());
            resp = send(b.build(), uri);
            if (rf.huggingFace() && hub) {
                // the Hub's own answers carry the file's identity; a CDN's ETag is its own business
                HttpHeaders h = resp.headers();
                Optional<String> etag = h.firstValue("X-Linked-Etag").or(() -> h.firstValue("ETag"));
                if (etag.isPresent()) published = checksum(etag.get());
                commit = h.firstValue("X-Repo-Commit").orElse(commit);
                linkedSize = h.firstValueAsLong("X-Linked-Size").orElse(linkedSize);
            }
            int st = resp.statusCode();
            if (st == 301 || st == 302 || st == 303 || st == 307 || st == 308) {
                String loc = resp.headers().firstValue("Location").orElse(null);
                resp.body().close();
                if (loc == null) throw new IOException(uri + ": HTTP " + st + " redirect without a Location");
                try {
                    uri = uri.resolve(loc);
                } catch (IllegalArgumentException e) {
                    throw new IOException(uri + ": HTTP " + st + " redirect to a malformed Location (" + e.getMessage() + ")");
                }
                if (!"http".equalsIgnoreCase(uri.getScheme()) && !"https".equalsIgnoreCase(uri.getScheme()))
                    throw new IOException(rf.url() + ": redirected to " + uri + ", which is not http(s)");
                continue;
            }
            break;
        }
        int st = resp.statusCode();
        long total;
        if (st == 200) {
            if (have > 0) log.accept("note: " + uri.getHost() + " sent the whole file instead of resuming; starting over");
            have = 0;
            total = resp.headers().firstValueAsLong("Content-Length").orElse(linkedSize);
        } else if (st == 206 && have > 0) {
            Matcher m = CONTENT_RANGE.matcher(resp.headers().firstValue("Content-Range").orElse(""));
            if (!m.matches() || Long.parseLong(m.group(1)) != have) {
                resp.body().close();
                Files.deleteIfExists(part);
                Files.deleteIfExists(infoFile);
                throw new Retryable(uri + ": the server resumed at a different byte than " + have + " ("
                        + resp.headers().firstValue("Content-Range").orElse("no Content-Range") + "); starting over");
            }
            total = m.group(3).equals("*") ? linkedSize : Long.parseLong(m.group(3));
        } else if (st == 416 && have > 0 && mayRestart) {
            // the part is not a prefix of what the server has now: discard it and start over, once
            resp.body().close();
            log.accept("note: " + uri.getHost() + " cannot resume from byte " + have + " (HTTP 416); starting over");
            Files.deleteIfExists(part);
            Files.deleteIfExists(infoFile);
            return attempt(rf, target, label, false);
        } else {
            resp.body().close();
            throw httpError(rf, uri, st);
        }
        if (linkedSize >= 0 && total >= 0 && linkedSize != total)
            throw new IOException(uri + ": the server announces " + total + " bytes but the Hub's X-Linked-Size says " + linkedSize);
        if (have == 0) {
            HttpHeaders h = resp.headers();
            String validator = h.firstValue("ETag").filter(e -> !e.startsWith("W/"))
                    .or(() -> h.firstValue("Last-Modified")).orElse(null);
            AtomicFiles.writeString(infoFile, GSON.toJson(new PartInfo(rf.url(), validator, total)));
        }
        long done = copy(resp, part, have, total, uri, label);
        if (total >= 0 && done < total) throw new Retryable(uri + ": the transfer ended after " + done + " of " + total + " bytes");
        if (total >= 0 && done > total) {
            Files.deleteIfExists(part);
            Files.deleteIfExists(infoFile);
            throw new IOException(uri + ": received " + done + " bytes, more than the " + total + " announced; nothing was cached");
        }
        String sha = WeightsCache.sha256(part);
        if (published != null) {
            boolean isSha256 = published.startsWith("sha256:");
            String want = published.substring(published.indexOf(':') + 1);
            String got = isSha256 ? sha : WeightsCache.gitBlobSha1(part);
            if (!got.equals(want)) {
                Files.deleteIfExists(part);
                Files.deleteIfExists(infoFile);
                throw new IOException(rf.url() + ": the downloaded " + done + " bytes do not match the Hub's checksum ("
                        + (isSha256 ? "sha256 " : "git sha1 ") + got + ", expected " + want
                        + "); nothing was cached and the next try downloads afresh");
            }
        }
        AtomicFiles.publish(part, target);
        Files.deleteIfExists(infoFile);
        return new Result(done, sha, published, commit);
    }

    /** Streams the body onto the part file from byte {@code have}; a watchdog ends a transfer that stalls. */
    private long copy(HttpResponse<InputStream> resp, Path part, long have, long total, URI uri, String label) throws IOException {
        AtomicLong last = new AtomicLong(System.nanoTime());
        AtomicBoolean stalled = new AtomicBoolean();
        Thread me = Thread.currentThread();
        InputStream in = resp.body();
        long period = Math.max(10, Math.min(1000, settings.stallMs() / 4));
        Object guard = new Object();   // the watchdog interrupts only while the copy runs: no stray interrupt after it
        boolean[] copying = {true};
        ScheduledFuture<?> dog = WATCHDOG.scheduleAtFixedRate(() -> {
            synchronized (guard) {
                if (copying[0] && System.nanoTime() - last.get() > settings.stallMs() * 1_000_000L && stalled.compareAndSet(false, true)) {
                    me.interrupt();
                    try {
                        in.close();
                    } catch (IOException ignored) {
                        // the interrupt alone ends the read
                    }
                }
            }
        }, period, period, TimeUnit.MILLISECONDS);
        long done = have;
        ProgressBar bar = progress == null ? null : ProgressBar.bytes(progress, "download", total, settings.interactive());
        if (bar != null) bar.resumeAt(have);
        try (in; OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                have > 0 ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) {
                try {
                    out.write(buf, 0, n);
                } catch (IOException e) {   // the disk, not the network: trying again would not help
                    if (stalled.get()) throw e;
                    throw new WriteFailed(part + ": cannot write the download (" + (e.getMessage() == null ? e.getClass().getSimpleName()
                            : e.getMessage()) + ")");
                }
                done += n;
                last.set(System.nanoTime());
                if (bar != null) bar.update(done, label, false);
                if (Stop.process().requested())   // SIGINT/SIGTERM where the CLI cooperates (train): keep the part, stop
                    throw Stop.process().stopped("stopped by SIG" + Stop.process().signal() + ": the download of " + uri + " after "
                            + done + (total >= 0 ? " of " + total : "") + " bytes; run again to resume it");
            }
        } catch (WriteFailed e) {
            endCopy(guard, copying, dog, stalled);
            throw new IOException(e.getMessage());
        } catch (IOException e) {
            endCopy(guard, copying, dog, stalled);
            long kept = Files.exists(part) ? Files.size(part) : done;
            String of = total >= 0 ? " of " + total : "";
            if (stalled.get())
                throw new Retryable(uri + ": no data for " + settings.stallMs() / 1000.0 + " s after " + kept + of + " bytes");
            throw new Retryable(uri + ": the transfer was interrupted after " + kept + of + " bytes ("
                    + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()) + ")");
        } finally {
            endCopy(guard, copying, dog, stalled);
            if (bar != null) bar.update(done, label, true);
            if (bar != null) bar.close();
        }
        if (stalled.get()) throw new Retryable(uri + ": no data for " + settings.stallMs() / 1000.0 + " s after " + done + " bytes");
        return done;
    }

    /** Ends the watchdog's watch; clears its interrupt when it came (and only then). */
    private static void endCopy(Object guard, boolean[] copying, ScheduledFuture<?> dog, AtomicBoolean stalled) {
        synchronized (guard) {
            copying[0] = false;
        }
        dog.cancel(false);
        if (stalled.get()) Thread.interrupted();
    }

    private HttpResponse<InputStream> send(HttpRequest req, URI uri) throws IOException {
        try {
            return client.send(req, HttpResponse.BodyHandlers.ofInputStream());
        } catch (HttpTimeoutException e) {
            throw new Retryable(uri + ": no answer within " + settings.stallMs() / 1000.0 + " s");
        } catch (ConnectException e) {
            String why = e.getMessage() != null ? e.getMessage() : e.getCause() != null && e.getCause().getMessage() != null
                    ? e.getCause().getMessage() : "connection refused";
            throw new Retryable(uri + ": cannot connect to " + uri.getHost() + (uri.getPort() > 0 ? ":" + uri.getPort() : "")
                    + " (" + why.toLowerCase(Locale.ROOT) + ")");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException(uri + ": interrupted");
        } catch (IOException e) {
            throw new Retryable(uri + ": " + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()));
        }
    }

    private IOException httpError(WeightsName.RemoteFile rf, URI uri, int st) {
        String where = uri.toString().equals(rf.url()) ? rf.url() : rf.url() + " (at " + uri + ")";
        String what = switch (st) {
            case 404 -> "not found (HTTP 404)";
            case 401, 403 -> "access denied (HTTP " + st + ")" + (rf.huggingFace()
                    ? settings.hfToken() == null ? "; a gated or private repository needs HF_TOKEN" : "; check HF_TOKEN" : "");
            default -> "HTTP " + st;
        };
        if (st == 408 || st == 429 || st >= 500) return new Retryable(where + ": " + what);
        return new IOException(where + ": " + what);
    }

    /** "sha256:HEX" or "git-sha1:HEX" for an ETag that is one (quotes and W/ removed), else null. */
    static String checksum(String etag) {
        String e = etag.trim();
        if (e.startsWith("W/")) e = e.substring(2);
        e = e.replace("\"", "").toLowerCase(Locale.ROOT);
        if (e.matches("[0-9a-f]{64}")) return "sha256:" + e;
        if (e.matches("[0-9a-f]{40}")) return "git-sha1:" + e;
        return null;
    }

    private static boolean sameOrigin(URI a, URI b) {
        return a.getScheme().equalsIgnoreCase(b.getScheme()) && String.valueOf(a.getHost()).equalsIgnoreCase(String.valueOf(b.getHost()))
                && port(a) == port(b);
    }

    private static int port(URI u) {
        return u.getPort() >= 0 ? u.getPort() : u.getScheme().equalsIgnoreCase("https") ? 443 : 80;
    }

    private static PartInfo readInfo(Path f) {
        try {
            return Files.isRegularFile(f) ? GSON.fromJson(Files.readString(f, StandardCharsets.UTF_8), PartInfo.class) : null;
        } catch (IOException | JsonSyntaxException e) {
            return null;
        }
    }

    static Path sibling(Path target, String suffix) {
        return target.resolveSibling(target.getFileName() + suffix);
    }
}
