package dinoseg.io;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * Structure-aware fuzzing of the weight readers ({@link WeightFiles#read} followed by
 * {@link WeightNames#toOfficialBackbone}): mutations of valid seed files (a zip-format and a
 * legacy-format {@code .pth} and a safetensors file, or the caller's own) that know their
 * structure — pickle opcodes and their arguments (replaced, boundary integers, duplicated memo
 * references, spliced or deleted ranges, truncation), injected hostile structures (deeply nested,
 * self-referential and shared dicts, stride-0, huge and many aliasing views of one storage, memo
 * and work bombs, forbidden globals, terminal escapes in names), zip records that lie about sizes,
 * legacy storage counts, safetensors headers (boundary numbers, deep nesting, overlaps, lying
 * lengths) — plus plain byte flips and cuts.
 *
 * <p>Each case runs in a worker thread under a time limit. A case is <em>ok</em> when the file
 * loads, a <em>clean rejection</em> when it fails with an IOException (or the names' one-line
 * IllegalArgumentException) whose message is one printable line starting with the file's path,
 * and <em>unexpected</em> otherwise: any other exception, any Error (OutOfMemoryError,
 * StackOverflowError), a timeout, or a message that is multi-line, long, unprintable or does not
 * name the file.
 */
public final class WeightFuzzer {
    private WeightFuzzer() { }

    /** A valid file mutations start from. */
    public record Seed(String name, byte[] bytes) {
        String ext() { return PthReader.isZip(bytes) || PthReader.isLegacy(bytes) ? ".pth" : ".safetensors"; }
    }

    /** One mutated file and how it was made. */
    public record Case(byte[] bytes, String ext, String mutation) { }

    public enum Verdict { OK, REJECTED, UNEXPECTED }

    public record Result(Verdict verdict, String detail, long millis) { }

    /** The numbers of a run. */
    public record Summary(int cases, int ok, int rejected, int unexpected, long slowestMs, String slowestMutation,
                          double seconds, List<String> saved, List<String> firstUnexpected) { }

    // ------------------------------------------------------------------ seeds

    /** The built-in seeds: a zip and a legacy .pth (resources written by torch and tools/gen_legacy_pth.py) and a safetensors. */
    public static List<Seed> builtinSeeds() throws IOException {
        List<Seed> out = new ArrayList<>();
        for (String r : List.of("seed-zip.pth", "seed-legacy.pth")) {
            try (InputStream in = WeightFuzzer.class.getResourceAsStream("/dinoseg/fuzz/" + r)) {
                if (in == null) throw new IOException("built-in fuzz seed " + r + " is missing from the jar");
                out.add(new Seed(r, in.readAllBytes()));
            }
        }
        Path t = Files.createTempFile("dinoseg-seed", ".safetensors");
        try {
            Map<String, HostTensor> m = new java.util.LinkedHashMap<>();
            m.put("backbone.patch_embed.proj.weight", HostTensor.of(new float[]{1, 2, 3, 4, 5, 6}, 2, 3));
            m.put("backbone.cls_token", HostTensor.of(new float[]{7, 8}, 1, 1, 2));
            m.put("head.conv.bias", HostTensor.of(new float[]{9}, 1));
            Safetensors.write(t, m, Map.of("config", "{\"k\": 1}"));
            out.add(new Seed("seed.safetensors", Files.readAllBytes(t)));
        } finally {
            Files.deleteIfExists(t);
        }
        return out;
    }

    /** Seeds from a folder: every .pth, .pt, .bin and .safetensors file of at most 4 MiB that loads. */
    public static List<Seed> seedsFrom(Path dir, Consumer<String> log) throws IOException {
        List<Seed> out = new ArrayList<>();
        try (var s = Files.list(dir)) {
            for (Path p : s.sorted().toList()) {
                String n = p.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
                if (!(n.endsWith(".pth") || n.endsWith(".pt") || n.endsWith(".bin") || n.endsWith(".safetensors"))) continue;
                if (!Files.isRegularFile(p) || Files.size(p) > 4 << 20) { log.accept("note: seed " + p + " skipped (larger than 4 MiB)"); continue; }
                try {
                    WeightFiles.read(p);
                } catch (IOException | RuntimeException e) {
                    log.accept("note: seed " + p + " skipped (does not load: " + Untrusted.message(e.getMessage()) + ")");
                    continue;
                }
                out.add(new Seed(p.getFileName().toString(), Files.readAllBytes(p)));
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ running

    /**
     * Runs {@code cases} mutations; case {@code i} depends only on ({@code seed}, {@code i}) and the
     * seeds, so it can be regenerated. The first {@code keep} unexpected cases are written to
     * {@code saveDir} (created when needed).
     */
    public static Summary run(List<Seed> seeds, int cases, long seed, long timeoutMs, Path saveDir, int keep, Consumer<String> log)
            throws IOException {
        if (seeds.isEmpty()) throw new IllegalArgumentException("no seed files to mutate");
        Path work = Files.createTempDirectory("dinoseg-fuzz");
        ExecutorService pool = worker();
        int ok = 0, rejected = 0, unexpected = 0, hung = 0;
        long slowest = -1;
        String slowestMutation = "";
        List<String> saved = new ArrayList<>(), first = new ArrayList<>();
        long t0 = System.nanoTime();
        try {
            for (int i = 0; i < cases; i++) {
                Case c = mutate(seeds, new SplittableRandom(seed * 0x9E3779B97F4A7C15L + i));
                Path f = work.resolve("case" + c.ext());
                Files.write(f, c.bytes());
                long s0 = System.nanoTime();
                Future<Result> fut = pool.submit(() -> check(f));
                Result r;
                try {
                    r = fut.get(timeoutMs, TimeUnit.MILLISECONDS);
                } catch (TimeoutException e) {
                    fut.cancel(true);
                    pool.shutdownNow();
                    pool = worker();
                    hung++;
                    r = new Result(Verdict.UNEXPECTED, "no result after " + timeoutMs + " ms", timeoutMs);
                } catch (ExecutionException e) {
                    r = new Result(Verdict.UNEXPECTED, "worker failed: " + e.getCause(), 0);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("fuzzing interrupted at case " + i);
                }
                long ms = (System.nanoTime() - s0) / 1_000_000;
                if (ms > slowest) { slowest = ms; slowestMutation = "case " + i + ": " + c.mutation(); }
                switch (r.verdict()) {
                    case OK -> ok++;
                    case REJECTED -> rejected++;
                    case UNEXPECTED -> {
                        unexpected++;
                        String what = "case " + i + " (" + c.mutation() + "): " + r.detail();
                        if (first.size() < 10) first.add(what);
                        if (log != null) log.accept("unexpected: " + what);
                        if (saved.size() < keep && saveDir != null) {
                            Files.createDirectories(saveDir);
                            Path out = saveDir.resolve("case-" + i + c.ext());
                            AtomicFiles.write(out, c.bytes());
                            saved.add(out.toString());
                        }
                    }
                }
                if (hung > 8) {
                    if (log != null) log.accept("stopping: more than 8 cases hung (their threads may still run)");
                    cases = i + 1;
                    break;
                }
            }
        } finally {
            pool.shutdownNow();
            try (var s = Files.list(work)) {
                for (Path p : s.toList()) Files.deleteIfExists(p);
            }
            Files.deleteIfExists(work);
        }
        return new Summary(cases, ok, rejected, unexpected, slowest, slowestMutation, (System.nanoTime() - t0) / 1e9, saved, first);
    }

    private static ExecutorService worker() {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "dinoseg-fuzz-case");
            t.setDaemon(true);
            return t;
        });
    }

    /** Reads one file the way the CLI does and classifies the outcome. */
    public static Result check(Path f) {
        long t0 = System.nanoTime();
        Verdict v;
        String detail;
        try {
            StateDict sd = WeightFiles.readUnguarded(f);
            WeightNames.toOfficialBackbone(sd.tensors(), f.toString(), null);
            v = Verdict.OK;
            detail = sd.tensors().size() + " tensors";
        } catch (IOException | IllegalArgumentException e) {
            String m = e.getMessage();
            String bad = badMessage(f, m);
            v = bad == null ? Verdict.REJECTED : Verdict.UNEXPECTED;
            detail = bad == null ? m : bad + ": " + e.getClass().getSimpleName() + " " + Untrusted.message(m) + at(e);
        } catch (Throwable e) {
            v = Verdict.UNEXPECTED;
            detail = e.getClass().getSimpleName() + " " + Untrusted.message(e.getMessage()) + at(e);
        }
        return new Result(v, detail, (System.nanoTime() - t0) / 1_000_000);
    }

    /** Why a rejection message is not one clean line naming the file, or null when it is. */
    static String badMessage(Path f, String m) {
        if (m == null) return "no message";
        if (!m.startsWith(f.toString())) return "message does not start with the file";
        if (m.length() > 1000) return "message of " + m.length() + " characters";
        for (int i = 0; i < m.length(); i++) {
            char c = m.charAt(i);
            if (c < 0x20 || c == 0x7f) return "message with control character " + (int) c;
        }
        return null;
    }

    private static String at(Throwable e) {
        StackTraceElement[] st = e.getStackTrace();
        for (StackTraceElement s : st)
            if (s.getClassName().startsWith("dinoseg.")) return " at " + s.getClassName().replace("dinoseg.", "") + "." + s.getMethodName() + ":" + s.getLineNumber();
        return st.length > 0 ? " at " + st[0] : "";
    }

    // ------------------------------------------------------------------ mutations

    /** One mutated file from a random seed. */
    public static Case mutate(List<Seed> seeds, SplittableRandom rng) {
        Seed s = seeds.get(rng.nextInt(seeds.size()));
        byte[] b = s.bytes();
        String ext = s.ext();
        try {
            if (rng.nextInt(8) == 0) return new Case(bytes(b, rng), ext, s.name() + " bytes");
            if (PthReader.isZip(b)) return zip(s, rng);
            if (PthReader.isLegacy(b)) return legacy(s, rng);
            return safetensors(s, rng);
        } catch (IOException | RuntimeException e) {
            // a seed the structural mutators cannot take apart: plain byte mutations
            return new Case(bytes(b, rng), ext, s.name() + " bytes");
        }
    }

    /** Flips, overwrites, inserts or cuts bytes. */
    static byte[] bytes(byte[] src, SplittableRandom rng) {
        byte[] b = src.clone();
        int n = 1 + rng.nextInt(4);
        for (int k = 0; k < n && b.length > 0; k++) {
            int at = rng.nextInt(b.length);
            switch (rng.nextInt(5)) {
                case 0 -> b[at] ^= (byte) (1 << rng.nextInt(8));
                case 1 -> b[at] = (byte) rng.nextInt(256);
                case 2 -> b = Arrays.copyOf(b, at);
                case 3 -> { for (int i = at; i < Math.min(b.length, at + 8); i++) b[i] = (byte) 0xff; }
                default -> {
                    byte[] c = new byte[b.length + 8];
                    System.arraycopy(b, 0, c, 0, at);
                    for (int i = 0; i < 8; i++) c[at + i] = (byte) rng.nextInt(256);
                    System.arraycopy(b, at, c, at + 8, b.length - at);
                    b = c;
                }
            }
        }
        return b;
    }

    // ---- zip-format .pth

    record ZEntry(String name, byte[] data) { }

    private static List<ZEntry> unzip(byte[] b) throws IOException {
        List<ZEntry> out = new ArrayList<>();
        try (ZipInputStream z = new ZipInputStream(new ByteArrayInputStream(b))) {
            for (ZipEntry e; (e = z.getNextEntry()) != null; ) out.add(new ZEntry(e.getName(), z.readAllBytes()));
        }
        return out;
    }

    /** A zip with STORED entries, as torch.save writes. */
    static byte[] zip(List<ZEntry> entries) throws IOException {
        ByteArrayOutputStream bo = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(bo)) {
            for (ZEntry e : entries) {
                ZipEntry ze = new ZipEntry(e.name());
                ze.setMethod(ZipEntry.STORED);
                ze.setSize(e.data().length);
                CRC32 crc = new CRC32();
                crc.update(e.data());
                ze.setCrc(crc.getValue());
                z.putNextEntry(ze);
                z.write(e.data());
                z.closeEntry();
            }
        }
        return bo.toByteArray();
    }

    private static Case zip(Seed s, SplittableRandom rng) throws IOException {
        List<ZEntry> es = new ArrayList<>(unzip(s.bytes()));
        int pk = -1;
        for (int i = 0; i < es.size(); i++) if (es.get(i).name().endsWith("data.pkl")) pk = i;
        if (pk < 0) throw new IOException("no data.pkl");
        String prefix = es.get(pk).name().substring(0, es.get(pk).name().length() - "data.pkl".length());
        int kind = rng.nextInt(10);
        String what;
        if (kind < 6) {
            Pickles.Mutated m = Pickles.mutate(es.get(pk).data(), rng);
            es.set(pk, new ZEntry(es.get(pk).name(), m.bytes()));
            what = "pickle " + m.what();
        } else if (kind < 8) {
            List<Integer> data = new ArrayList<>();
            for (int i = 0; i < es.size(); i++) if (es.get(i).name().startsWith(prefix + "data/")) data.add(i);
            if (data.isEmpty()) throw new IOException("no storages");
            int i = data.get(rng.nextInt(data.size()));
            ZEntry e = es.get(i);
            switch (rng.nextInt(4)) {
                case 0 -> { es.set(i, new ZEntry(e.name(), Arrays.copyOf(e.data(), rng.nextInt(e.data().length + 1)))); what = "storage cut"; }
                case 1 -> { es.set(i, new ZEntry(e.name(), Arrays.copyOf(e.data(), e.data().length + 1 + rng.nextInt(64)))); what = "storage grown"; }
                case 2 -> { es.remove(i); what = "storage removed"; }
                default -> { es.add(new ZEntry(e.name(), e.data())); what = "storage duplicated"; }
            }
        } else {
            byte[] z = zip(es);
            return new Case(zipRecords(z, rng), ".pth", s.name() + " zip records");
        }
        return new Case(zip(es), ".pth", s.name() + " " + what);
    }

    /** Lies in the zip's end record and central directory: sizes, offsets, counts, comment length. */
    static byte[] zipRecords(byte[] z, SplittableRandom rng) {
        byte[] b = z.clone();
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        int eocd = -1;
        for (int i = b.length - 22; i >= 0; i--) if (bb.getInt(i) == 0x06054b50) { eocd = i; break; }
        List<Integer> cen = new ArrayList<>();
        for (int i = 0; i + 46 <= b.length; i++) if (bb.getInt(i) == 0x02014b50) cen.add(i);
        int[] lies = {0, 1, 0x7fffffff, 0xffffffff, 0xfffffffe, b.length, b.length + 1, 65535};
        int lie = lies[rng.nextInt(lies.length)];
        switch (rng.nextInt(6)) {
            case 0 -> { if (eocd >= 0) bb.putShort(eocd + 20, (short) (1 + rng.nextInt(65535))); } // comment length
            case 1 -> { if (eocd >= 0) bb.putInt(eocd + 12, lie); } // central directory size
            case 2 -> { if (eocd >= 0) bb.putInt(eocd + 16, lie); } // central directory offset
            case 3 -> { if (eocd >= 0) { bb.putShort(eocd + 8, (short) rng.nextInt(65536)); bb.putShort(eocd + 10, (short) rng.nextInt(65536)); } }
            case 4 -> { // an entry's compressed / uncompressed size or local header offset
                if (!cen.isEmpty()) bb.putInt(cen.get(rng.nextInt(cen.size())) + new int[]{20, 24, 42}[rng.nextInt(3)], lie);
            }
            default -> { if (!cen.isEmpty()) bb.putShort(cen.get(rng.nextInt(cen.size())) + 28, (short) rng.nextInt(65536)); } // name length
        }
        return b;
    }

    // ---- legacy .pth

    private static Case legacy(Seed s, SplittableRandom rng) throws IOException {
        byte[] b = s.bytes();
        int[] ends = new int[5];
        int at = 0;
        for (int k = 0; k < 5; k++) {
            at = Pickles.end(b, at);
            if (at < 0) throw new IOException("legacy seed does not hold five pickles");
            ends[k] = at;
        }
        int kind = rng.nextInt(10);
        if (kind < 6) {
            int which = kind < 5 ? 3 : rng.nextInt(5); // mostly the main pickle
            int from = which == 0 ? 0 : ends[which - 1];
            Pickles.Mutated m = Pickles.mutate(Arrays.copyOfRange(b, from, ends[which]), rng);
            ByteArrayOutputStream o = new ByteArrayOutputStream();
            o.write(b, 0, from);
            o.write(m.bytes());
            o.write(b, ends[which], b.length - ends[which]);
            return new Case(o.toByteArray(), ".pth", s.name() + " pickle " + which + " " + m.what());
        }
        byte[] c = b.clone();
        ByteBuffer bb = ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN);
        if (kind < 9 && c.length >= ends[4] + 8) {
            long[] counts = {0, 1, -1, Long.MAX_VALUE, Integer.MAX_VALUE, 1L << 32, 1L << 40};
            bb.putLong(ends[4], counts[rng.nextInt(counts.length)]);
            return new Case(c, ".pth", s.name() + " storage count");
        }
        return new Case(Arrays.copyOf(c, ends[4] + rng.nextInt(c.length - ends[4] + 1)), ".pth", s.name() + " data cut");
    }

    // ---- safetensors

    private static final String[] NUMBERS = {"0", "1", "-1", "2147483647", "2147483648", "4294967296", "9223372036854775807",
            "18446744073709551616", "1e308", "1e-308", "1.5", "-0", "99999999999999999999999999999999999999999999", "1E400", "0.0"};

    private static Case safetensors(Seed s, SplittableRandom rng) throws IOException {
        byte[] b = s.bytes();
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        long n = bb.getLong(0);
        if (n < 2 || n > b.length - 8) throw new IOException("not a safetensors seed");
        String json = new String(b, 8, (int) n, StandardCharsets.UTF_8);
        byte[] data = Arrays.copyOfRange(b, 8 + (int) n, b.length);
        String what;
        int kind = rng.nextInt(9);
        switch (kind) {
            case 0 -> { json = replaceNumber(json, NUMBERS[rng.nextInt(NUMBERS.length)], rng); what = "number"; }
            case 1 -> {
                int d = new int[]{10, 100, 1000, 20000}[rng.nextInt(4)];
                json = replaceNumber(json, "[".repeat(d) + "0" + "]".repeat(d), rng);
                what = "deep nesting " + d;
            }
            case 2 -> {
                String[] names = {"\u001b[31mred\u001b[0m", "a\nb", "x".repeat(100_000), "", "__metadata__", "\u0000", "backbone.cls_token"};
                json = json.replaceFirst("\"backbone\\.[a-z_.]+\"", java.util.regex.Matcher.quoteReplacement(Pickles.jsonString(names[rng.nextInt(names.length)])));
                what = "name";
            }
            case 3 -> {
                String[] dt = {"F64", "I8", "BOOL", "", "f32", "F32\u0000"};
                json = json.replaceFirst("\"F32\"", Pickles.jsonString(dt[rng.nextInt(dt.length)]));
                what = "dtype";
            }
            case 4 -> { json = json.replaceFirst("\"data_offsets\":\\[\\d+,\\d+\\]", "\"data_offsets\":[0,24]"); what = "overlap"; }
            case 5 -> {
                long[] lies = {0, 1, n - 1, n + 1, b.length, Long.MAX_VALUE, -1, 100L << 20};
                byte[] c = b.clone();
                ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putLong(0, lies[rng.nextInt(lies.length)]);
                return new Case(c, ".safetensors", s.name() + " header length");
            }
            case 6 -> { data = Arrays.copyOf(data, rng.nextInt(data.length + 1)); what = "data cut"; }
            case 7 -> { json = json.replaceFirst("\"shape\":\\[[0-9,]*\\]", "\"shape\":[" + NUMBERS[rng.nextInt(4) + 3] + ",0]"); what = "shape"; }
            default -> {
                String[] vals = {"{}", "[]", "null", "true", "\"s\"", "{\"a\":{\"b\":1}}", "[[1],[2]]"};
                json = replaceNumber(json, vals[rng.nextInt(vals.length)], rng);
                what = "value kind";
            }
        }
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(h.length).put(h).put(data);
        return new Case(out.array(), ".safetensors", s.name() + " " + what);
    }

    private static String replaceNumber(String json, String with, SplittableRandom rng) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?<=[\\[,:])\\d+").matcher(json);
        List<int[]> spans = new ArrayList<>();
        while (m.find()) spans.add(new int[]{m.start(), m.end()});
        if (spans.isEmpty()) return json;
        int[] sp = spans.get(rng.nextInt(spans.size()));
        return json.substring(0, sp[0]) + with + json.substring(sp[1]);
    }
}
