package dinoseg.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Hostile weight files (src/test/resources/hostile/, from ../shared/cases/hostile-weights/, plus
 * more of each class built here): each fails within 5 s with one printable line that starts with
 * the file's path and says what is wrong; nothing else escapes (StackOverflowError,
 * OutOfMemoryError, EOFException without a message).
 */
class HostileWeightsTest {
    @TempDir Path dir;

    /** Reads a file expecting a clean one-line rejection; returns the message. */
    static String rejected(Path f) {
        return assertTimeoutPreemptively(Duration.ofSeconds(5), () -> {
            IOException e = assertThrows(IOException.class, () -> WeightFiles.read(f));
            String m = e.getMessage();
            assertNull(WeightFuzzer.badMessage(f, m), () -> "not one clean line naming the file: " + m);
            assertTrue(m.length() < 400, () -> "message of " + m.length() + " chars");
            return m;
        });
    }

    Path copy(String name) throws IOException {
        Path f = dir.resolve(name);
        try (InputStream in = getClass().getResourceAsStream("/hostile/" + name)) {
            Files.write(f, in.readAllBytes());
        }
        return f;
    }

    @ParameterizedTest
    @CsvSource({
            "selfref-dict.pth, self-referential",
            "shared-subtree-dicts.pth, shared",
            "stride0-view-maxint.pth, 2147483647",
            "zip-comment-length-lies.pth, not a readable zip archive (EOFException)",
            "deep-nesting-in-offsets.safetensors, nests more than 1000 levels"})
    void reproducersFailWithOneLine(String name, String fragment) throws IOException {
        Path f = copy(name);
        String m = rejected(f);
        assertTrue(m.contains(fragment), () -> m + " should say " + fragment);
    }

    // ------------------------------------------------------------------ more of each class

    /** A zip-format checkpoint: {@code archive/data.pkl} plus storages. */
    Path pth(String name, byte[] pickle, Map<String, byte[]> storages) throws IOException {
        List<WeightFuzzer.ZEntry> es = new java.util.ArrayList<>();
        es.add(new WeightFuzzer.ZEntry("archive/data.pkl", pickle));
        for (var e : storages.entrySet()) es.add(new WeightFuzzer.ZEntry("archive/data/" + e.getKey(), e.getValue()));
        Path f = dir.resolve(name);
        Files.write(f, WeightFuzzer.zip(es));
        return f;
    }

    static final Pickles.Storage S0 = new Pickles.Storage("FloatStorage", "0", 16);
    static final Map<String, byte[]> DATA = Map.of("0", new byte[64]);

    /** {"w": tensor over S0, ...extra...}. */
    static byte[] dict(Pickles.W extra) {
        Pickles.W w = new Pickles.W().op(0x80).op(2).op('}').str("w").tensor(S0, 0, new long[]{4, 4}, new long[]{4, 1}).op('s');
        return w.raw(extra.bytes()).op('.').bytes();
    }

    @Test void aValidHandWrittenCheckpointLoads() throws IOException {
        Path f = pth("ok.pth", dict(new Pickles.W()), DATA);
        assertEquals(16, WeightFiles.read(f).get("w").data().length);
    }

    @Test void selfReferentialListsAndDeepNestingAreBounded() throws IOException {
        // a list that contains itself, under a tensor dict: never traversed, the tensor loads
        Pickles.W selfList = new Pickles.W().str("l").op(']').put(7).get(7).op('a').op('s');
        assertEquals(1, WeightFiles.read(pth("selflist.pth", dict(selfList), DATA)).tensors().size());
        // dicts 100,000 deep: refused by depth, without recursion
        Pickles.W deep = new Pickles.W().str("d").op('}');
        for (int i = 0; i < 100_000; i++) deep.str("k").op('}');
        for (int i = 0; i < 100_000; i++) deep.op('s');
        deep.op('s');
        assertTrue(rejected(pth("deep.pth", dict(deep), DATA)).contains("nest more than"));
        // a tuple holding a dict as a dict key (hashing it could recurse): refused
        Pickles.W key = new Pickles.W().op('(').op('}').op('t').op('N').op('s');
        assertTrue(rejected(pth("key.pth", dict(key), DATA)).contains("dict key"));
    }

    @Test void viewsAreBoundedByTheirStorage() throws IOException {
        // stride 0: 16 elements of storage, a view of 17 reading one element
        Pickles.W s0 = new Pickles.W().str("x").tensor(S0, 0, new long[]{17}, new long[]{0}).op('s');
        assertTrue(rejected(pth("stride0.pth", dict(s0), DATA)).contains("zero or overlapping strides"));
        // thousands of distinct views of one storage: more elements than it holds
        Pickles.W many = new Pickles.W();
        for (int i = 0; i < 3000; i++) many.str("v" + i).tensor(S0, i % 8, new long[]{8}, new long[]{1}).op('s');
        assertTrue(rejected(pth("many.pth", dict(many), DATA)).contains("aliasing views"));
        // identical views (tied weights) share one array and are allowed
        Pickles.W tied = new Pickles.W().str("tied").tensor(S0, 0, new long[]{4, 4}, new long[]{4, 1}).op('s');
        StateDict sd = WeightFiles.read(pth("tied.pth", dict(tied), DATA));
        assertSame(sd.get("w").data(), sd.get("tied").data());
        // a storage declaring 2^31 elements (an 8 GiB tensor) in a tiny file: refused before any allocation
        Pickles.Storage huge = new Pickles.Storage("FloatStorage", "1", 1L << 31);
        Pickles.W big = new Pickles.W().str("big").tensor(huge, 0, new long[]{4}, new long[]{1}).op('s');
        assertTrue(rejected(pth("huge.pth", dict(big), DATA)).contains("more than a Java array holds"));
        Pickles.Storage large = new Pickles.Storage("FloatStorage", "1", 1L << 28);
        Pickles.W big2 = new Pickles.W().str("big").tensor(large, 0, new long[]{4}, new long[]{1}).op('s');
        assertTrue(rejected(pth("large.pth", dict(big2), DATA)).contains("more than the file's"));
    }

