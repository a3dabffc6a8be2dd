package dinoseg.io;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A restricted unpickler for what {@code torch.save} writes: the opcodes of pickle protocols 2–4
 * that build plain data (dicts, lists, tuples, strings, numbers), persistent ids for tensor
 * storages, and calls to a fixed list of globals: {@code collections.OrderedDict},
 * {@code torch._utils._rebuild_tensor_v2}, {@code torch._utils._rebuild_tensor},
 * {@code torch._utils._rebuild_parameter} and the storage types. Every other global is refused
 * with an error; nothing is ever executed. The caller turns storages and tensor rebuilds into
 * values through a {@link Resolver}.
 */
public final class Unpickler {
    /** Thrown for anything the restricted unpickler will not or cannot read. */
    public static final class PickleException extends Exception {
        public PickleException(String message) { super(message); }
    }

    /** A reference to a global that was allowed (e.g. a storage type or OrderedDict). */
    public record Global(String module, String name) {
        public String qualified() { return module + "." + name; }
    }

    /** A Python tuple. */
    public record Tuple(List<Object> items) { }

    /** Python's None. */
    public static final Object NONE = new Object() {
        @Override public String toString() { return "None"; }
    };

    /** Turns persistent ids and tensor rebuilds into values. */
    public interface Resolver {
        Object persistentLoad(Object pid) throws PickleException;

        /** {@code _rebuild_tensor_v2(storage, offset, size, stride, ...)} and {@code _rebuild_tensor}. */
        Object rebuildTensor(Object storage, long offset, List<Object> size, List<Object> stride) throws PickleException;
    }

    public static final Set<String> ALLOWED_GLOBALS = Set.of(
            "collections.OrderedDict",
            "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor", "torch._utils._rebuild_parameter",
            "torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.DoubleStorage",
            "torch.LongStorage", "torch.IntStorage");

    private static final Object MARK = new Object();
    private static final int MAX_DEPTH_ITEMS = 50_000_000;

    private final byte[] buf;
    private int pos;
    private final Resolver resolver;
    private final ArrayList<Object> stack = new ArrayList<>();
    private final ArrayList<Integer> marks = new ArrayList<>();
    private final Map<Long, Object> memo = new HashMap<>();

    public Unpickler(byte[] data, Resolver resolver) {
        this.buf = data;
        this.resolver = resolver;
    }

    /** Runs the pickle program to its STOP and returns the top value. */
    public Object load() throws PickleException {
        while (true) {
            if (pos >= buf.length) throw err("pickle ends without STOP");
            int at = pos;
            int op = buf[pos++] & 0xff;
            switch (op) {
                case 0x80 -> { int proto = u8(); if (proto > 5) throw err("unsupported pickle protocol " + proto); }
                case 0x95 -> need(8, "FRAME").skip(8);
                case '.' -> {
                    if (stack.size() != 1) throw err("pickle stops with " + stack.size() + " values on the stack");
                    return stack.get(0);
                }
                case '}' -> push(new LinkedHashMap<>());
                case ']' -> push(new ArrayList<>());
                case ')' -> push(new Tuple(List.of()));
                case '(' -> { marks.add(stack.size()); }
                case 'N' -> push(NONE);
                case 0x88 -> push(Boolean.TRUE);
                case 0x89 -> push(Boolean.FALSE);
                case 'J' -> push((long) i32());
                case 'K' -> push((long) u8());
                case 'M' -> push((long) u16());
                case 0x8a -> push(long1());
                case 'G' -> { need(8, "BINFLOAT"); long bits = 0; for (int i = 0; i < 8; i++) bits = (bits << 8) | (buf[pos++] & 0xff); push(Double.longBitsToDouble(bits)); }
                case 'X' -> push(utf8(u32len()));
                case 0x8c -> push(utf8(u8()));
                case 0x8d -> push(utf8(u64len()));
                case 'T' -> push(latin1(u32len()));
                case 'U' -> push(latin1(u8()));
                case 'B' -> push(bytes(u32len()));
                case 'C' -> push(bytes(u8()));
                case 'q' -> memo.put((long) u8(), peek());
                case 'r' -> memo.put(u32(), peek());
                case 0x94 -> memo.put((long) memo.size(), peek());
                case 'h' -> push(memoGet(u8()));
                case 'j' -> push(memoGet(u32()));
                case '0' -> pop();
                case '2' -> push(peek());
                case '1' -> popMark();
                case 'c' -> {
                    String module = line(), name = line();
                    push(global(module, name));
                }
                case 0x93 -> {
                    Object name = pop(), module = pop();
                    if (!(module instanceof String m) || !(name instanceof String n)) throw err("STACK_GLOBAL needs two strings");
                    push(global(m, n));
                }
                case 't' -> push(new Tuple(popMark()));
                case 0x85 -> push(new Tuple(List.of(pop())));
                case 0x86 -> { Object b = pop(), a = pop(); push(new Tuple(List.of(a, b))); }
                case 0x87 -> { Object c = pop(), b = pop(), a = pop(); push(new Tuple(List.of(a, b, c))); }
                case 'l' -> push(new ArrayList<>(popMark()));
                case 'd' -> {
                    List<Object> items = popMark();
                    Map<Object, Object> m = new LinkedHashMap<>();
                    putPairs(m, items);
                    push(m);
                }
                case 'a' -> { Object v = pop(); list(peek()).add(v); }
                case 'e' -> { List<Object> items = popMark(); list(peek()).addAll(items); }
                case 's' -> { Object v = pop(), k = pop(); map(peek()).put(key(k), v); }
                case 'u' -> { List<Object> items = popMark(); putPairs(map(peek()), items); }
                case 'Q' -> push(resolver.persistentLoad(pop()));
                case 'R' -> { Object args = pop(), fn = pop(); push(reduce(fn, args)); }
                case 'b' -> {
                    pop(); // state: OrderedDict metadata or parameter attributes; not needed
                    Object target = peek();
                    if (!(target instanceof Map) && !(target instanceof HostTensor))
                        throw err("BUILD on an unsupported object " + describe(target));
                }
                default -> throw err(String.format("unsupported pickle opcode 0x%02x at byte %d", op, at));
            }
            if (stack.size() > MAX_DEPTH_ITEMS) throw err("pickle stack grows beyond " + MAX_DEPTH_ITEMS + " values");
        }
    }

