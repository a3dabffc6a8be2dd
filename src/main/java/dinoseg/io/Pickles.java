package dinoseg.io;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Pickle bytes as a list of opcodes with their arguments, for {@link WeightFuzzer}: a disassembler
 * (opcode lengths of protocols 2–5), a small writer of the opcodes torch.save uses, and
 * structure-aware mutations (opcode and argument changes, memo references, splices, truncation,
 * and injected hostile structures set into the root dict just before STOP).
 */
final class Pickles {
    private Pickles() { }

    record Mutated(byte[] bytes, String what) { }

    /** Length of the opcode at {@code i} with its arguments, or -1 when unknown or cut off. */
    static int opLength(byte[] b, int i) {
        if (i >= b.length) return -1;
        int op = b[i] & 0xff;
        long n = switch (op) {
            case '}', ']', ')', '(', 'N', 0x88, 0x89, '.', '0', '2', '1', 't', 0x85, 0x86, 0x87, 'l', 'd', 'a', 'e', 's', 'u',
                 'Q', 'R', 'b', 0x93, 0x94 -> 1;
            case 'K', 'q', 'h', 0x80 -> 2;
            case 'M' -> 3;
            case 'J', 'r', 'j' -> 5;
            case 'G', 0x95 -> 9;
            case 'X', 'T', 'B' -> i + 5 <= b.length ? 5 + (u32(b, i + 1)) : -1;
            case 0x8c, 'U', 'C', 0x8a -> i + 2 <= b.length ? 2 + (b[i + 1] & 0xff) : -1;
            case 0x8d -> {
                if (i + 9 > b.length) yield -1;
                long v = 0;
                for (int k = 8; k >= 1; k--) v = (v << 8) | (b[i + k] & 0xff);
                yield v < 0 || v > b.length ? -1 : 9 + v;
            }
            case 'c' -> {
                int nl = 0, j = i + 1;
                while (j < b.length && nl < 2) if (b[j++] == '\n') nl++;
                yield nl == 2 ? j - i : -1;
            }
            default -> -1;
        };
        return n < 0 || i + n > b.length ? -1 : (int) n;
    }

    private static long u32(byte[] b, int i) {
        return (b[i] & 0xffL) | (b[i + 1] & 0xffL) << 8 | (b[i + 2] & 0xffL) << 16 | (b[i + 3] & 0xffL) << 24;
    }

    /** The byte after the STOP of the pickle starting at {@code start}, or -1. */
    static int end(byte[] b, int start) {
        int i = start;
        while (i < b.length) {
            int n = opLength(b, i);
            if (n < 0) return -1;
            if (b[i] == '.') return i + 1;
            i += n;
        }
        return -1;
    }

    /** The opcodes of a pickle as [start, end) ranges; an unknown tail is one range. */
    static List<int[]> ops(byte[] b) {
        List<int[]> out = new ArrayList<>();
        int i = 0;
        while (i < b.length) {
            int n = opLength(b, i);
            if (n < 0) { out.add(new int[]{i, b.length}); break; }
            out.add(new int[]{i, i + n});
            i += n;
        }
        return out;
    }

    /** A JSON string literal (for the safetensors mutations). */
    static String jsonString(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    // ------------------------------------------------------------------ writer

    /** Appends opcodes. */
    static final class W {
        final ByteArrayOutputStream o = new ByteArrayOutputStream();

        W op(int c) { o.write(c); return this; }

        W raw(byte[] b) { o.writeBytes(b); return this; }

        W str(String s) {
            byte[] u = s.getBytes(StandardCharsets.UTF_8);
            op('X');
            le(u.length, 4);
            o.writeBytes(u);
            return this;
        }

        W integer(long v) {
            if (v >= 0 && v < 256) return op('K').op((int) v);
            if (v >= 0 && v < 65536) { op('M'); le(v, 2); return this; }
            if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) { op('J'); le(v, 4); return this; }
            op(0x8a).op(8);
            le(v, 8);
            return this;
        }

        W global(String module, String name) { op('c'); o.writeBytes((module + "\n" + name + "\n").getBytes(StandardCharsets.UTF_8)); return this; }

        W put(long k) { op('r'); le(k, 4); return this; }

        W get(long k) { op('j'); le(k, 4); return this; }

        void le(long v, int n) { for (int i = 0; i < n; i++) o.write((int) (v >>> (8 * i)) & 0xff); }

        /** _rebuild_tensor_v2((storage pid), offset, size, stride, False, OrderedDict()). */
        W tensor(Storage s, long offset, long[] size, long[] stride) {
            global("torch._utils", "_rebuild_tensor_v2").op('(');
            op('(').str("storage").global("torch", s.type()).str(s.key()).str("cpu").integer(s.numel()).op('N').op('t').op('Q');
            integer(offset).op('(');
            for (long d : size) integer(d);
            op('t').op('(');
            for (long d : stride) integer(d);
            op('t').op(0x89).global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
            return this;
        }

        byte[] bytes() { return o.toByteArray(); }
    }

