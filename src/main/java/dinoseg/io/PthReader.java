package dinoseg.io;

import dinoseg.tensor.Shape;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Reads PyTorch checkpoints written by {@code torch.save} with the restricted {@link Unpickler}
 * (tensors and (ordered) dicts only, never code; numpy values in metadata such as mmcv's {@code meta}
 * become inert placeholders), in both of torch's formats:
 * <ul>
 *   <li>the zip format (PyTorch ≥ 1.6): {@code <name>/data.pkl} plus one raw little-endian file per
 *       storage under {@code <name>/data/} (torch/serialization.py {@code _save});</li>
 *   <li>the legacy format (PyTorch &lt; 1.6, or {@code _use_new_zipfile_serialization=False}): five
 *       pickles one after the other (the magic number 0x1950a86a20f9469cfc6c, the protocol version
 *       1001, a sys_info dict, the object with persistent storage ids, the list of storage keys),
 *       then each listed storage as an 8-byte little-endian element count followed by its raw bytes
 *       (torch/serialization.py {@code _legacy_save} / {@code _legacy_load}).</li>
 * </ul>
 * Checkpoints that wrap the state dict ({"model": ...}, {"teacher": ...}, {"state_dict": ...}) are
 * unwrapped; nested dicts are flattened with dotted names.
 *
 * <p>Hostile files fail with one {@link IOException} line naming the file, with work and memory
 * bounded by the file's size: every storage must lie inside the file (their bytes together at most
 * the file's size); every tensor view must fit inside its storage and hold no more elements than
 * it; distinct views of one storage together hold no more elements than the storage (aliasing views
 * are refused unless identical, which then share one array); dict nesting is at most
 * {@link #MAX_NESTING} deep, a dict may be reached only once (self-referential or shared
 * structures are refused, so traversal is linear), flattened names are bounded, and messages
 * print sanitized names ({@link Untrusted}), never the unpickled objects.
 */
public final class PthReader {
    private PthReader() { }

    /** Largest pickle accepted (a ViT-g state dict's pickle is well under 1 MiB). */
    static final long MAX_PICKLE = 256L << 20;
    /** Deepest dict nesting flattened into names. */
    static final int MAX_NESTING = 64;
    /** Longest flattened tensor name. */
    static final int MAX_NAME = 1024;
    /** Most elements of one Java array. */
    static final long MAX_ARRAY = Integer.MAX_VALUE - 8;
    /** PyTorch's legacy-format magic number and protocol version (torch/serialization.py). */
    static final BigInteger LEGACY_MAGIC = new BigInteger("1950a86a20f9469cfc6c", 16);
    static final long LEGACY_PROTOCOL = 1001;

    /** A storage as the pickle declares it; {@code base}/{@code length} select a legacy storage view. */
    record StorageRef(String key, String type, int elementSize, long numel, long base, long length) { }

    /** A checked tensor view of a storage, read only when selected. */
    record View(StorageRef storage, long offset, int[] dims, long[] strides, long numel) { }

    /** Reads a whole storage as float32. */
    private interface StorageSource {
        float[] load(StorageRef s) throws IOException;
    }

    /** True when the first bytes are a zip local header. */
    static boolean isZip(byte[] head) { return head.length >= 2 && head[0] == 'P' && head[1] == 'K'; }

    /** True when the first bytes are the legacy format's first pickle: PROTO, [FRAME], LONG1 of the magic number. */
    static boolean isLegacy(byte[] head) {
        if (head.length < 4 || (head[0] & 0xff) != 0x80 || head[1] < 2 || head[1] > 5) return false;
        int p = 2;
        if ((head[p] & 0xff) == 0x95) p += 9;
        byte[] magic = {(byte) 0x8a, 0x0a, 0x6c, (byte) 0xfc, (byte) 0x9c, 0x46, (byte) 0xf9, 0x20, 0x6a, (byte) 0xa8, 0x50, 0x19};
        if (head.length < p + magic.length) return false;
        return Arrays.equals(head, p, p + magic.length, magic, 0, magic.length);
    }

