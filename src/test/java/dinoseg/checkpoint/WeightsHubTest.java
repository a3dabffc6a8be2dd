package dinoseg.checkpoint;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Downloads through the cache against a local server with the real path layouts
 * ({@code /dinov2/<base>/<name>_pretrain.pth}, {@code /<repo>/resolve/<rev>/model.safetensors}).
 */
class WeightsHubTest {
    private static final String VITS = "/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth";
    private static final String HF_MODEL = "/facebook/dinov2-small/resolve/main/model.safetensors";
    private static final String HF_CONFIG = "/facebook/dinov2-small/resolve/main/config.json";
    private static final byte[] CONFIG_SMALL = ("{\"model_type\": \"dinov2\", \"hidden_size\": 384, \"num_hidden_layers\": 12, "
            + "\"num_attention_heads\": 6, \"use_swiglu_ffn\": false}").getBytes(StandardCharsets.UTF_8);

    @TempDir Path dir;
    LocalHub server;
    StringWriter err;

    @BeforeEach void start() throws IOException {
        server = new LocalHub();
        err = new StringWriter();
    }

    @AfterEach void stop() {
        server.close();
    }

    private static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private HubSettings settings(String... extra) {
        Map<String, String> env = new HashMap<>();
        env.put("DINOSEG_CACHE", dir.resolve("cache").toString());
        env.put("DINOSEG_DINOV2_URL", server.base() + "/dinov2/");
        env.put("HF_ENDPOINT", server.base());
        for (int i = 0; i < extra.length; i += 2) env.put(extra[i], extra[i + 1]);
        return HubSettings.from(env::get, dir.resolve("home")).withRetries(0, 0).withStallMs(5000);
    }

    private WeightsHub hub(HubSettings s) {
        return new WeightsHub(s, new PrintWriter(err, true));
    }

    private static WeightsName name(String n) {
        return WeightsName.parse(n).orElseThrow();
    }

    @Test void firstDownloadThenCacheHitWithTheServerGone() throws IOException {
        byte[] body = bytes(300_000, 1);
        server.file(VITS, body, 0, Map.of());
        HubSettings s = settings();
        Path p = hub(s).fetch(name("dinov2_vits14"));
        assertEquals(dir.resolve("cache/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth"), p);
        assertArrayEquals(body, Files.readAllBytes(p));
        WeightsCache.Entry e = new WeightsCache(s.cache()).entries(null).get("dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth");
        assertEquals(LocalHub.sha256(body), e.sha256());
        assertEquals(body.length, e.size());
        assertEquals(server.base() + VITS, e.url());
        assertNull(e.published(), "the official server publishes no checksum");
        // the bar: size, speed, ETA on the error stream; nothing left beside the file
        assertTrue(err.toString().matches("(?s).*download +100% \\[#+\\] 293\\.0/293\\.0 KiB [0-9.]+ (B|KiB|MiB|GiB)/s elapsed .*"), err.toString());
        try (var files = Files.list(p.getParent())) {
            assertEquals(List.of(p), files.toList());
        }
        assertEquals(1, server.log.size());

        server.close();
        assertEquals(p, hub(s).fetch(name("dinov2_vits14")), "a cached file needs no server");
        // and what is not cached fails in one line naming the URL and the reason
        IOException ex = assertThrows(IOException.class, () -> hub(s).fetch(name("dinov2_vitb14")));
        assertTrue(ex.getMessage().startsWith(server.base() + "/dinov2/dinov2_vitb14/dinov2_vitb14_pretrain.pth: cannot connect to 127.0.0.1:"),
                ex.getMessage());
        assertFalse(ex.getMessage().contains("\n"));
    }