    /** The first storage a pickle declares (type, key, element count), if it can be found. */
    record Storage(String type, String key, long numel) { }

    static Storage firstStorage(byte[] b, List<int[]> ops) {
        for (int k = 0; k < ops.size(); k++) {
            int[] r = ops.get(k);
            if (b[r[0]] != 'c') continue;
            String g = new String(b, r[0] + 1, r[1] - r[0] - 1, StandardCharsets.UTF_8);
            if (!g.startsWith("torch\n") || !g.endsWith("Storage\n")) continue;
            List<Object> vals = new ArrayList<>();
            for (int j = k + 1; j < ops.size() && vals.size() < 3; j++) {
                int[] q = ops.get(j);
                int op = b[q[0]] & 0xff;
                if (op == 'q' || op == 'r' || op == 0x94) continue;
                if (op == 'X') vals.add(new String(b, q[0] + 5, q[1] - q[0] - 5, StandardCharsets.UTF_8));
                else if (op == 0x8c) vals.add(new String(b, q[0] + 2, q[1] - q[0] - 2, StandardCharsets.UTF_8));
                else if (op == 'K') vals.add((long) (b[q[0] + 1] & 0xff));
                else if (op == 'M') vals.add((long) ((b[q[0] + 1] & 0xff) | (b[q[0] + 2] & 0xff) << 8));
                else if (op == 'J') vals.add(u32(b, q[0] + 1));
                else break;
            }
            if (vals.size() == 3 && vals.get(0) instanceof String key && vals.get(2) instanceof Long n)
                return new Storage(g.substring(6, g.length() - 1), key, n);
        }
        return null;
    }

    // ------------------------------------------------------------------ mutations

    private static final long[] BOUNDARY = {0, 1, -1, 2, 255, 256, 65535, 65536, Integer.MAX_VALUE, Integer.MIN_VALUE,
            1L << 31, (1L << 32) - 1, 1L << 32, 1L << 40, Long.MAX_VALUE, Long.MIN_VALUE, 6, 24};

    private static final String[] NAMES = {"\u001b[2J\u001b[31mpwned", "line\nbreak", "x".repeat(5000), "", "\u0000", "backbone.",
            "teacher.backbone.patch_embed.proj.weight", "student.backbone.patch_embed.proj.weight", "module.", "..", "\u00ff\u00fe"};

