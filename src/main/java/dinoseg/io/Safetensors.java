package dinoseg.io;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonPrimitive;
import com.google.gson.stream.JsonReader;
import dinoseg.tensor.Shape;

import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * ({@code {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}}),
 * then the raw little-endian tensor bytes, offsets relative to the end of the header.
 *
 * <p>Reading is hardened: the header length is bounded by the file size (and 100 MiB), the JSON
 * must parse to the expected structure, dtypes must be F32, F16 or BF16 (read to float32),
 * shape × element size must equal the byte range, ranges must lie inside the file and not overlap.
 * Any violation is an {@link IOException} naming the file and the problem. Writing produces F32
 * tensors, an 8-byte aligned header, atomically (temp file, then rename).
 */
public final class Safetensors {
    private Safetensors() { }

    /** Largest header accepted (the official implementation uses the same bound). */
    public static final long MAX_HEADER = 100L << 20;

    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();

    /** One tensor's header entry. */
    public record Entry(String name, String dtype, Shape shape, long begin, long end) { }

    /** Header and layout of a safetensors file, without the tensor data. */
    public record Header(List<Entry> entries, Map<String, String> metadata, long dataStart) { }

    /** Reads every tensor as float32, plus the metadata. */
    public static StateDict read(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            Header h = readHeader(file, ch);
            Map<String, HostTensor> out = new LinkedHashMap<>();
            for (Entry e : h.entries()) out.put(e.name(), readTensor(file, ch, h.dataStart(), e));
            return new StateDict(out, h.metadata());
        }
    }

    /** Reads and validates only the header. */
    public static Header readHeader(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return readHeader(file, ch);
        }
    }

    static Header readHeader(Path file, FileChannel ch) throws IOException {
        long size = ch.size();
        if (size < 8) throw bad(file, "file is " + size + " bytes, too short for a safetensors header");
        ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(file, ch, lenBuf, 0);
        long n = lenBuf.getLong(0);
        if (n < 2 || n > MAX_HEADER || n > size - 8) {
            // a JSON or text file given as weights reads as a huge "header length": say what the file is instead
            byte b0 = lenBuf.get(0);
            if (b0 == '{' || b0 == '[') throw bad(file, "a JSON text file, not safetensors: a safetensors file starts with an 8-byte header length");
            throw bad(file, "header length " + Long.toUnsignedString(n) + " is invalid for a file of " + size + " bytes");
        }
        ByteBuffer hb = ByteBuffer.allocate((int) n);
        readFully(file, ch, hb, 8);
        String json;
        try {
            json = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(hb.flip()).toString();
        } catch (CharacterCodingException e) {
            throw bad(file, "header is not valid UTF-8");
        }
        int depth = maxNesting(json);
        if (depth > MAX_NESTING) throw bad(file, "header JSON nests " + (depth > 1000 ? "more than 1000" : String.valueOf(depth)) + " levels deep (at most " + MAX_NESTING + ")");
        JsonObject root;
        try {
            JsonReader r = new JsonReader(new StringReader(json));
            r.setStrictness(com.google.gson.Strictness.STRICT);
            JsonElement el = GSON.getAdapter(JsonElement.class).read(r);
            if (r.peek() != com.google.gson.stream.JsonToken.END_DOCUMENT) throw bad(file, "header has data after the JSON object");
            if (!el.isJsonObject()) throw bad(file, "header is not a JSON object");
            root = el.getAsJsonObject();
        } catch (JsonParseException | IllegalStateException | IOException | StackOverflowError e) {
            if (e instanceof IOException io && io.getMessage() != null && io.getMessage().startsWith(file.toString())) throw io;
            // a syntax error: the position, in our words (Gson's message names its classes and a URL)
            if (e instanceof JsonParseException || e instanceof com.google.gson.stream.MalformedJsonException || e instanceof java.io.EOFException)
                throw bad(file, "header is " + JsonText.describe(e));
            throw bad(file, "header is not valid JSON (" + Untrusted.message(JsonText.clean(e.getMessage())) + ")");
        }
        long dataStart = 8 + n, dataLen = size - dataStart;
        Map<String, String> meta = new LinkedHashMap<>();
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<String, JsonElement> kv : root.entrySet()) {
            String name = kv.getKey();
            if (name.equals("__metadata__")) {
                if (!kv.getValue().isJsonObject()) throw bad(file, "__metadata__ is not an object");
                for (Map.Entry<String, JsonElement> m : kv.getValue().getAsJsonObject().entrySet()) {
                    JsonElement v = m.getValue();
                    if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString())
                        throw bad(file, "__metadata__ value of " + Untrusted.quoted(m.getKey()) + " is not a string");
                    meta.put(m.getKey(), v.getAsString());
                }
                continue;
            }
            entries.add(parseEntry(file, name, kv.getValue(), dataLen));
        }
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        for (int i = 1; i < sorted.size(); i++) {
            Entry a = sorted.get(i - 1), b = sorted.get(i);
            if (b.begin() < a.end())
                throw bad(file, "tensors " + Untrusted.quoted(a.name()) + " and " + Untrusted.quoted(b.name()) + " overlap (bytes " + a.begin() + ".." + a.end() + " and " + b.begin() + ".." + b.end() + ")");
        }
        return new Header(entries, meta, dataStart);
    }

    /** Deepest nesting of JSON arrays and objects in {@code json} (brackets inside strings ignored); a linear scan. */
    static int maxNesting(String json) {
        int depth = 0, max = 0;
        boolean inString = false;
        for (int i = 0; i < json.length(); i++) {
            char c = json.charAt(i);
            if (inString) {
                if (c == '\\') i++;
                else if (c == '"') inString = false;
            } else if (c == '"') {
                inString = true;
            } else if (c == '[' || c == '{') {
                max = Math.max(max, ++depth);
            } else if (c == ']' || c == '}') {
                depth--;
            }
        }
        return max;
    }

    /** Deepest nesting a header needs is 3 ({"name": {"shape": [...]}}); a little slack for extensions. */
    static final int MAX_NESTING = 8;

    private static Entry parseEntry(Path file, String rawName, JsonElement v, long dataLen) throws IOException {
        String name = Untrusted.text(rawName);
        if (!v.isJsonObject()) throw bad(file, "entry '" + name + "' is not an object");
        JsonObject o = v.getAsJsonObject();
        JsonElement dt = o.get("dtype"), sh = o.get("shape"), off = o.get("data_offsets");
        if (dt == null || !dt.isJsonPrimitive() || !dt.getAsJsonPrimitive().isString())
            throw bad(file, "tensor '" + name + "' has no dtype string");
        String dtype = dt.getAsString();
        int esize = elementSize(dtype);
        if (esize < 0) throw bad(file, "tensor '" + name + "' has unsupported dtype " + Untrusted.text(dtype) + " (supported: F32, F16, BF16)");
        if (sh == null || !sh.isJsonArray()) throw bad(file, "tensor '" + name + "' has no shape array");
        JsonArray sa = sh.getAsJsonArray();
        if (sa.size() > 16) throw bad(file, "tensor '" + name + "' has rank " + sa.size() + " (more than 16)");
        int[] dims = new int[sa.size()];
        long numel = 1;
        for (int i = 0; i < dims.length; i++) {
            long d = integer(file, name, "shape", sa.get(i));
            if (d > Integer.MAX_VALUE) throw bad(file, "tensor '" + name + "' has dimension " + d + " that is too large");
            dims[i] = (int) d;
            numel = numel == 0 || d == 0 ? 0 : Math.multiplyExact(numel, d);
            if (numel > Integer.MAX_VALUE) throw bad(file, "tensor '" + name + "' has more than 2^31-1 elements");
        }
        if (off == null || !off.isJsonArray() || off.getAsJsonArray().size() != 2)
            throw bad(file, "tensor '" + name + "' has no [begin, end] data_offsets");
        long begin = integer(file, name, "data_offsets", off.getAsJsonArray().get(0));
        long end = integer(file, name, "data_offsets", off.getAsJsonArray().get(1));
        if (begin > end || end > dataLen)
            throw bad(file, "tensor '" + name + "' data_offsets [" + begin + ", " + end + "] lie outside the " + dataLen + " data bytes");
        if (end - begin != numel * esize)
            throw bad(file, "tensor '" + name + "' " + dtype + " " + java.util.Arrays.toString(dims) + " needs " + numel * esize
                    + " bytes but data_offsets span " + (end - begin));
        return new Entry(rawName, dtype, Shape.of(dims), begin, end);
    }

    private static long integer(Path file, String name, String field, JsonElement e) throws IOException {
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber())
            throw bad(file, "tensor '" + name + "' " + field + " holds " + kind(e) + ", not a number");
        String text = e.getAsJsonPrimitive().getAsString();
        if (text.length() > 40) throw bad(file, "tensor '" + name + "' " + field + " holds a number of " + text.length() + " characters, not an integer in range");
        java.math.BigDecimal d;
        try {
            d = e.getAsBigDecimal();
        } catch (NumberFormatException x) {
            throw bad(file, "tensor '" + name + "' " + field + " holds an invalid number " + Untrusted.quoted(text));
        }
        if (d.signum() < 0 || d.compareTo(java.math.BigDecimal.valueOf(Long.MAX_VALUE / 8)) > 0 || d.stripTrailingZeros().scale() > 0)
            throw bad(file, "tensor '" + name + "' " + field + " holds " + Untrusted.text(text) + ", not a non-negative integer in range");
        return d.longValueExact();
    }

    /** What kind of JSON value {@code e} is, never its text (which may be deeply nested or huge). */
    private static String kind(JsonElement e) {
        if (e.isJsonArray()) return "an array";
        if (e.isJsonObject()) return "an object";
        if (e.isJsonNull()) return "null";
        if (e.getAsJsonPrimitive().isBoolean()) return "a boolean";
        return "a string";
    }

    static int elementSize(String dtype) {
        return switch (dtype) {
            case "F32" -> 4;
            case "F16", "BF16" -> 2;
            default -> -1;
        };
    }

    /** Reads one tensor in chunks of at most 1 MiB (tensors of 2 GiB and more included: up to 2^31-9 elements). */
    private static HostTensor readTensor(Path file, FileChannel ch, long dataStart, Entry e) throws IOException {
        long numel = e.shape().numel();
        if (numel > Integer.MAX_VALUE - 8) throw bad(file, "tensor " + Untrusted.quoted(e.name()) + " has " + numel + " elements, more than a Java array holds");
        int es = elementSize(e.dtype());
        float[] f = new float[(int) numel];
        ByteBuffer b = ByteBuffer.allocate(es * (1 << 18)).order(ByteOrder.LITTLE_ENDIAN);
        long pos = dataStart + e.begin();
        int done = 0;
        while (done < f.length) {
            int k = Math.min(f.length - done, b.capacity() / es);
            b.clear().limit(k * es);
            readFully(file, ch, b, pos);
            pos += (long) k * es;
            switch (e.dtype()) {
                case "F32" -> { for (int i = 0; i < k; i++) f[done + i] = b.getFloat(4 * i); }
                case "F16" -> { for (int i = 0; i < k; i++) f[done + i] = halfToFloat(b.getShort(2 * i)); }
                case "BF16" -> { for (int i = 0; i < k; i++) f[done + i] = Float.intBitsToFloat((b.getShort(2 * i) & 0xffff) << 16); }
                default -> throw bad(file, "unsupported dtype " + Untrusted.text(e.dtype()));
            }
            done += k;
        }
        return new HostTensor(e.shape(), f);
    }

    /** IEEE 754 binary16 to float32 (exact). */
    public static float halfToFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits & 0x8000) << 16, exp = (bits >>> 10) & 0x1f, mant = bits & 0x3ff;
        if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        if (exp == 0) {
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    private static void readFully(Path file, FileChannel ch, ByteBuffer b, long pos) throws IOException {
        while (b.hasRemaining()) {
            int r = ch.read(b, pos);
            if (r < 0) throw bad(file, "file ends early (truncated?)");
            pos += r;
        }
    }

    private static IOException bad(Path file, String what) { return new IOException(file + ": " + what); }

    // ------------------------------------------------------------------ writing

    /** Writes float32 tensors (in map order) and metadata atomically. */
    public static void write(Path file, Map<String, HostTensor> tensors, Map<String, String> metadata) throws IOException {
        JsonObject root = new JsonObject();
        if (metadata != null && !metadata.isEmpty()) {
            JsonObject m = new JsonObject();
            for (var e : metadata.entrySet()) m.add(e.getKey(), new JsonPrimitive(e.getValue()));
            root.add("__metadata__", m);
        }
        long off = 0;
        for (var e : tensors.entrySet()) {
            if (e.getKey().equals("__metadata__")) throw new IllegalArgumentException(file + ": '__metadata__' is not a valid tensor name");
            JsonObject t = new JsonObject();
            t.addProperty("dtype", "F32");
            JsonArray shape = new JsonArray();
            for (int d : e.getValue().shape().dims()) shape.add(d);
            t.add("shape", shape);
            JsonArray offs = new JsonArray();
            long len = 4L * e.getValue().data().length;
            offs.add(off);
            offs.add(off + len);
            t.add("data_offsets", offs);
            root.add(e.getKey(), t);
            off += len;
        }
        byte[] json = GSON.toJson(root).getBytes(StandardCharsets.UTF_8);
        int pad = (8 - (json.length % 8)) % 8;
        ByteBuffer head = ByteBuffer.allocate(8 + json.length + pad).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(json.length + pad).put(json);
        for (int i = 0; i < pad; i++) head.put((byte) ' ');
        head.flip();
        AtomicFiles.writeChannel(file, ch -> {
            while (head.hasRemaining()) ch.write(head);
            ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            for (HostTensor t : tensors.values()) {
                float[] d = t.data();
                int i = 0;
                while (i < d.length) {
                    int n = Math.min(d.length - i, buf.capacity() / 4);
                    buf.clear();
                    buf.asFloatBuffer().put(d, i, n);
                    buf.limit(4 * n);
                    while (buf.hasRemaining()) ch.write(buf);
                    i += n;
                }
            }
        });
    }

    public static void write(Path file, Map<String, HostTensor> tensors) throws IOException { write(file, tensors, Map.of()); }
}