    @Test void anInterruptedTransferResumesWithARangeRequest() throws IOException {
        byte[] body = bytes(250_000, 2);
        server.file(VITS, body, 100_000, Map.of());
        HubSettings s = settings();
        IOException ex = assertThrows(IOException.class, () -> hub(s).fetch(name("dinov2_vits14")));
        // the server sent 100000 bytes and dropped the connection; the client keeps what arrived (a reset may lose the tail)
        Path target = dir.resolve("cache/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth");
        assertFalse(Files.exists(target), "nothing half-downloaded is in the cache");
        long kept = Files.size(Download.sibling(target, ".part"));
        assertTrue(kept > 0 && kept <= 100_000, "kept " + kept);
        assertTrue(ex.getMessage().contains("interrupted after " + kept + " of 250000 bytes"), ex.getMessage());
        assertTrue(ex.getMessage().endsWith(kept + " bytes are kept in " + Download.sibling(target, ".part") + ": run again to resume"), ex.getMessage());

        Path p = hub(s).fetch(name("dinov2_vits14"));
        assertArrayEquals(body, Files.readAllBytes(p));
        List<LocalHub.Request> rs = server.requests(VITS);
        assertEquals(2, rs.size());
        assertNull(rs.get(0).range());
        assertEquals("bytes=" + kept + "-", rs.get(1).range());
        assertEquals("\"v1-250000\"", rs.get(1).ifRange(), "the resume is guarded by the server's validator");
        assertFalse(Files.exists(Download.sibling(target, ".part")));
        assertFalse(Files.exists(Download.sibling(target, ".part.json")));
        assertEquals(LocalHub.sha256(body), new WeightsCache(s.cache()).entries(null).values().iterator().next().sha256());
    }

    @Test void retriesResumeWithinOneCall() throws IOException {
        byte[] body = bytes(200_000, 3);
        server.file(VITS, body, 65_536, Map.of());
        Path p = hub(settings().withRetries(1, 0)).fetch(name("dinov2_vits14"));
        assertArrayEquals(body, Files.readAllBytes(p));
        List<LocalHub.Request> rs = server.requests(VITS);
        assertEquals(2, rs.size());
        assertNull(rs.get(0).range());
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("bytes=(\\d+)-").matcher(rs.get(1).range());
        assertTrue(m.matches(), rs.get(1).range());
        long from = Long.parseLong(m.group(1));
        assertTrue(from > 0 && from <= 65_536, "resumed from " + from);
        assertTrue(err.toString().contains("trying again from byte " + from), err.toString());
    }

    @Test void notFoundIsOneLineAndCachesNothing() {
        HubSettings s = settings();
        IOException ex = assertThrows(IOException.class, () -> hub(s).official("dinov2_vits14/dinov2_vits14_voc2012_linear_head.pth"));
        assertEquals(server.base() + "/dinov2/dinov2_vits14/dinov2_vits14_voc2012_linear_head.pth: not found (HTTP 404)", ex.getMessage());
        assertFalse(Files.exists(s.cache().resolve("dinov2/dinov2_vits14/dinov2_vits14_voc2012_linear_head.pth")));
        assertFalse(Files.exists(s.cache().resolve("dinov2/dinov2_vits14/dinov2_vits14_voc2012_linear_head.pth.part")));
    }

    @Test void officialFilesByPath() throws IOException {
        byte[] head = bytes(5_000, 4);
        server.file("/dinov2/dinov2_vits14/dinov2_vits14_voc2012_linear_head.pth", head, 0, Map.of());
        Path p = hub(settings()).official("dinov2_vits14/dinov2_vits14_voc2012_linear_head.pth");
        assertArrayEquals(head, Files.readAllBytes(p));
        for (String bad : new String[] {"../escape.pth", "/abs.pth", "a/./b.pth", "", "a b.pth"})
            assertThrows(IllegalArgumentException.class, () -> hub(settings()).official(bad), bad);
    }