    /** One structure-aware mutation of a pickle. */
    static Mutated mutate(byte[] p, SplittableRandom rng) {
        List<int[]> ops = ops(p);
        if (ops.isEmpty()) return new Mutated(p, "empty");
        int kind = rng.nextInt(10);
        if (kind < 4) return inject(p, ops, rng);
        int k = rng.nextInt(ops.size());
        int[] r = ops.get(k);
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        String what;
        switch (kind) {
            case 4 -> { // replace an opcode (arguments kept: misaligned on purpose) or an integer argument
                List<Integer> ints = new ArrayList<>();
                for (int i = 0; i < ops.size(); i++) { int op = p[ops.get(i)[0]] & 0xff; if (op == 'K' || op == 'M' || op == 'J' || op == 0x8a) ints.add(i); }
                if (!ints.isEmpty() && rng.nextBoolean()) {
                    r = ops.get(ints.get(rng.nextInt(ints.size())));
                    long v = BOUNDARY[rng.nextInt(BOUNDARY.length)];
                    o.write(p, 0, r[0]);
                    o.writeBytes(new W().integer(v).bytes());
                    o.write(p, r[1], p.length - r[1]);
                    what = "integer " + v;
                } else {
                    byte[] c = p.clone();
                    int[] palette = {'}', ']', ')', '(', 'N', '.', '0', '2', '1', 't', 0x85, 0x86, 0x87, 'l', 'd', 'a', 'e', 's', 'u', 'Q', 'R',
                            'b', 0x93, 0x94, 'K', 'q', 'h', 'M', 'J', 'r', 'j', 'X', 0x8c, 0x8a, 'c', 0x95, 0x8d, 'G', rng.nextInt(256)};
                    c[r[0]] = (byte) palette[rng.nextInt(palette.length)];
                    return new Mutated(c, String.format("opcode 0x%02x", c[r[0]] & 0xff));
                }
            }
            case 5 -> { // a memo reference or DUP inserted
                o.write(p, 0, r[0]);
                if (rng.nextBoolean()) o.writeBytes(new byte[]{'2'});
                else o.writeBytes(new byte[]{'h', (byte) rng.nextInt(32)});
                o.write(p, r[0], p.length - r[0]);
                what = "memo reference";
            }
            case 6 -> { // splice: a range of opcodes repeated elsewhere
                int a = rng.nextInt(ops.size()), b = Math.min(ops.size() - 1, a + rng.nextInt(12));
                int from = ops.get(a)[0], to = ops.get(b)[1];
                o.write(p, 0, r[0]);
                int times = 1 + rng.nextInt(rng.nextInt(8) == 0 ? 2000 : 3);
                for (int t = 0; t < times; t++) o.write(p, from, to - from);
                o.write(p, r[0], p.length - r[0]);
                what = "splice x" + times;
            }
            case 7 -> { // a range deleted
                int b = Math.min(ops.size() - 1, k + rng.nextInt(6));
                o.write(p, 0, r[0]);
                o.write(p, ops.get(b)[1], p.length - ops.get(b)[1]);
                what = "delete";
            }
            case 8 -> { // cut at an opcode boundary
                o.write(p, 0, r[0]);
                what = "truncate";
            }
            default -> { // a string argument replaced (names, storage keys, globals)
                List<Integer> strs = new ArrayList<>();
                for (int i = 0; i < ops.size(); i++) if ((p[ops.get(i)[0]] & 0xff) == 'X') strs.add(i);
                if (strs.isEmpty()) return new Mutated(p, "no strings");
                r = ops.get(strs.get(rng.nextInt(strs.size())));
                o.write(p, 0, r[0]);
                o.writeBytes(new W().str(NAMES[rng.nextInt(NAMES.length)]).bytes());
                o.write(p, r[1], p.length - r[1]);
                what = "string";
            }
        }
        return new Mutated(o.toByteArray(), what);
    }

