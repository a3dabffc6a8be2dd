package dinoseg.checkpoint;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonSyntaxException;
import dinoseg.io.AtomicFiles;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * The weights cache: downloaded files under their keys ({@link WeightsName.RemoteFile#key}) below one
 * folder, and {@code manifest.json} there recording, per key, the URL, size, SHA-256, modification
 * time, the checksum the publisher gave (if any), the Hub commit and the time of download. The
 * manifest is rewritten atomically ({@link AtomicFiles}); changes happen under {@link #lock()} (a
 * file lock on {@code .lock}, so two dinoseg processes do not download the same file at once).
 *
 * <p>A cached file is trusted as is when its size and modification time are those recorded; when
 * either differs its SHA-256 is computed again and a mismatch makes it corrupted
 * ({@link #check}); {@code dinoseg weights verify} hashes every file.
 */
public final class WeightsCache {
    /** Name of the manifest in the cache folder. */
    public static final String MANIFEST = "manifest.json";
    private static final ReentrantLock IN_PROCESS = new ReentrantLock();
    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create();

    private final Path root;

    /**
     * One cached file's record.
     *
     * @param url        where it was downloaded from (the first URL, before redirects)
     * @param size       its size in bytes
     * @param sha256     its SHA-256, lower-case hex
     * @param mtimeMs    its modification time (ms since the epoch) when recorded
     * @param published  the checksum the publisher gave ("sha256:HEX" or "git-sha1:HEX"), or null
     * @param commit     the Hub's X-Repo-Commit, or null
     * @param downloaded when it was downloaded (ISO-8601, UTC)
     */
    public record Entry(String url, long size, String sha256, long mtimeMs, String published, String commit, String downloaded) { }

    /** The state of a cached file. */
    public enum State { MISSING, OK, UNRECORDED, CORRUPTED }

    public WeightsCache(Path root) {
        this.root = root;
    }

    /** The cache folder. */
    public Path root() { return root; }

    /** Where the file with this key is (or would be) cached. */
    public Path file(String key) { return root.resolve(key); }

    /**
     * The manifest's entries by key (empty when there is none yet). An unreadable manifest is
     * reported to {@code log} and read as empty: its files are then unrecorded and fetched again.
     */
    public Map<String, Entry> entries(Consumer<String> log) throws IOException {
        Path m = root.resolve(MANIFEST);
        Map<String, Entry> out = new TreeMap<>();
        if (!Files.exists(m)) return out;
        try {
            JsonElement e = JsonParser.parseString(Files.readString(m, StandardCharsets.UTF_8));
            JsonObject files = e.getAsJsonObject().getAsJsonObject("files");
            if (files != null)
                for (var f : files.entrySet()) out.put(f.getKey(), GSON.fromJson(f.getValue(), Entry.class));
        } catch (JsonSyntaxException | IllegalStateException | ClassCastException | NullPointerException e) {
            if (log != null) log.accept("warning: " + m + ": unreadable manifest (" + e.getMessage() + "); its files will be fetched again");
            return new TreeMap<>();
        }
        return out;
    }

    /** Records (or with a null entry: forgets) one file in the manifest. Call under {@link #lock()}. */
    public void record(String key, Entry entry, Consumer<String> log) throws IOException {
        Map<String, Entry> all = entries(log);
        if (entry == null) all.remove(key);
        else all.put(key, entry);
        JsonObject files = new JsonObject();
        for (var e : all.entrySet()) files.add(e.getKey(), GSON.toJsonTree(e.getValue()));
        JsonObject o = new JsonObject();
        o.addProperty("version", 1);
        o.add("files", files);
        AtomicFiles.writeString(root.resolve(MANIFEST), GSON.toJson(o) + "\n");
    }

    /**
     * The state of the cached file {@code key}: missing, unrecorded (present but not in the
     * manifest), OK (recorded size and modification time, or a recomputed SHA-256 equal to the
     * recorded one: the modification time is then recorded anew), or corrupted. Call under {@link #lock()}.
     */
    public State check(String key, Consumer<String> log) throws IOException {
        Path f = file(key);
        if (!Files.isRegularFile(f)) return State.MISSING;
        Entry e = entries(log).get(key);
        if (e == null) return State.UNRECORDED;
        long size = Files.size(f), mtime = Files.getLastModifiedTime(f).toMillis();
        if (size == e.size() && mtime == e.mtimeMs()) return State.OK;
        if (size != e.size() || !sha256(f).equals(e.sha256())) return State.CORRUPTED;
        record(key, new Entry(e.url(), e.size(), e.sha256(), mtime, e.published(), e.commit(), e.downloaded()), log);
        return State.OK;
    }

    /** A held lock. */
    public interface Held extends AutoCloseable {
        @Override void close() throws IOException;
    }

    /** Holds the cache's lock (this process's threads and other processes) until closed. */
    public Held lock() throws IOException {
        Files.createDirectories(root);
        IN_PROCESS.lock();
        try {
            FileChannel ch = FileChannel.open(root.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock l;
            try {
                l = ch.tryLock();
                if (l == null) {
                    System.err.println("note: waiting for another dinoseg process using the weights cache " + root);
                    l = ch.lock();
                }
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
            FileLock held = l;
            return () -> {
                try {
                    held.release();
                    ch.close();
                } finally {
                    IN_PROCESS.unlock();
                }
            };
        } catch (IOException | RuntimeException e) {
            IN_PROCESS.unlock();
            throw e;
        }
    }

    /** The SHA-256 of a file, lower-case hex. */
    public static String sha256(Path f) throws IOException {
        return digest(f, "SHA-256", null);
    }

    /** Git's blob SHA-1 of a file ({@code sha1("blob <size>\0" + bytes)}): the ETag the Hub gives files not kept in LFS. */
    public static String gitBlobSha1(Path f) throws IOException {
        return digest(f, "SHA-1", ("blob " + Files.size(f) + "\0").getBytes(StandardCharsets.US_ASCII));
    }

    private static String digest(Path f, String algorithm, byte[] prefix) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance(algorithm);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(algorithm + " is missing from this Java runtime", e);
        }
        if (prefix != null) md.update(prefix);
        byte[] buf = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(f)) {
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