    @Test void memoAndWorkBombsStopEarly() throws IOException {
        Pickles.W memo = new Pickles.W().str("m").op('N');
        for (int i = 0; i < 200_000; i++) memo.put(0x7fff0000L + i * 7919L);
        memo.op('s');
        // a memo this large is within the size bound of its 1 MB pickle: it loads, quickly
        assertEquals(1, WeightFiles.read(pth("memo.pth", dict(memo), DATA)).tensors().size());
        Pickles.W work = new Pickles.W().str("w2").op(']').put(9).op('(');
        for (int i = 0; i < 20_000; i++) work.str("a" + (i % 4)).integer(i).op(0x86);
        work.op('e').op('0');
        for (int i = 0; i < 20_000; i++) work.global("collections", "OrderedDict").op('(').get(9).op('t').op('R').op('0');
        work.op('N').op('s');
        assertTrue(rejected(pth("work.pth", dict(work), DATA)).contains("more work than"));
    }

    @Test void zipRecordsThatLieFailCleanly() throws IOException {
        byte[] z = Files.readAllBytes(pth("base.pth", dict(new Pickles.W()), DATA));
        ByteBuffer bb = ByteBuffer.wrap(z).order(ByteOrder.LITTLE_ENDIAN);
        int eocd = z.length - 22;
        assertEquals(0x06054b50, bb.getInt(eocd));
        int cen = bb.getInt(eocd + 16);
        // sizes and offsets that lie in the end record and the central directory (entry 0: data.pkl):
        // a clean rejection, or (where the lie does not matter to the reader) the same tensor
        int rejections = 0;
        for (int[] lie : new int[][]{{eocd + 12, 0x7fffffff}, {eocd + 16, 0x7fffffff}, {cen + 20, 0x7fffffff}, {cen + 24, 0x7fffffff},
                {cen + 42, 0x7ffffff0}, {cen + 24, 3}}) {
            byte[] c = z.clone();
            ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putInt(lie[0], lie[1]);
            Path f = dir.resolve("lie" + lie[0] + "-" + lie[1] + ".pth");
            Files.write(f, c);
            StateDict sd = assertTimeoutPreemptively(Duration.ofSeconds(5), () -> {
                try {
                    return WeightFiles.read(f);
                } catch (IOException e) {
                    assertNull(WeightFuzzer.badMessage(f, e.getMessage()), e.getMessage());
                    return null;
                }
            });
            if (sd == null) rejections++;
            else assertArrayEquals(new float[16], sd.get("w").data());
        }
        assertTrue(rejections >= 3, "only " + rejections + " of the lies were noticed");
        // a storage entry cut short
        Path cut = pth("cut.pth", dict(new Pickles.W()), Map.of("0", new byte[10]));
        assertTrue(rejected(cut).contains("storage 0"));
    }

    @Test void namesFromTheFileAreSanitizedInMessages() throws IOException {
        String evil = "\u001b[2J\u001b[31mred\u0007line" + "x".repeat(400);
        // a forbidden global spelled with escapes
        byte[] p = new Pickles.W().op(0x80).op(2).global("os" + evil, "system").op('.').bytes();
        String m = rejected(pth("glob.pth", p, Map.of()));
        assertTrue(m.contains("\\x1b[2J") && m.contains("chars)"), m);
        // a safetensors tensor name with escapes and an unsupported dtype
        String json = "{" + Pickles.jsonString(evil + "\n" + "y".repeat(100_000)) + ":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}";
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + 8).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path st = dir.resolve("evil.safetensors");
        Files.write(st, b.array());
        assertTrue(rejected(st).contains("F64"));
    }

    @Test void safetensorsNumbersAndNestingNeverPrintTheValue() throws IOException {
        String nested = "[".repeat(6) + "0" + "]".repeat(6);
        for (String v : new String[]{nested, "{\"a\":[1,2]}", "\"" + "9".repeat(100_000) + "\"", "1" + "0".repeat(5000)}) {
            String json = "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0," + v + "]}}";
            byte[] h = json.getBytes(StandardCharsets.UTF_8);
            ByteBuffer b = ByteBuffer.allocate(8 + h.length + 4).order(ByteOrder.LITTLE_ENDIAN);
            b.putLong(h.length).put(h);
            Path st = dir.resolve("n.safetensors");
            Files.write(st, b.array());
            String m = rejected(st);
            assertTrue(m.length() < 300, m);
        }
    }
}