    /** A hostile (key, value) set into the root dict just before the final STOP. */
    private static Mutated inject(byte[] p, List<int[]> ops, SplittableRandom rng) {
        int[] last = ops.get(ops.size() - 1);
        if (p[last[0]] != '.') return new Mutated(p, "no STOP");
        Storage st = firstStorage(p, ops);
        W w = new W();
        String what;
        long memo = 1_000_000 + rng.nextInt(1000);
        int t = rng.nextInt(14);
        w.str("injected" + t);
        switch (t) {
            case 0 -> { // deeply nested dicts
                int n = new int[]{10, 70, 1000, 100_000}[rng.nextInt(4)];
                w.op('}');
                for (int i = 0; i < n; i++) w.str("k").op('}');
                for (int i = 0; i < n; i++) w.op('s');
                what = "nested dicts " + n;
            }
            case 1 -> { // deeply nested lists
                int n = new int[]{10, 1000, 100_000}[rng.nextInt(3)];
                for (int i = 0; i <= n; i++) w.op(']');
                for (int i = 0; i < n; i++) w.op('a');
                what = "nested lists " + n;
            }
            case 2 -> { w.op('}').put(memo).str("self").get(memo).op('s'); what = "self-referential dict"; }
            case 3 -> { w.op('}').str("l").op(']').put(memo).get(memo).op('a').op('s'); what = "self-referential list"; }
            case 4 -> { // dicts sharing sub-dicts: 2^n paths
                int n = new int[]{5, 20, 60}[rng.nextInt(3)];
                w.op('}').put(memo);
                for (int i = 1; i <= n; i++) w.op('}').op('(').str("a").get(memo + i - 1).str("b").get(memo + i - 1).op('u').put(memo + i);
                what = "shared dicts " + n;
            }
            case 5, 6 -> { // a huge or stride-0 view
                if (st == null) return new Mutated(p, "no storage");
                long[][] sizes = {{Integer.MAX_VALUE}, {1L << 20, 1L << 20}, {st.numel() + 1}, {st.numel()}, {0}, {65536, 65536}};
                long[] size = sizes[rng.nextInt(sizes.length)];
                long[] stride = new long[size.length];
                for (int i = 0; i < stride.length; i++) stride[i] = rng.nextBoolean() ? 0 : BOUNDARY[rng.nextInt(BOUNDARY.length)];
                w.tensor(st, rng.nextInt(3) == 0 ? BOUNDARY[rng.nextInt(BOUNDARY.length)] : 0, size, stride);
                what = "view " + java.util.Arrays.toString(size) + " stride " + java.util.Arrays.toString(stride);
            }
            case 7 -> { // many distinct views of one storage
                if (st == null) return new Mutated(p, "no storage");
                int n = new int[]{2, 50, 3000}[rng.nextInt(3)];
                w.op('}').op('(');
                for (int i = 0; i < n; i++) {
                    long len = 1 + rng.nextInt((int) Math.max(1, Math.min(st.numel(), 64)));
                    w.str("v" + i).tensor(st, 0, new long[]{len}, new long[]{rng.nextInt(2)});
                }
                w.op('u');
                what = "views x" + n;
            }
            case 8 -> { // a storage that declares more elements than the file holds
                if (st == null) return new Mutated(p, "no storage");
                Storage big = new Storage(st.type(), st.key() + (rng.nextBoolean() ? "" : "9"), new long[]{1L << 31, 1L << 40, Integer.MAX_VALUE, st.numel() * 1000}[rng.nextInt(4)]);
                w.tensor(big, 0, new long[]{4}, new long[]{1});
                what = "storage of " + big.numel();
            }
            case 9 -> { // memo bomb
                int n = new int[]{1000, 100_000}[rng.nextInt(2)];
                w.op('N');
                for (int i = 0; i < n; i++) w.put(rng.nextLong() & 0xffffffffL);
                what = "memo x" + n;
            }
            case 10 -> { // work bomb: OrderedDict over one memoized list of pairs, many times
                int m = new int[]{100, 20_000}[rng.nextInt(2)], k = new int[]{100, 20_000}[rng.nextInt(2)];
                w.op(']').put(memo).op('(');
                for (int i = 0; i < m; i++) w.str("a" + (i % 4)).integer(i).op(0x86);
                w.op('e').op('0');
                for (int i = 0; i < k; i++) w.global("collections", "OrderedDict").op('(').get(memo).op('t').op('R').op('0');
                w.op('N');
                what = "work " + m + "x" + k;
            }
            case 11 -> { w.global(rng.nextBoolean() ? "os" : "builtins", rng.nextBoolean() ? "system" : "eval").str("echo pwned").op(0x85).op('R'); what = "forbidden global"; }
            case 12 -> { // a valid tensor under a hostile name
                if (st == null) return new Mutated(p, "no storage");
                byte[] head = new W().str(NAMES[rng.nextInt(NAMES.length)]).bytes();
                w = new W().raw(head).tensor(st, 0, new long[]{1}, new long[]{1});
                what = "hostile name";
            }
            default -> { // a big tuple as a dict key
                int n = new int[]{3, 9, 100_000}[rng.nextInt(3)];
                w = new W().op('(');
                for (int i = 0; i < n; i++) w.integer(i);
                w.op('t').op('N');
                what = "tuple key " + n;
            }
        }
        w.op('s');
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        o.write(p, 0, last[0]);
        o.writeBytes(w.bytes());
        o.write(p, last[0], p.length - last[0]);
        return new Mutated(o.toByteArray(), "inject " + what);
    }
}