    private Object global(String module, String name) throws PickleException {
        String q = module + "." + name;
        if (!ALLOWED_GLOBALS.contains(q))
            throw err("refuses the pickle global " + q + " (only tensors and ordered dicts may be loaded; nothing is executed)");
        return new Global(module, name);
    }

    private Object reduce(Object fn, Object args) throws PickleException {
        if (!(fn instanceof Global g)) throw err("REDUCE on a non-callable " + describe(fn));
        if (!(args instanceof Tuple t)) throw err("REDUCE arguments are not a tuple for " + g.qualified());
        List<Object> a = t.items();
        switch (g.qualified()) {
            case "collections.OrderedDict" -> {
                Map<Object, Object> m = new LinkedHashMap<>();
                if (a.size() == 1 && a.get(0) instanceof List<?> pairs) {
                    for (Object p : pairs) {
                        if (!(p instanceof Tuple pt) || pt.items().size() != 2) throw err("OrderedDict items are not pairs");
                        m.put(key(pt.items().get(0)), pt.items().get(1));
                    }
                } else if (!a.isEmpty()) throw err("OrderedDict called with unsupported arguments");
                return m;
            }
            case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor" -> {
                if (a.size() < 4) throw err(g.qualified() + " needs at least 4 arguments, got " + a.size());
                if (!(a.get(1) instanceof Long off)) throw err(g.qualified() + ": storage offset is not an integer");
                return resolver.rebuildTensor(a.get(0), off, tupleOrList(a.get(2), "size"), tupleOrList(a.get(3), "stride"));
            }
            case "torch._utils._rebuild_parameter" -> {
                if (a.isEmpty() || !(a.get(0) instanceof HostTensor)) throw err("_rebuild_parameter without a tensor");
                return a.get(0);
            }
            default -> throw err("refuses to call " + g.qualified());
        }
    }

    private List<Object> tupleOrList(Object o, String what) throws PickleException {
        if (o instanceof Tuple t) return t.items();
        if (o instanceof List<?> l) return new ArrayList<>(l);
        throw err("tensor " + what + " is not a tuple");
    }

    private void putPairs(Map<Object, Object> m, List<Object> items) throws PickleException {
        if (items.size() % 2 != 0) throw err("odd number of dict items");
        for (int i = 0; i < items.size(); i += 2) m.put(key(items.get(i)), items.get(i + 1));
    }

    private Object key(Object k) throws PickleException {
        if (k instanceof String || k instanceof Long || k instanceof Boolean || k instanceof Double || k == NONE) return k;
        if (k instanceof Tuple) return k;
        throw err("unsupported dict key " + describe(k));
    }

    @SuppressWarnings("unchecked")
    private List<Object> list(Object o) throws PickleException {
        if (o instanceof ArrayList<?> l) return (List<Object>) l;
        throw err("APPEND to a non-list " + describe(o));
    }

    @SuppressWarnings("unchecked")
    private Map<Object, Object> map(Object o) throws PickleException {
        if (o instanceof Map<?, ?> m) return (Map<Object, Object>) m;
        throw err("SETITEM on a non-dict " + describe(o));
    }

    private static String describe(Object o) {
        if (o == null) return "null";
        if (o instanceof Global g) return g.qualified();
        return o.getClass().getSimpleName();
    }

    // ------------------------------------------------------------------ stack

    private void push(Object o) { stack.add(o); }

    private Object pop() throws PickleException {
        if (stack.isEmpty() || (!marks.isEmpty() && marks.get(marks.size() - 1) == stack.size())) throw err("pickle stack underflow at byte " + pos);
        return stack.remove(stack.size() - 1);
    }

    private Object peek() throws PickleException {
        if (stack.isEmpty()) throw err("pickle stack empty at byte " + pos);
        return stack.get(stack.size() - 1);
    }

    private List<Object> popMark() throws PickleException {
        if (marks.isEmpty()) throw err("pickle has no MARK to pop at byte " + pos);
        int m = marks.remove(marks.size() - 1);
        if (m > stack.size()) throw err("pickle MARK beyond the stack at byte " + pos);
        List<Object> items = new ArrayList<>(stack.subList(m, stack.size()));
        while (stack.size() > m) stack.remove(stack.size() - 1);
        return items;
    }

    private Object memoGet(long k) throws PickleException {
        Object o = memo.get(k);
        if (o == null) throw err("pickle refers to memo entry " + k + " that was never stored");
        return o;
    }

    // ------------------------------------------------------------------ reading

    private Unpickler need(long n, String what) throws PickleException {
        if (n < 0 || n > buf.length - pos) throw err(what + " needs " + n + " bytes but only " + (buf.length - pos) + " remain");
        return this;
    }

    private void skip(int n) { pos += n; }

    private int u8() throws PickleException { need(1, "opcode argument"); return buf[pos++] & 0xff; }

    private int u16() throws PickleException { need(2, "opcode argument"); int v = (buf[pos] & 0xff) | (buf[pos + 1] & 0xff) << 8; pos += 2; return v; }

    private int i32() throws PickleException {
        need(4, "opcode argument");
        int v = (buf[pos] & 0xff) | (buf[pos + 1] & 0xff) << 8 | (buf[pos + 2] & 0xff) << 16 | (buf[pos + 3] & 0xff) << 24;
        pos += 4;
        return v;
    }

    private long u32() throws PickleException { return i32() & 0xffffffffL; }

    private int u32len() throws PickleException {
        long n = u32();
        need(n, "string");
        return (int) n;
    }

    private int u64len() throws PickleException {
        need(8, "opcode argument");
        long n = 0;
        for (int i = 7; i >= 0; i--) n = (n << 8) | (buf[pos + i] & 0xff);
        pos += 8;
        need(n, "string");
        return (int) n;
    }

    private long long1() throws PickleException {
        int n = u8();
        need(n, "LONG1");
        if (n > 8) throw err("integer of " + n + " bytes is too large");
        long v = 0;
        for (int i = n - 1; i >= 0; i--) v = (v << 8) | (buf[pos + i] & 0xff);
        if (n > 0 && n < 8 && (buf[pos + n - 1] & 0x80) != 0) v -= 1L << (8 * n);
        pos += n;
        return v;
    }

    private String utf8(int n) throws PickleException {
        need(n, "string");
        String s = new String(buf, pos, n, StandardCharsets.UTF_8);
        pos += n;
        return s;
    }

    private String latin1(int n) throws PickleException {
        need(n, "string");
        String s = new String(buf, pos, n, StandardCharsets.ISO_8859_1);
        pos += n;
        return s;
    }

    private byte[] bytes(int n) throws PickleException {
        need(n, "bytes");
        byte[] b = java.util.Arrays.copyOfRange(buf, pos, pos + n);
        pos += n;
        return b;
    }

    private String line() throws PickleException {
        int start = pos;
        while (pos < buf.length && buf[pos] != '\n') {
            if (pos - start > 512) throw err("GLOBAL name longer than 512 bytes");
            pos++;
        }
        if (pos >= buf.length) throw err("GLOBAL name is not terminated");
        String s = new String(buf, start, pos - start, StandardCharsets.UTF_8);
        pos++;
        return s;
    }

    private PickleException err(String m) { return new PickleException(m); }
}
