package dinoseg.io;

import dinoseg.tensor.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** safetensors: round trip, half-precision reading, and hostile files that must fail with a clear message. */
class SafetensorsTest {
    @TempDir Path dir;

    static Map<String, HostTensor> sample() {
        Map<String, HostTensor> m = new LinkedHashMap<>();
        m.put("a.weight", HostTensor.of(new float[]{1, -2.5f, 3, Float.MIN_VALUE, Float.MAX_VALUE, -0f}, 2, 3));
        m.put("scalar", new HostTensor(Shape.scalar(), new float[]{7}));
        m.put("empty", HostTensor.of(new float[0], 0, 4));
        float[] big = new float[300_000];
        for (int i = 0; i < big.length; i++) big[i] = (float) Math.sin(i);
        m.put("big", HostTensor.of(big, 300, 1000));
        return m;
    }

    @Test void roundTripKeepsTensorsOrderAndMetadata() throws IOException {
        Path f = dir.resolve("sub/x.safetensors");
        Map<String, String> meta = Map.of("config", "{\"lr\": 0.001, \"classes\": [\"a<b>\", \"é\"]}", "epoch", "3");
        Safetensors.write(f, sample(), meta);
        StateDict sd = Safetensors.read(f);
        assertEquals(sample(), sd.tensors());
        assertEquals(java.util.List.copyOf(sample().keySet()), java.util.List.copyOf(sd.tensors().keySet()));
        assertEquals(meta, sd.metadata());
        long headerLen = ByteBuffer.wrap(Files.readAllBytes(f), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, headerLen % 8, "header padded to 8 bytes");
        try (var s = Files.list(f.getParent())) { assertEquals(1, s.count(), "no temp file left"); }
    }

    /** A file from a hand-written header and data. */
    Path file(String name, String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        Path f = dir.resolve(name);
        Files.write(f, b.array());
        return f;
    }

    @Test void readsHalfAndBfloat16() throws IOException {
        ByteBuffer d = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        d.putShort((short) 0x3c00).putShort((short) 0xc000).putShort((short) 0x0001); // F16 1, -2, smallest subnormal
        d.putShort((short) 0x3f80).putShort((short) 0x4049).putShort((short) 0xff80);  // BF16 1, ~3.14, -inf
        Path f = file("h.safetensors", "{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[6,12]}}", d.array());
        StateDict sd = Safetensors.read(f);
        assertArrayEquals(new float[]{1, -2, 0x1p-24f}, sd.get("h").data());
        assertArrayEquals(new float[]{1, 3.140625f, Float.NEGATIVE_INFINITY}, sd.get("b").data());
        for (int bits = 0; bits < 0x10000; bits++) {
            short s = (short) bits;
            int exp = (bits >> 10) & 0x1f;
            if (exp == 0x1f) continue;
            double expected = Math.pow(2, exp == 0 ? -14 : exp - 15) * ((exp == 0 ? 0 : 1) + (bits & 0x3ff) / 1024.0) * ((bits & 0x8000) != 0 ? -1 : 1);
            assertEquals(expected, Safetensors.halfToFloat(s), 0, "half " + Integer.toHexString(bits));
        }
    }

    void assertFails(Path f, String fragment) {
        IOException e = assertThrows(IOException.class, () -> Safetensors.read(f));
        assertTrue(e.getMessage().startsWith(f.toString() + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' should mention '" + fragment + "'");
        assertFalse(e.getMessage().contains("\n"), "one line");
    }

    @Test void hostileFilesFailCleanly() throws IOException {
        Path good = dir.resolve("good.safetensors");
        Safetensors.write(good, sample(), Map.of());
        byte[] all = Files.readAllBytes(good);

        Path truncated = dir.resolve("truncated.safetensors");
        Files.write(truncated, java.util.Arrays.copyOf(all, all.length - 100));
        assertFails(truncated, "outside");

        Path tiny = dir.resolve("tiny.safetensors");
        Files.write(tiny, new byte[]{1, 2, 3});
        assertFails(tiny, "too short");

        Path json = dir.resolve("config.json");   // a JSON file given as a checkpoint: named as such, not as a bad header length
        Files.writeString(json, "{\"embed_dim\": 384, \"depth\": 12}");
        assertFails(json, "a JSON text file, not safetensors");

        Path huge = dir.resolve("huge.safetensors");
        byte[] h = all.clone();
        ByteBuffer.wrap(h).order(ByteOrder.LITTLE_ENDIAN).putLong(0, Long.MAX_VALUE - 3);
        Files.write(huge, h);
        assertFails(huge, "header length");
        ByteBuffer.wrap(h).order(ByteOrder.LITTLE_ENDIAN).putLong(0, -8L);
        Files.write(huge, h);
        assertFails(huge, "header length");

        String entry = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[%d,%d]}}";
        assertFails(file("past.safetensors", String.format(entry, 0, 800), new byte[8]), "outside");
        assertFails(file("size.safetensors", String.format(entry, 0, 4), new byte[8]), "needs 8 bytes");
        assertFails(file("reverse.safetensors", String.format(entry, 8, 0), new byte[8]), "outside");
        assertFails(file("overlap.safetensors", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]), "overlap");
        assertFails(file("json.safetensors", "{\"x\": [1, 2", new byte[8]), "header is not valid JSON (");
        assertFails(file("lenient.safetensors", "{x: 1}", new byte[8]), "header is not valid JSON (line 1 column ");
        for (String name : new String[] {"json.safetensors", "lenient.safetensors"}) {
            IOException e = assertThrows(IOException.class, () -> Safetensors.read(dir.resolve(name)));
            assertFalse(e.getMessage().contains("gson") || e.getMessage().contains("Strictness") || e.getMessage().contains("http"), e.getMessage());
        }
        assertFails(file("notobj.safetensors", "[1,2,3]", new byte[8]), "not a JSON object");
        assertFails(file("dtype.safetensors", "{\"x\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", new byte[8]), "unsupported dtype I64");
        assertFails(file("shape.safetensors", "{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", new byte[8]), "shape");
        assertFails(file("bigshape.safetensors", "{\"x\":{\"dtype\":\"F32\",\"shape\":[100000,100000,100000],\"data_offsets\":[0,4]}}", new byte[8]), "elements");
        assertFails(file("frac.safetensors", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", new byte[8]), "integer");
        assertFails(file("meta.safetensors", "{\"__metadata__\":{\"a\":3}}", new byte[0]), "__metadata__");
        assertFails(file("utf.safetensors", "{\"\u00e9\":1}".replace("\u00e9", "\u00ff"), new byte[0]), "entry");
        byte[] badUtf = {'{', '"', (byte) 0xff, '"', ':', '1', '}'};
        ByteBuffer b = ByteBuffer.allocate(8 + badUtf.length).order(ByteOrder.LITTLE_ENDIAN).putLong(badUtf.length).put(badUtf);
        Path bu = dir.resolve("badutf.safetensors");
        Files.write(bu, b.array());
        assertFails(bu, "UTF-8");
    }
}
