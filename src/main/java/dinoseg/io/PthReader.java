package dinoseg.io;

import dinoseg.tensor.Shape;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * Reads PyTorch checkpoints written by {@code torch.save} (the zip container: {@code <name>/data.pkl}
 * plus one raw little-endian file per storage under {@code <name>/data/}) with the restricted
 * {@link Unpickler}: tensors and (ordered) dicts only, never code. Checkpoints that wrap the
 * state dict ({"model": ...}, {"teacher": ...}, {"state_dict": ...}) are unwrapped.
 */
public final class PthReader {
    private PthReader() { }

    /** Largest data.pkl accepted (a ViT-g state dict's pickle is well under 1 MiB). */
    static final long MAX_PICKLE = 256L << 20;

    private record StorageRef(String key, String type, long numel) { }

    /** Reads the tensors of a checkpoint, flattening nested dicts with dotted names. */
    public static StateDict read(Path file) throws IOException {
        Object root = readObject(file);
        Map<String, HostTensor> out = new LinkedHashMap<>();
        Object sd = unwrap(root);
        if (!(sd instanceof Map<?, ?> m)) throw new IOException(file + ": checkpoint holds no dict of tensors");
        flatten("", m, out);
        if (out.isEmpty()) throw new IOException(file + ": checkpoint holds no tensors");
        return new StateDict(out);
    }

    /** The unpickled object tree (maps, lists, tuples, strings, numbers, {@link HostTensor}s). */
    public static Object readObject(Path file) throws IOException {
        ZipFile zip;
        try {
            zip = new ZipFile(file.toFile());
        } catch (ZipException e) {
            throw new IOException(file + ": not a zip-format torch.save checkpoint (" + e.getMessage()
                    + "); legacy (pre-1.6) files must be re-saved with a recent PyTorch");
        }
        try (zip) {
            ZipEntry pkl = null;
            for (Enumeration<? extends ZipEntry> en = zip.entries(); en.hasMoreElements(); ) {
                ZipEntry e = en.nextElement();
                String n = e.getName();
                if (n.endsWith("/data.pkl") && n.indexOf('/') == n.length() - "/data.pkl".length()) { pkl = e; break; }
                if (n.equals("data.pkl")) { pkl = e; break; }
            }
            if (pkl == null) throw new IOException(file + ": zip has no data.pkl (not a torch.save checkpoint)");
            String prefix = pkl.getName().substring(0, pkl.getName().length() - "data.pkl".length());
            ZipEntry bo = zip.getEntry(prefix + "byteorder");
            if (bo != null) {
                String order = new String(readEntry(file, zip, bo, 64), StandardCharsets.US_ASCII).trim();
                if (!order.equals("little")) throw new IOException(file + ": byte order '" + order + "' is not supported");
            }
            byte[] pickle = readEntry(file, zip, pkl, MAX_PICKLE);
            Map<String, float[]> storages = new HashMap<>();
            Unpickler.Resolver resolver = new Unpickler.Resolver() {
                @Override public Object persistentLoad(Object pid) throws Unpickler.PickleException {
                    if (!(pid instanceof Unpickler.Tuple t) || t.items().size() < 5 || !"storage".equals(t.items().get(0)))
                        throw new Unpickler.PickleException("unsupported persistent id " + pid);
                    List<Object> it = t.items();
                    if (!(it.get(1) instanceof Unpickler.Global g)) throw new Unpickler.PickleException("storage type is not a storage class");
                    if (!(it.get(2) instanceof String key)) throw new Unpickler.PickleException("storage key is not a string");
                    if (!(it.get(4) instanceof Long numel) || numel < 0) throw new Unpickler.PickleException("storage size is not a count");
                    return new StorageRef(key, g.name(), numel);
                }

                @Override public Object rebuildTensor(Object storage, long offset, List<Object> size, List<Object> stride)
                        throws Unpickler.PickleException {
                    if (!(storage instanceof StorageRef s)) throw new Unpickler.PickleException("tensor rebuilt from a non-storage");
                    float[] data = storages.get(s.key());
                    if (data == null) {
                        try {
                            data = loadStorage(file, zip, prefix, s);
                        } catch (IOException e) {
                            throw new Unpickler.PickleException(e.getMessage());
                        }
                        storages.put(s.key(), data);
                    }
                    return view(data, offset, size, stride);
                }
            };
            try {
                return new Unpickler(pickle, resolver).load();
            } catch (Unpickler.PickleException e) {
                String m = e.getMessage();
                throw new IOException(m.startsWith(file.toString()) ? m : file + ": " + m);
            }
        }
    }

    private static byte[] readEntry(Path file, ZipFile zip, ZipEntry e, long max) throws IOException {
        if (e.getSize() > max) throw new IOException(file + ": " + e.getName() + " is " + e.getSize() + " bytes, more than " + max);
        try (InputStream in = zip.getInputStream(e)) {
            byte[] b = in.readNBytes((int) Math.min(max + 1, Integer.MAX_VALUE - 16));
            if (b.length > max) throw new IOException(file + ": " + e.getName() + " is larger than " + max + " bytes");
            return b;
        }
    }

    private static int elementSize(String type) {
        return switch (type) {
            case "FloatStorage", "IntStorage" -> 4;
            case "HalfStorage", "BFloat16Storage" -> 2;
            case "DoubleStorage", "LongStorage" -> 8;
            default -> -1;
        };
    }