    @Test void redirectToTheCdnIsFollowedTheChecksumCheckedAndTheTokenKeptAtTheHub() throws IOException {
        byte[] model = bytes(120_000, 5);
        server.hubLfs("facebook/dinov2-small", "main", "model.safetensors", model, LocalHub.sha256(model), 0);
        server.hubSmall("facebook/dinov2-small", "main", "config.json", CONFIG_SMALL);
        HubSettings s = settings("HF_TOKEN", "hf_secret");
        Path p = hub(s).fetch(name("facebook/dinov2-small"));
        assertEquals(dir.resolve("cache/huggingface/facebook/dinov2-small/main/model.safetensors"), p);
        assertArrayEquals(model, Files.readAllBytes(p));
        assertArrayEquals(CONFIG_SMALL, Files.readAllBytes(p.resolveSibling("config.json")));
        LocalHub.Request atHub = server.requests(HF_MODEL).get(0);
        LocalHub.Request atCdn = server.requests("/cdn/" + LocalHub.sha256(model)).get(0);
        assertEquals("Bearer hf_secret", atHub.authorization());
        assertTrue(atCdn.host().startsWith("localhost:"), atCdn.host());
        assertNull(atCdn.authorization(), "the token does not leave the Hub");
        Map<String, WeightsCache.Entry> m = new WeightsCache(s.cache()).entries(null);
        WeightsCache.Entry e = m.get("huggingface/facebook/dinov2-small/main/model.safetensors");
        assertEquals("sha256:" + LocalHub.sha256(model), e.published());
        assertEquals("c0ffee0000000000000000000000000000000000", e.commit());
        assertEquals("git-sha1:" + LocalHub.gitSha1(CONFIG_SMALL), m.get("huggingface/facebook/dinov2-small/main/config.json").published());
        assertTrue(err.toString().contains("matches the Hub's"), err.toString());
    }

    @Test void wrongBytesAreNotCached() throws IOException {
        byte[] model = bytes(80_000, 6);
        byte[] other = bytes(80_000, 7);
        server.hubLfs("facebook/dinov2-small", "main", "model.safetensors", model, LocalHub.sha256(other), 0);
        server.hubSmall("facebook/dinov2-small", "main", "config.json", CONFIG_SMALL);
        HubSettings s = settings();
        IOException ex = assertThrows(IOException.class, () -> hub(s).fetch(name("facebook/dinov2-small")));
        assertTrue(ex.getMessage().startsWith(server.base() + HF_MODEL + ": the downloaded 80000 bytes do not match the Hub's checksum (sha256 "
                + LocalHub.sha256(model) + ", expected " + LocalHub.sha256(other) + ")"), ex.getMessage());
        Path target = s.cache().resolve("huggingface/facebook/dinov2-small/main/model.safetensors");
        assertFalse(Files.exists(target));
        assertFalse(Files.exists(Download.sibling(target, ".part")), "bad bytes are not resumed from");
        assertFalse(new WeightsCache(s.cache()).entries(null).containsKey("huggingface/facebook/dinov2-small/main/model.safetensors"));
    }

