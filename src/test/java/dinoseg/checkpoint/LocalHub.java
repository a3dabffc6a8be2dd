package dinoseg.checkpoint;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A stand-in for dl.fbaipublicfiles.com and the Hugging Face Hub on a loopback port: files at their
 * real paths, byte ranges ({@code Range: bytes=N-} answered 206 with Content-Range, guarded by
 * {@code If-Range}), the Hub's headers (X-Linked-Etag, X-Linked-Size, X-Repo-Commit, a 302 to a "CDN"
 * that is the same server under the name {@code localhost}), and faults: a connection cut after N
 * bytes, a stall, wrong bytes. Every request is logged with its Range and Authorization headers.
 */
public final class LocalHub implements AutoCloseable {
    /** One request as the server saw it. */
    public record Request(String method, String path, String host, String range, String ifRange, String authorization) { }

    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-");
    private final HttpServer server;
    private final ExecutorService pool = Executors.newCachedThreadPool();
    private final Map<String, Route> routes = new ConcurrentHashMap<>();
    public final List<Request> log = Collections.synchronizedList(new ArrayList<>());

    /** How one path answers. */
    @FunctionalInterface
    public interface Route { void handle(HttpExchange ex) throws IOException; }

    public LocalHub() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.setExecutor(pool);
        server.createContext("/", ex -> {
            try (ex) {
                var h = ex.getRequestHeaders();
                log.add(new Request(ex.getRequestMethod(), ex.getRequestURI().getRawPath(), h.getFirst("Host"), h.getFirst("Range"),
                        h.getFirst("If-Range"), h.getFirst("Authorization")));
                Route r = routes.get(ex.getRequestURI().getRawPath());
                if (r == null) ex.sendResponseHeaders(404, -1);
                else r.handle(ex);
            } catch (IOException e) {
                // a cut connection: what the fault routes are for
            }
        });
        server.start();
    }

    public int port() { return server.getAddress().getPort(); }

    /** The server as 127.0.0.1 (the "origin"); {@link #cdn()} names the same server differently. */
    public String base() { return "http://127.0.0.1:" + port(); }

    public String cdn() { return "http://localhost:" + port(); }

    public void route(String path, Route r) { routes.put(path, r); }

    /** Requests for a path. */
    public List<Request> requests(String path) {
        synchronized (log) {
            return log.stream().filter(r -> r.path().equals(path)).toList();
        }
    }

    /** Serves {@code body} at {@code path} with ranges; {@code cutAfter} > 0 cuts the first full (non-range) answer after that many bytes. */
    public void file(String path, byte[] body, int cutAfter, Map<String, String> headers) {
        int[] cuts = {cutAfter > 0 ? 1 : 0};
        route(path, ex -> {
            headers.forEach((k, v) -> ex.getResponseHeaders().add(k, v));
            ex.getResponseHeaders().add("ETag", "\"v1-" + body.length + "\"");
            String range = ex.getRequestHeaders().getFirst("Range"), ifRange = ex.getRequestHeaders().getFirst("If-Range");
            Matcher m = range == null ? null : RANGE.matcher(range);
            if (m != null && m.matches() && (ifRange == null || ifRange.equals("\"v1-" + body.length + "\""))) {
                int from = Integer.parseInt(m.group(1));
                if (from >= body.length) {
                    ex.sendResponseHeaders(416, -1);
                    return;
                }
                ex.getResponseHeaders().add("Content-Range", "bytes " + from + "-" + (body.length - 1) + "/" + body.length);
                ex.sendResponseHeaders(206, body.length - from);
                try (OutputStream o = ex.getResponseBody()) {
                    o.write(body, from, body.length - from);
                }
                return;
            }
            ex.sendResponseHeaders(200, body.length);
            OutputStream o = ex.getResponseBody();
            if (cuts[0] > 0) {
                cuts[0]--;
                o.write(body, 0, cutAfter);
                o.flush();
                ex.close();   // fewer bytes than announced: closing the exchange drops the connection
                return;
            }
            o.write(body);
            o.close();
        });
    }

    /** Serves {@code body} then, after {@code sendFirst} bytes, sends nothing for {@code stallMs}. */
    public void stalling(String path, byte[] body, int sendFirst, long stallMs) {
        route(path, ex -> {
            ex.sendResponseHeaders(200, body.length);
            OutputStream o = ex.getResponseBody();
            o.write(body, 0, sendFirst);
            o.flush();
            try {
                Thread.sleep(stallMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            o.close();
        });
    }

    /**
     * A Hub LFS file: {@code /<repo>/resolve/<rev>/<file>} answers 302 to the CDN name of the server
     * with X-Linked-Etag (the SHA-256 {@code publishedSha}), X-Linked-Size and X-Repo-Commit; the CDN
     * path serves {@code body}.
     */
    public void hubLfs(String repo, String rev, String file, byte[] body, String publishedSha, int cutAfter) {
        String cdnPath = "/cdn/" + publishedSha;
        file(cdnPath, body, cutAfter, Map.of());
        route("/" + repo + "/resolve/" + rev + "/" + file, ex -> {
            ex.getResponseHeaders().add("X-Linked-Etag", "\"" + publishedSha + "\"");
            ex.getResponseHeaders().add("ETag", "\"0123456789abcdef0123456789abcdef01234567\"");
            ex.getResponseHeaders().add("X-Linked-Size", String.valueOf(body.length));
            ex.getResponseHeaders().add("X-Repo-Commit", "c0ffee0000000000000000000000000000000000");
            ex.getResponseHeaders().add("Location", cdn() + cdnPath + "?signed=1");
            ex.sendResponseHeaders(302, -1);
        });
    }

    /** A small Hub file kept in git: served directly with its git blob SHA-1 as ETag. */
    public void hubSmall(String repo, String rev, String file, byte[] body) {
        String path = "/" + repo + "/resolve/" + rev + "/" + file;
        route(path, ex -> {
            ex.getResponseHeaders().add("ETag", "\"" + gitSha1(body) + "\"");
            ex.getResponseHeaders().add("X-Repo-Commit", "c0ffee0000000000000000000000000000000000");
            ex.sendResponseHeaders(200, body.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(body);
            }
        });
    }

    public static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    public static String gitSha1(byte[] b) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-1");
            md.update(("blob " + b.length + "\0").getBytes(StandardCharsets.US_ASCII));
            return HexFormat.of().formatHex(md.digest(b));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Override public void close() {
        server.stop(0);
        pool.shutdownNow();
    }
}