    private static float[] loadStorage(Path file, ZipFile zip, String prefix, StorageRef s) throws IOException {
        int es = elementSize(s.type());
        if (es < 0) throw new IOException(file + ": unsupported storage type " + s.type());
        if (s.numel() > Integer.MAX_VALUE) throw new IOException(file + ": storage " + s.key() + " has more than 2^31-1 elements");
        if (!s.key().matches("[A-Za-z0-9_]{1,64}")) throw new IOException(file + ": invalid storage key '" + s.key() + "'");
        ZipEntry e = zip.getEntry(prefix + "data/" + s.key());
        if (e == null) throw new IOException(file + ": storage " + s.key() + " is missing from the archive");
        long bytes = s.numel() * es;
        if (e.getSize() >= 0 && e.getSize() != bytes)
            throw new IOException(file + ": storage " + s.key() + " holds " + e.getSize() + " bytes, expected " + bytes + " for " + s.numel() + " " + s.type() + " elements");
        byte[] raw;
        try (InputStream in = zip.getInputStream(e)) {
            raw = in.readNBytes((int) Math.min(bytes, Integer.MAX_VALUE - 16));
        }
        if (raw.length != bytes) throw new IOException(file + ": storage " + s.key() + " is truncated (" + raw.length + " of " + bytes + " bytes)");
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        int n = (int) s.numel();
        float[] f = new float[n];
        switch (s.type()) {
            case "FloatStorage" -> b.asFloatBuffer().get(f);
            case "HalfStorage" -> { for (int i = 0; i < n; i++) f[i] = Safetensors.halfToFloat(b.getShort(2 * i)); }
            case "BFloat16Storage" -> { for (int i = 0; i < n; i++) f[i] = Float.intBitsToFloat((b.getShort(2 * i) & 0xffff) << 16); }
            case "DoubleStorage" -> { for (int i = 0; i < n; i++) f[i] = (float) b.getDouble(8 * i); }
            case "LongStorage" -> { for (int i = 0; i < n; i++) f[i] = (float) b.getLong(8 * i); }
            case "IntStorage" -> { for (int i = 0; i < n; i++) f[i] = (float) b.getInt(4 * i); }
            default -> throw new IOException(file + ": unsupported storage type " + s.type());
        }
        return f;
    }

    /** Gathers a strided view of a storage into a dense tensor, checking every index stays inside. */
    private static HostTensor view(float[] data, long offset, List<Object> size, List<Object> stride) throws Unpickler.PickleException {
        if (size.size() != stride.size()) throw new Unpickler.PickleException("tensor size and stride ranks differ");
        if (size.size() > 16) throw new Unpickler.PickleException("tensor rank " + size.size() + " is more than 16");
        if (offset < 0 || offset > data.length) throw new Unpickler.PickleException("tensor offset " + offset + " outside its storage of " + data.length + " elements");
        int r = size.size();
        int[] dims = new int[r];
        long[] st = new long[r];
        long numel = 1, maxIndex = offset;
        for (int i = 0; i < r; i++) {
            if (!(size.get(i) instanceof Long d) || d < 0 || d > Integer.MAX_VALUE) throw new Unpickler.PickleException("invalid tensor size " + size);
            if (!(stride.get(i) instanceof Long s) || s < 0) throw new Unpickler.PickleException("invalid tensor stride " + stride);
            dims[i] = (int) (long) d;
            st[i] = s;
            numel *= d; // both factors < 2^31 and numel is kept below 2^31: no overflow
            if (numel > Integer.MAX_VALUE) throw new Unpickler.PickleException("tensor too large: " + size);
            if (s > Integer.MAX_VALUE) throw new Unpickler.PickleException("invalid tensor stride " + stride);
            if (d > 0) maxIndex += (d - 1) * s; // < 2^62 added to < 2^31: no overflow
            if (maxIndex > data.length) maxIndex = data.length; // already out of range; keep it from growing
        }
        if (numel > 0 && maxIndex >= data.length)
            throw new Unpickler.PickleException("tensor view " + size + " at offset " + offset + " reaches past its storage of " + data.length + " elements");
        float[] out = new float[(int) numel];
        boolean contiguous = true;
        long expect = 1;
        for (int i = r - 1; i >= 0; i--) {
            if (dims[i] != 1 && st[i] != expect) contiguous = false;
            expect *= dims[i];
        }
        if (contiguous) {
            System.arraycopy(data, (int) offset, out, 0, (int) numel);
        } else {
            int[] idx = new int[r];
            for (int k = 0; k < numel; k++) {
                long src = offset;
                for (int i = 0; i < r; i++) src += idx[i] * st[i];
                out[k] = data[(int) src];
                for (int i = r - 1; i >= 0; i--) {
                    if (++idx[i] < dims[i]) break;
                    idx[i] = 0;
                }
            }
        }
        return new HostTensor(Shape.of(dims), out);
    }

    /** Unwraps {"model"|"teacher"|"state_dict"|"module"|"student"|"model_state_dict": {...}} down to the tensors. */
    static Object unwrap(Object root) {
        Object cur = root;
        for (int depth = 0; depth < 4; depth++) {
            if (!(cur instanceof Map<?, ?> m)) return cur;
            boolean hasTensors = m.values().stream().anyMatch(v -> v instanceof HostTensor);
            if (hasTensors) return cur;
            Object next = null;
            for (String k : List.of("model", "teacher", "state_dict", "model_state_dict", "module", "student")) {
                if (m.get(k) instanceof Map<?, ?> inner) { next = inner; break; }
            }
            if (next == null) return cur;
            cur = next;
        }
        return cur;
    }

    private static void flatten(String prefix, Map<?, ?> m, Map<String, HostTensor> out) {
        for (var e : m.entrySet()) {
            String k = prefix + e.getKey();
            Object v = e.getValue();
            if (v instanceof HostTensor t) out.put(k, t);
            else if (v instanceof Map<?, ?> inner) flatten(k + ".", inner, out);
        }
    }
}