    @Test void aConfigThatContradictsTheNameStopsBeforeTheWeights() {
        server.hubSmall("facebook/dinov2-small", "main", "config.json",
                "{\"hidden_size\": 768, \"num_hidden_layers\": 12, \"num_attention_heads\": 12}".getBytes(StandardCharsets.UTF_8));
        byte[] model = bytes(1000, 8);
        server.hubLfs("facebook/dinov2-small", "main", "model.safetensors", model, LocalHub.sha256(model), 0);
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> hub(settings()).fetch(name("facebook/dinov2-small")));
        assertTrue(ex.getMessage().endsWith("config.json: does not describe the small backbone facebook/dinov2-small stands for: "
                + "hidden_size 768 (expected 384), num_attention_heads 12 (expected 6)")
                || ex.getMessage().endsWith("num_attention_heads 12 (expected 6), hidden_size 768 (expected 384)"), ex.getMessage());
        assertEquals(0, server.requests(HF_MODEL).size(), "the weights were not requested");
    }

    @Test void registersAndRevisionsFromTheHub() throws IOException {
        byte[] model = bytes(2000, 9);
        byte[] config = "{\"hidden_size\": 768, \"num_hidden_layers\": 12, \"num_attention_heads\": 12, \"num_register_tokens\": 4}"
                .getBytes(StandardCharsets.UTF_8);
        server.hubLfs("facebook/dinov2-with-registers-base", "refs%2Fpr%2F3", "model.safetensors", model, LocalHub.sha256(model), 0);
        server.hubSmall("facebook/dinov2-with-registers-base", "refs%2Fpr%2F3", "config.json", config);
        WeightsName n = name("facebook/dinov2-with-registers-base@refs/pr/3");
        assertEquals("base_reg", n.preset());
        Path p = hub(settings()).fetch(n);
        assertEquals(dir.resolve("cache/huggingface/facebook/dinov2-with-registers-base/refs--pr--3/model.safetensors"), p);
        assertArrayEquals(model, Files.readAllBytes(p));
    }

    @Test void offlineNeverTouchesTheNetwork() throws IOException {
        byte[] body = bytes(10_000, 10);
        server.file(VITS, body, 0, Map.of());
        for (String[] off : new String[][] {{"DINOSEG_OFFLINE", "1"}, {"HF_HUB_OFFLINE", "true"}}) {
            HubSettings s = settings(off);
            IOException ex = assertThrows(IOException.class, () -> hub(s).fetch(name("dinov2_vits14")));
            assertEquals("dinov2_vits14: " + s.cache().resolve("dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth") + " is not in the cache and "
                    + off[0] + "=" + off[1] + " forbids downloading " + server.base() + VITS
                    + "; fetch it once online (dinoseg weights download dinov2_vits14) or pass a local file", ex.getMessage());
        }
        assertEquals(0, server.log.size());
        Path p = hub(settings()).fetch(name("dinov2_vits14"));
        assertEquals(p, hub(settings("DINOSEG_OFFLINE", "yes")).fetch(name("dinov2_vits14")));
        assertEquals(1, server.log.size(), "the offline cache hit made no request");
        assertFalse(settings("DINOSEG_OFFLINE", "0").offline());
    }

    @Test void aCorruptedCachedFileIsFetchedAgain() throws IOException {
        byte[] body = bytes(50_000, 11);
        server.file(VITS, body, 0, Map.of());
        HubSettings s = settings();
        Path p = hub(s).fetch(name("dinov2_vits14"));
        byte[] bad = body.clone();
        bad[1234] ^= 1;
        Files.write(p, bad);
        Files.setLastModifiedTime(p, FileTime.fromMillis(Files.getLastModifiedTime(p).toMillis() + 5000));
        assertEquals(p, hub(s).fetch(name("dinov2_vits14")));
        assertArrayEquals(body, Files.readAllBytes(p));
        assertEquals(2, server.requests(VITS).size());
        assertTrue(err.toString().contains("is corrupted"), err.toString());

        // a changed modification time alone (a copy, a touch) costs a hash, not a download
        Files.setLastModifiedTime(p, FileTime.fromMillis(Files.getLastModifiedTime(p).toMillis() + 5000));
        hub(s).fetch(name("dinov2_vits14"));
        assertEquals(2, server.requests(VITS).size());

        // a flip that keeps size and time is found by verify, which removes the file: the next use fetches it
        FileTime t = Files.getLastModifiedTime(p);
        Files.write(p, bad);
        Files.setLastModifiedTime(p, t);
        List<WeightsHub.Verified> vs = hub(s).verify(null);
        assertEquals(1, vs.size());
        assertTrue(vs.get(0).problem().startsWith("corrupted (sha256 " + LocalHub.sha256(bad)), vs.get(0).problem());
        assertFalse(Files.exists(p));
        hub(s).fetch(name("dinov2_vits14"));
        assertEquals(3, server.requests(VITS).size());
        assertTrue(hub(s).verify(null).get(0).ok());
    }

    @Test void aStalledTransferIsAbandonedNotWaitedFor() throws IOException {
        byte[] body = bytes(40_000, 12);
        server.stalling(VITS, body, 10_000, 3000);
        long t0 = System.nanoTime();
        IOException ex = assertThrows(IOException.class, () -> hub(settings().withStallMs(300)).fetch(name("dinov2_vits14")));
        double s = (System.nanoTime() - t0) / 1e9;
        assertTrue(ex.getMessage().contains("no data for 0.3 s after 10000 of 40000 bytes"), ex.getMessage());
        assertTrue(s < 2.5, "took " + s + " s");
    }

    @Test void theServerRestartingTheFileStartsOver() throws IOException {
        byte[] body = bytes(90_000, 13);
        server.file(VITS, body, 30_000, Map.of());
        HubSettings s = settings();
        assertThrows(IOException.class, () -> hub(s).fetch(name("dinov2_vits14")));
        byte[] changed = bytes(90_500, 14);
        server.file(VITS, changed, 0, Map.of());   // another ETag: If-Range makes the server send it whole
        Path p = hub(s).fetch(name("dinov2_vits14"));
        assertArrayEquals(changed, Files.readAllBytes(p));
        assertTrue(err.toString().contains("sent the whole file instead of resuming; starting over"), err.toString());
    }

    @Test void gitBlobSha1IsGitsOwn() throws IOException {
        Path empty = Files.createFile(dir.resolve("empty"));
        assertEquals("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391", WeightsCache.gitBlobSha1(empty));   // git hash-object /dev/null
        Path hello = Files.writeString(dir.resolve("hello"), "hello\n");
        assertEquals("ce013625030ba8dba906f756967f9e9ca394464a", WeightsCache.gitBlobSha1(hello)); // echo hello | git hash-object --stdin
    }

    @Test void gatedRepositoriesAskForATokenAndServerErrorsAreRetried() throws IOException {
        server.route(HF_CONFIG, ex -> ex.sendResponseHeaders(401, -1));
        IOException ex = assertThrows(IOException.class, () -> hub(settings()).fetch(name("facebook/dinov2-small")));
        assertEquals(server.base() + HF_CONFIG + ": access denied (HTTP 401); a gated or private repository needs HF_TOKEN", ex.getMessage());
        assertEquals(1, server.requests(HF_CONFIG).size(), "a 401 is not retried");

        byte[] body = bytes(3000, 15);
        int[] calls = {0};
        server.route(VITS, x -> {
            if (calls[0]++ == 0) {
                x.sendResponseHeaders(503, -1);
                return;
            }
            x.sendResponseHeaders(200, body.length);
            x.getResponseBody().write(body);
        });
        assertArrayEquals(body, Files.readAllBytes(hub(settings().withRetries(1, 0)).fetch(name("dinov2_vits14"))));
        assertEquals(2, calls[0]);
        assertTrue(err.toString().contains(VITS + ": HTTP 503; trying again"), err.toString());
    }

    @Test void redirectsStayOnHttpAndEnd() {
        server.route(VITS, ex -> {
            ex.getResponseHeaders().add("Location", "file:///etc/passwd");
            ex.sendResponseHeaders(302, -1);
        });
        IOException ex = assertThrows(IOException.class, () -> hub(settings()).fetch(name("dinov2_vits14")));
        assertEquals(server.base() + VITS + ": redirected to file:///etc/passwd, which is not http(s)", ex.getMessage());
        server.route(VITS, x -> {
            x.getResponseHeaders().add("Location", VITS + "?again");
            x.sendResponseHeaders(307, -1);
        });
        ex = assertThrows(IOException.class, () -> hub(settings()).fetch(name("dinov2_vits14")));
        assertEquals(server.base() + VITS + ": more than 10 redirects", ex.getMessage());
        assertEquals(12, server.requests(VITS).size());
    }
}
