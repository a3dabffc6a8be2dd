package dinoseg.train;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dinoseg.io.AtomicFiles;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The resume file's container: a safetensors file (8-byte little-endian header length, a JSON
 * header naming each tensor's dtype, shape and byte range, then the raw little-endian data) holding
 * float32 arrays, with one JSON document in the header's {@code __metadata__} under
 * {@code "dinoseg_state"}. Written atomically. Only F32 tensors are stored: everything the resume
 * state holds besides them (steps, scores, history) lives in the JSON.
 */
final class StateFile {
    private StateFile() { }

    static final String KEY = "dinoseg_state";

    /** A float array with its shape. */
    record Entry(int[] shape, float[] data) {
        Entry {
            long n = 1;
            for (int d : shape) n *= d;
            if (n != data.length) throw new IllegalArgumentException("state tensor of shape " + java.util.Arrays.toString(shape) + " holds " + data.length + " values");
        }
    }

    record Contents(JsonObject meta, Map<String, Entry> tensors) { }

    static void write(Path file, JsonObject meta, Map<String, Entry> tensors) throws IOException {
        JsonObject header = new JsonObject();
        JsonObject md = new JsonObject();
        md.addProperty(KEY, meta.toString());
        header.add("__metadata__", md);
        long off = 0;
        for (var e : tensors.entrySet()) {
            JsonObject t = new JsonObject();
            t.addProperty("dtype", "F32");
            com.google.gson.JsonArray shape = new com.google.gson.JsonArray();
            for (int d : e.getValue().shape()) shape.add(d);
            t.add("shape", shape);
            com.google.gson.JsonArray range = new com.google.gson.JsonArray();
            long len = 4L * e.getValue().data().length;
            range.add(off);
            range.add(off + len);
            t.add("data_offsets", range);
            header.add(e.getKey(), t);
            off += len;
        }
        byte[] hb = header.toString().getBytes(StandardCharsets.UTF_8);
        int pad = (8 - hb.length % 8) % 8;
        byte[] hp = new byte[hb.length + pad];
        System.arraycopy(hb, 0, hp, 0, hb.length);
        for (int i = hb.length; i < hp.length; i++) hp[i] = ' ';
        AtomicFiles.write(file, out -> {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(hp.length);
            out.write(len.array());
            out.write(hp);
            ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
            for (Entry en : tensors.values()) {
                for (float v : en.data()) {
                    if (buf.remaining() < 4) { out.write(buf.array(), 0, buf.position()); buf.clear(); }
                    buf.putFloat(v);
                }
            }
            out.write(buf.array(), 0, buf.position());
        });
    }

    static Contents read(Path file) {
        try (InputStream in = new java.io.BufferedInputStream(Files.newInputStream(file), 1 << 20)) {
            DataInputStream din = new DataInputStream(in);
            byte[] lb = new byte[8];
            din.readFully(lb);
            long hl = ByteBuffer.wrap(lb).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (hl <= 0 || hl > (1 << 28)) throw new IllegalArgumentException(file + ": not a safetensors file (header length " + hl + ")");
            byte[] hb = new byte[(int) hl];
            din.readFully(hb);
            JsonObject header = JsonParser.parseString(new String(hb, StandardCharsets.UTF_8)).getAsJsonObject();
            JsonObject md = header.has("__metadata__") ? header.getAsJsonObject("__metadata__") : null;
            if (md == null || !md.has(KEY)) throw new IllegalArgumentException(file + ": not a dinoseg resume state (no " + KEY + " metadata)");
            JsonObject meta = JsonParser.parseString(md.get(KEY).getAsString()).getAsJsonObject();
            Map<String, long[]> ranges = new LinkedHashMap<>();
            Map<String, int[]> shapes = new LinkedHashMap<>();
            for (var e : header.entrySet()) {
                if (e.getKey().equals("__metadata__")) continue;
                JsonObject t = e.getValue().getAsJsonObject();
                if (!"F32".equals(t.get("dtype").getAsString()))
                    throw new IllegalArgumentException(file + ": tensor " + e.getKey() + " is " + t.get("dtype").getAsString() + ", expected F32");
                var sh = t.getAsJsonArray("shape");
                int[] s = new int[sh.size()];
                for (int i = 0; i < s.length; i++) s[i] = sh.get(i).getAsInt();
                var r = t.getAsJsonArray("data_offsets");
                ranges.put(e.getKey(), new long[]{r.get(0).getAsLong(), r.get(1).getAsLong()});
                shapes.put(e.getKey(), s);
            }
            // tensors in file order
            var order = new java.util.ArrayList<>(ranges.entrySet());
            order.sort(java.util.Comparator.comparingLong(e -> e.getValue()[0]));
            Map<String, Entry> tensors = new LinkedHashMap<>();
            long pos = 0;
            for (var e : order) {
                long a = e.getValue()[0], b = e.getValue()[1];
                if (a != pos) din.skipNBytes(a - pos);
                int n = (int) ((b - a) / 4);
                byte[] raw = new byte[(int) (b - a)];
                din.readFully(raw);
                float[] data = new float[n];
                ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(data);
                tensors.put(e.getKey(), new Entry(shapes.get(e.getKey()), data));
                pos = b;
            }
            Map<String, Entry> inHeaderOrder = new LinkedHashMap<>();
            for (String k : ranges.keySet()) inHeaderOrder.put(k, tensors.get(k));
            return new Contents(meta, inHeaderOrder);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": resume state does not exist");
        } catch (java.io.EOFException e) {
            throw new IllegalArgumentException(file + ": resume state is truncated");
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read resume state (" + e.getMessage() + ")");
        } catch (IllegalStateException | com.google.gson.JsonParseException | UnsupportedOperationException | NullPointerException e) {
            throw new IllegalArgumentException(file + ": malformed resume state header (" + e.getMessage() + ")");
        }
    }
}