    /** Reads the tensors of a checkpoint (either format), flattening nested dicts with dotted names. */
    public static StateDict read(Path file) throws IOException {
        byte[] head;
        long size;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            size = ch.size();
            ByteBuffer b = ByteBuffer.allocate((int) Math.min(size, 32));
            while (b.hasRemaining() && ch.read(b) >= 0) { }
            head = Arrays.copyOf(b.array(), b.position());
        }
        if (isLegacy(head)) return readLegacy(file, size);
        return readZip(file, size);
    }

    // ------------------------------------------------------------------ zip format

    private static StateDict readZip(Path file, long size) throws IOException {
        ZipFile zip;
        try {
            zip = new ZipFile(file.toFile());
        } catch (IOException | IllegalArgumentException e) {
            throw new IOException(file + ": not a readable zip archive (" + reason(e) + "); torch.save checkpoints of PyTorch >= 1.6 are zip files");
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
                if (!order.equals("little")) throw new IOException(file + ": byte order " + Untrusted.quoted(order) + " is not supported");
            }
            byte[] pickle = readEntry(file, zip, pkl, Math.min(MAX_PICKLE, size));
            Views views = new Views(file, size, s -> {
                ZipEntry e = zip.getEntry(prefix + "data/" + s.key());
                if (e == null) throw new Unpickler.PickleException("storage " + s.key() + " is missing from the archive");
                long bytes = s.numel() * s.elementSize();
                if (e.getSize() >= 0 && e.getSize() != bytes)
                    throw new Unpickler.PickleException("storage " + s.key() + " holds " + e.getSize() + " bytes, expected " + bytes
                            + " for " + s.numel() + " " + s.type() + " elements");
            });
            Object root = unpickle(file, ByteBuffer.wrap(pickle), 0, pickle.length, views);
            return select(file, root, s -> {
                ZipEntry e = zip.getEntry(prefix + "data/" + s.key());
                try (InputStream in = zip.getInputStream(e)) {
                    return decode(file, s, in::read);
                }
            });
        } catch (IOException e) {
            throw named(file, e);
        } catch (IllegalArgumentException | IllegalStateException e) {
            // what java.util.zip throws for some malformed archives (bad entry names, closed streams)
            throw new IOException(file + ": malformed zip archive (" + reason(e) + ")");
        }
    }

    private static byte[] readEntry(Path file, ZipFile zip, ZipEntry e, long max) throws IOException {
        String name = Untrusted.text(e.getName());
        if (e.getSize() > max) throw new IOException(file + ": " + name + " is " + e.getSize() + " bytes, more than " + max);
        try (InputStream in = zip.getInputStream(e)) {
            byte[] b = in.readNBytes((int) Math.min(max + 1, MAX_ARRAY));
            if (b.length > max) throw new IOException(file + ": " + name + " is larger than " + max + " bytes");
            return b;
        }
    }

    // ------------------------------------------------------------------ legacy format

    private static StateDict readLegacy(Path file, long size) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            int lim = (int) Math.min(size, MAX_PICKLE);
            ByteBuffer map = ch.map(FileChannel.MapMode.READ_ONLY, 0, lim);
            Unpickler.Resolver plain = new Unpickler.Resolver() {
                @Override public Object persistentLoad(Object pid) throws Unpickler.PickleException {
                    throw new Unpickler.PickleException("persistent id outside the main pickle");
                }

                @Override public Object rebuildTensor(Object storage, long offset, List<Object> s, List<Object> st) throws Unpickler.PickleException {
                    throw new Unpickler.PickleException("tensor outside the main pickle");
                }
            };
            int[] at = {0};
            Object magic = legacyPickle(file, map, at, lim, plain, "magic number");
            if (!LEGACY_MAGIC.equals(magic)) throw legacy(file, "the first pickle is not PyTorch's magic number");
            Object version = legacyPickle(file, map, at, lim, plain, "protocol version");
            if (!(version instanceof Long v) || v != LEGACY_PROTOCOL)
                throw legacy(file, "protocol version is not " + LEGACY_PROTOCOL);
            Object sysInfo = legacyPickle(file, map, at, lim, plain, "sys_info");
            if (!(sysInfo instanceof Map<?, ?> info)) throw legacy(file, "sys_info is not a dict");
            if (Boolean.FALSE.equals(info.get("little_endian"))) throw legacy(file, "written on a big-endian machine, which is not supported");
            Views views = new Views(file, size, s -> { });
            Object root = legacyPickle(file, map, at, lim, views, "main pickle");
            Object keyList = legacyPickle(file, map, at, lim, plain, "storage key list");
            if (!(keyList instanceof List<?> keys)) throw legacy(file, "the storage key list is not a list");
            Map<String, Long> dataAt = new HashMap<>();
            long off = at[0];
            ByteBuffer count = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            for (Object k : keys) {
                if (!(k instanceof String key)) throw legacy(file, "a storage key is not a string");
                StorageRef s = views.storages.get(key);
                if (s == null) throw legacy(file, "storage " + Untrusted.quoted(key) + " is listed but no tensor uses it");
                if (dataAt.containsKey(key)) throw legacy(file, "storage " + Untrusted.quoted(key) + " is listed twice");
                count.clear();
                readFully(file, ch, count, off);
                long n = count.getLong(0);
                if (n != s.numel())
                    throw legacy(file, "storage " + Untrusted.quoted(key) + " holds " + n + " elements, its tensors expect " + s.numel());
                long bytes = s.numel() * s.elementSize();
                if (bytes > size - off - 8) throw legacy(file, "storage " + Untrusted.quoted(key) + " is truncated (the file ends early)");
                dataAt.put(key, off + 8);
                off += 8 + bytes;
            }
            for (String key : views.storages.keySet())
                if (!dataAt.containsKey(key)) throw legacy(file, "storage " + Untrusted.quoted(key) + " is used but its data is not in the file");
            return select(file, root, s -> {
                long[] pos = {dataAt.get(s.key())};
                return decode(file, s, (buf, o, len) -> {
                    int r = ch.read(ByteBuffer.wrap(buf, o, len), pos[0]);
                    if (r > 0) pos[0] += r;
                    return r;
                });
            });
        } catch (IOException e) {
            throw named(file, e);
        }
    }

    private static Object legacyPickle(Path file, ByteBuffer map, int[] at, int lim, Unpickler.Resolver r, String what) throws IOException {
        Unpickler u = new Unpickler(map, at[0], lim, r);
        try {
            Object o = u.load();
            at[0] = u.position();
            return o;
        } catch (Unpickler.PickleException e) {
            throw legacy(file, what + ": " + e.getMessage());
        }
    }

    private static IOException legacy(Path file, String what) {
        return new IOException(file + ": legacy (pre-1.6) torch.save file: " + what);
    }

    // ------------------------------------------------------------------ shared

    private static Object unpickle(Path file, ByteBuffer buf, int start, int end, Views views) throws IOException {
        try {
            return new Unpickler(buf, start, end, views).load();
        } catch (Unpickler.PickleException e) {
            throw new IOException(file + ": " + e.getMessage());
        }
    }

    /** Checks made when a storage is first declared (the zip format checks its entry). */
    private interface StorageCheck {
        void check(StorageRef s) throws Unpickler.PickleException;
    }

    /** The resolver: storages and tensor views, checked and counted, nothing read yet. */
    private static final class Views implements Unpickler.Resolver {
        final Path file;
        final long fileSize;
        final StorageCheck check;
        final Map<String, StorageRef> storages = new LinkedHashMap<>();
        final Map<String, Long> viewElements = new HashMap<>();
        final Map<String, View> distinct = new HashMap<>();
        long storageBytes;

        Views(Path file, long fileSize, StorageCheck check) {
            this.file = file;
            this.fileSize = fileSize;
            this.check = check;
        }

        @Override public boolean isTensor(Object o) { return o instanceof View; }

        @Override public Object persistentLoad(Object pid) throws Unpickler.PickleException {
            if (!(pid instanceof Unpickler.Tuple t) || t.items().size() < 5 || !"storage".equals(t.items().get(0)))
                throw new Unpickler.PickleException("unsupported persistent id (" + Unpickler.describe(pid) + ", expected a storage tuple)");
            List<Object> it = t.items();
            if (!(it.get(1) instanceof Unpickler.Global g)) throw new Unpickler.PickleException("storage type is not a storage class");
            if (!(it.get(2) instanceof String key)) throw new Unpickler.PickleException("storage key is not a string");
            if (!key.matches("[A-Za-z0-9_]{1,64}")) throw new Unpickler.PickleException("invalid storage key " + Untrusted.quoted(key));
            if (!(it.get(4) instanceof Long numel) || numel < 0) throw new Unpickler.PickleException("storage size is not a count");
            int es = elementSize(g.name());
            if (es < 0) throw new Unpickler.PickleException("unsupported storage type " + Untrusted.text(g.qualified()));
            if (numel > MAX_ARRAY) throw new Unpickler.PickleException("storage " + key + " has " + numel + " elements, more than a Java array holds (" + MAX_ARRAY + ")");
            long bytes = numel * es;
            StorageRef s = storages.get(key);
            if (s == null) {
                if (bytes > fileSize - storageBytes)
                    throw new Unpickler.PickleException("storage " + key + " declares " + bytes + " bytes; the storages would need more than the file's " + fileSize + " bytes");
                s = new StorageRef(key, g.name(), es, numel, 0, numel);
                check.check(s);
                storages.put(key, s);
                storageBytes += bytes;
            } else if (!s.type().equals(g.name()) || s.numel() != numel) {
                throw new Unpickler.PickleException("storage " + key + " is declared twice with different types or sizes");
            }
            // legacy storage views: (view_key, offset, size) within the root storage
            if (it.size() > 5 && it.get(5) != Unpickler.NONE) {
                if (!(it.get(5) instanceof Unpickler.Tuple vm) || vm.items().size() != 3
                        || !(vm.items().get(1) instanceof Long vo) || !(vm.items().get(2) instanceof Long vs))
                    throw new Unpickler.PickleException("storage " + key + " has an invalid view description");
                if (vo < 0 || vs < 0 || vo > numel || vs > numel - vo)
                    throw new Unpickler.PickleException("storage view [" + vo + ", +" + vs + ") lies outside storage " + key + " of " + numel + " elements");
                return new StorageRef(key, s.type(), es, numel, vo, vs);
            }
            return s;
        }

        @Override public Object rebuildTensor(Object storage, long offset, List<Object> size, List<Object> stride) throws Unpickler.PickleException {
            if (!(storage instanceof StorageRef s)) throw new Unpickler.PickleException("tensor rebuilt from " + Unpickler.describe(storage) + ", not a storage");
            if (size.size() != stride.size()) throw new Unpickler.PickleException("tensor size and stride ranks differ");
            if (size.size() > 16) throw new Unpickler.PickleException("tensor rank " + size.size() + " is more than 16");
            if (offset < 0 || offset > s.length())
                throw new Unpickler.PickleException("tensor offset " + offset + " outside its storage " + s.key() + " of " + s.length() + " elements");
            int r = size.size();
            int[] dims = new int[r];
            long[] st = new long[r];
            long numel = 1, maxIndex = offset;
            for (int i = 0; i < r; i++) {
                if (!(size.get(i) instanceof Long d) || d < 0 || d > MAX_ARRAY)
                    throw new Unpickler.PickleException("tensor size entry " + i + (size.get(i) instanceof Long dv ? " is " + dv + ", not a dimension of at most " + MAX_ARRAY : " is not an integer"));
                if (!(stride.get(i) instanceof Long sv) || sv < 0 || sv > MAX_ARRAY)
                    throw new Unpickler.PickleException("tensor stride entry " + i + " is not a valid stride");
                dims[i] = (int) (long) d;
                st[i] = sv;
                numel *= d; // both factors < 2^31 and numel is kept below 2^31: no overflow
                if (numel > MAX_ARRAY) throw new Unpickler.PickleException("tensor has more than " + MAX_ARRAY + " elements");
                if (d > 0) maxIndex += (d - 1) * sv; // < 2^62 added to < 2^31: no overflow
                if (maxIndex > s.length()) maxIndex = s.length(); // already out of range; keep it from growing
            }
            if (numel > 0 && maxIndex >= s.length())
                throw new Unpickler.PickleException("tensor view " + Arrays.toString(dims) + " at offset " + offset + " reaches past its storage " + s.key() + " of " + s.length() + " elements");
            if (numel > s.length())
                throw new Unpickler.PickleException("tensor view " + Arrays.toString(dims) + " has " + numel + " elements over a storage of " + s.length()
                        + " (zero or overlapping strides; save such tensors with .contiguous())");
            String sig = s.key() + "@" + (s.base() + offset) + Arrays.toString(dims) + Arrays.toString(st);
            View v = distinct.get(sig);
            if (v != null) return v; // an identical view (tied weights): shared, not counted twice
            long total = viewElements.merge(s.key(), numel, Long::sum);
            if (total > s.numel())
                throw new Unpickler.PickleException("tensor views of storage " + s.key() + " hold " + total + " elements, more than its " + s.numel()
                        + " (aliasing views are refused unless identical)");
            v = new View(s, offset, dims, st, numel);
            distinct.put(sig, v);
            return v;
        }
    }

    /** Unwraps, flattens and reads the selected tensors. */
    private static StateDict select(Path file, Object root, StorageSource source) throws IOException {
        Object sd = unwrap(root);
        if (!(sd instanceof Map<?, ?> m)) throw new IOException(file + ": checkpoint holds no dict of tensors");
        Map<String, View> named = new LinkedHashMap<>();
        flatten(file, m, named);
        if (named.isEmpty()) throw new IOException(file + ": checkpoint holds no tensors");
        Map<String, float[]> data = new HashMap<>();
        Map<View, HostTensor> done = new IdentityHashMap<>();
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (var e : named.entrySet()) {
            View v = e.getValue();
            HostTensor t = done.get(v);
            if (t == null) {
                float[] d = data.get(v.storage().key());
                if (d == null) {
                    d = source.load(v.storage());
                    data.put(v.storage().key(), d);
                }
                t = gather(d, v);
                done.put(v, t);
            }
            out.put(e.getKey(), t);
        }
        return new StateDict(out);
    }

    /** A dense copy of the view (or the storage's own array when the view is all of it, in order). */
    private static HostTensor gather(float[] data, View v) {
        int r = v.dims().length;
        long offset = v.storage().base() + v.offset();
        boolean contiguous = true;
        long expect = 1;
        for (int i = r - 1; i >= 0; i--) {
            if (v.dims()[i] != 1 && v.strides()[i] != expect) contiguous = false;
            expect *= v.dims()[i];
        }
        Shape shape = Shape.of(v.dims());
        if (contiguous && offset == 0 && v.numel() == data.length) return new HostTensor(shape, data);
        float[] out = new float[(int) v.numel()];
        if (contiguous) {
            System.arraycopy(data, (int) offset, out, 0, out.length);
        } else {
            int[] idx = new int[r];
            for (int k = 0; k < out.length; k++) {
                long src = offset;
                for (int i = 0; i < r; i++) src += idx[i] * v.strides()[i];
                out[k] = data[(int) src];
                for (int i = r - 1; i >= 0; i--) {
                    if (++idx[i] < v.dims()[i]) break;
                    idx[i] = 0;
                }
            }
        }
        return new HostTensor(shape, out);
    }

    /** Reads from a stream-like source into {@code buf[off, off+len)}; -1 at the end. */
    private interface Chunks {
        int read(byte[] buf, int off, int len) throws IOException;
    }

    /** Reads a storage's raw little-endian bytes in chunks and converts them to float32. */
    private static float[] decode(Path file, StorageRef s, Chunks in) throws IOException {
        int es = s.elementSize();
        int n = (int) s.numel();
        float[] f = new float[n];
        byte[] chunk = new byte[es * 16384];
        ByteBuffer b = ByteBuffer.wrap(chunk).order(ByteOrder.LITTLE_ENDIAN);
        int done = 0;
        while (done < n) {
            int want = Math.min(n - done, chunk.length / es) * es, got = 0;
            while (got < want) {
                int r;
                try {
                    r = in.read(chunk, got, want - got);
                } catch (EOFException e) {
                    r = -1;
                }
                if (r < 0) throw new IOException(file + ": storage " + s.key() + " is truncated (" + ((long) done * es + got) + " of " + (long) n * es + " bytes)");
                got += r;
            }
            int k = want / es;
            for (int i = 0; i < k; i++) f[done + i] = element(b, s.type(), i * es);
            done += k;
        }
        return f;
    }

    private static float element(ByteBuffer b, String type, int at) {
        return switch (type) {
            case "FloatStorage" -> b.getFloat(at);
            case "HalfStorage" -> Safetensors.halfToFloat(b.getShort(at));
            case "BFloat16Storage" -> Float.intBitsToFloat((b.getShort(at) & 0xffff) << 16);
            case "DoubleStorage" -> (float) b.getDouble(at);
            case "LongStorage" -> (float) b.getLong(at);
            case "IntStorage" -> (float) b.getInt(at);
            case "ShortStorage" -> (float) b.getShort(at);
            case "CharStorage" -> (float) b.get(at);
            case "ByteStorage", "BoolStorage" -> (float) (b.get(at) & 0xff);
            default -> throw new IllegalStateException("element size known but type not: " + type);
        };
    }

    static int elementSize(String type) {
        return switch (type) {
            case "FloatStorage", "IntStorage" -> 4;
            case "HalfStorage", "BFloat16Storage", "ShortStorage" -> 2;
            case "DoubleStorage", "LongStorage" -> 8;
            case "ByteStorage", "CharStorage", "BoolStorage" -> 1;
            default -> -1;
        };
    }

    /** Unwraps {"model"|"teacher"|"state_dict"|"model_state_dict"|"module"|"student": {...}} down to the tensors. */
    static Object unwrap(Object root) {
        Object cur = root;
        for (int depth = 0; depth < 4; depth++) {
            if (!(cur instanceof Map<?, ?> m)) return cur;
            boolean hasTensors = false;
            for (Object v : m.values()) if (v instanceof View || v instanceof HostTensor) { hasTensors = true; break; }
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

    /**
     * The tensors under {@code root} with dotted names, depth-first in dict order. Each dict may be
     * reached once (a dict reached twice is a shared or self-referential structure: refused), at
     * most {@link #MAX_NESTING} deep, names at most {@link #MAX_NAME} characters: linear in the
     * pickle, without recursion.
     */
    private static void flatten(Path file, Map<?, ?> root, Map<String, View> out) throws IOException {
        record Frame(String prefix, java.util.Iterator<? extends Map.Entry<?, ?>> it, int depth) { }
        Set<Object> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        seen.add(root);
        ArrayDeque<Frame> stack = new ArrayDeque<>();
        stack.push(new Frame("", root.entrySet().iterator(), 1));
        while (!stack.isEmpty()) {
            Frame f = stack.peek();
            if (!f.it().hasNext()) { stack.pop(); continue; }
            Map.Entry<?, ?> e = f.it().next();
            Object v = e.getValue();
            if (!(v instanceof View) && !(v instanceof Map)) continue;
            String key = e.getKey() instanceof String s ? s : e.getKey() instanceof Long l ? Long.toString(l) : null;
            if (key == null) continue; // tuple, float or None keys name no tensor
            if (f.prefix().length() + key.length() > MAX_NAME)
                throw new IOException(file + ": a tensor name is longer than " + MAX_NAME + " characters (" + Untrusted.quoted(f.prefix() + key) + ")");
            String name = f.prefix() + key;
            if (v instanceof View t) {
                out.put(name, t);
            } else {
                Map<?, ?> inner = (Map<?, ?>) v;
                if (!seen.add(inner))
                    throw new IOException(file + ": the dict at " + Untrusted.quoted(name) + " appears more than once (a shared or self-referential structure)");
                if (f.depth() >= MAX_NESTING) throw new IOException(file + ": dicts nest more than " + MAX_NESTING + " levels deep");
                stack.push(new Frame(name + ".", inner.entrySet().iterator(), f.depth() + 1));
            }
        }
    }

    // ------------------------------------------------------------------ errors

    private static void readFully(Path file, FileChannel ch, ByteBuffer b, long pos) throws IOException {
        while (b.hasRemaining()) {
            int r = ch.read(b, pos);
            if (r < 0) throw new IOException(file + ": the file ends early (truncated?)");
            pos += r;
        }
    }

    /** The exception if its message already names the file on one line, else one that does. */
    private static IOException named(Path file, IOException e) {
        String m = e.getMessage();
        if (m != null && m.startsWith(file.toString()) && m.indexOf('\n') < 0 && m.indexOf('\r') < 0) return e;
        return new IOException(file + ": cannot read (" + reason(e) + ")", e);
    }

    private static String reason(Throwable e) {
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : Untrusted.message(m);
    }
}
