package dinoseg.io;

import java.math.BigInteger;
import java.nio.ByteBuffer;
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
 * {@code torch._utils._rebuild_parameter} and the storage types. The metadata that training
 * frameworks store beside the weights (mmcv's {@code meta}: numpy scalars and arrays, whose
 * protocol-2 form also calls {@code _codecs.encode}) may name a few more globals,
 * {@link #INERT_GLOBALS}: a call of one of those is not made either, it yields an {@link Opaque}
 * placeholder that holds nothing and is never a tensor. Every other global is refused with an
 * error; nothing is ever executed. The caller turns storages and tensor rebuilds into values
 * through a {@link Resolver}.
 *
 * <p>Hostile pickles cannot make it loop, recurse or allocate beyond the size of its input: every
 * opcode consumes input bytes, the work of opcodes that copy or hash several values is charged to a
 * budget proportional to the pickle's length ({@link #workBudget}), the stack and the memo are
 * capped, dict keys are limited to strings, numbers and small flat tuples of those (so hashing is
 * constant-time and cannot recurse into a cycle), and no error message ever prints an unpickled
 * object or more than a sanitized, truncated name ({@link Untrusted}). The objects it builds may
 * still be cyclic or shared (a list appended to itself): callers must not traverse them without
 * their own depth and visited bounds.
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

    /**
     * What a call of one of the {@link #INERT_GLOBALS} yields instead of running it: the name of
     * the callable only (numpy metadata in a checkpoint is not needed to read its tensors).
     */
    public record Opaque(String callable) {
        @Override public String toString() { return "opaque " + callable; }
    }

    /** A Python tuple. Its string form is a size only: items may be cyclic or huge. */
    public record Tuple(List<Object> items) {
        @Override public String toString() { return "tuple of " + items.size() + " items"; }
    }

    /** Python's None. */
    public static final Object NONE = new Object() {
        @Override public String toString() { return "None"; }
    };

    /** Turns persistent ids and tensor rebuilds into values. */
    public interface Resolver {
        Object persistentLoad(Object pid) throws PickleException;

        /** {@code _rebuild_tensor_v2(storage, offset, size, stride, ...)} and {@code _rebuild_tensor}. */
        Object rebuildTensor(Object storage, long offset, List<Object> size, List<Object> stride) throws PickleException;

        /** Whether {@code o} is a value {@link #rebuildTensor} returned (BUILD and _rebuild_parameter accept only those). */
        default boolean isTensor(Object o) { return o instanceof HostTensor; }
    }

    public static final Set<String> ALLOWED_GLOBALS = Set.of(
            "collections.OrderedDict",
            "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor", "torch._utils._rebuild_parameter",
            "torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.DoubleStorage",
            "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage", "torch.ByteStorage",
            "torch.BoolStorage");

    /**
     * Globals that appear in checkpoint metadata (mmcv/mmseg {@code meta}, e.g. a numpy
     * {@code best_score}) and are accepted as inert: referencing and calling them builds an
     * {@link Opaque} placeholder and runs nothing (numpy ≥ 2 spells the module {@code numpy._core}).
     */
    public static final Set<String> INERT_GLOBALS = Set.of(
            "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
            "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
            "numpy.dtype", "numpy.ndarray", "_codecs.encode");

    /** Most values on the stack (a state dict's pickle holds a few per tensor). */
    static final int MAX_STACK = 1 << 22;
    /** Most memo entries. */
    static final int MAX_MEMO = 1 << 22;
    /** Most items of a tuple used as a dict key. */
    static final int MAX_KEY_TUPLE = 8;

    private final ByteBuffer buf;
    private final int start, end;
    private int pos;
    private final Resolver resolver;
    private final ArrayList<Object> stack = new ArrayList<>();
    private final ArrayList<Integer> marks = new ArrayList<>();
    private final Map<Long, Object> memo = new HashMap<>();
    private final long workBudget;
    private long work;

    public Unpickler(byte[] data, Resolver resolver) {
        this(ByteBuffer.wrap(data), 0, data.length, resolver);
    }

    /**
     * Reads the pickle that starts at byte {@code start} of {@code data} (absolute positions; the
     * buffer's position is not used), ending at or before {@code end}. Several pickles written one
     * after the other (PyTorch's legacy format) are read by starting the next at {@link #position()}.
     */
    public Unpickler(ByteBuffer data, int start, int end, Resolver resolver) {
        if (start < 0 || end > data.limit() || start > end) throw new IllegalArgumentException("pickle range " + start + ".." + end + " outside the buffer");
        this.buf = data;
        this.pos = start;
        this.start = start;
        this.end = end;
        this.resolver = resolver;
        this.workBudget = workBudget(end - start);
    }

    /**
     * The work a pickle of {@code length} bytes may do: one unit per opcode plus one per value an
     * opcode copies, hashes or iterates. A real pickle does about one unit per byte.
     */
    static long workBudget(long length) { return 2 * length + (1 << 16); }

    /** The byte after the STOP opcode once {@link #load} returned. */
    public int position() { return pos; }

    /** Runs the pickle program to its STOP and returns the top value. */
    public Object load() throws PickleException {
        while (true) {
            if (pos >= end) throw err("pickle ends without STOP");
            if (++work > workBudget) throw err("pickle does more work than its " + (end - start) + " bytes allow (a hostile or corrupt file)");
            int at = pos;
            int op = buf.get(pos++) & 0xff;
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
                case 'G' -> { need(8, "BINFLOAT"); long bits = 0; for (int i = 0; i < 8; i++) bits = (bits << 8) | (buf.get(pos++) & 0xff); push(Double.longBitsToDouble(bits)); }
                case 'X' -> push(utf8(u32len()));
                case 0x8c -> push(utf8(u8()));
                case 0x8d -> push(utf8(u64len()));
                case 'T' -> push(latin1(u32len()));
                case 'U' -> push(latin1(u8()));
                case 'B' -> push(bytes(u32len()));
                case 'C' -> push(bytes(u8()));
                case 'q' -> memoPut(u8());
                case 'r' -> memoPut(u32());
                case 0x94 -> memoPut(memo.size());
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
                case 'e' -> { List<Object> items = popMark(); charge(items.size()); list(peek()).addAll(items); }
                case 's' -> { Object v = pop(), k = pop(); map(peek()).put(key(k), v); }
                case 'u' -> { List<Object> items = popMark(); putPairs(map(peek()), items); }
                case 'Q' -> push(resolver.persistentLoad(pop()));
                case 'R' -> { Object args = pop(), fn = pop(); push(reduce(fn, args)); }
                case 'b' -> {
                    pop(); // state: OrderedDict metadata, parameter attributes or numpy state; not needed
                    Object target = peek();
                    if (!(target instanceof Map) && !(target instanceof Opaque) && !resolver.isTensor(target))
                        throw err("BUILD on an unsupported object " + describe(target));
                }
                default -> throw err(String.format("unsupported pickle opcode 0x%02x at byte %d", op, at));
            }
            if (stack.size() > MAX_STACK) throw err("pickle stack grows beyond " + MAX_STACK + " values");
        }
    }

    private void charge(long units) throws PickleException {
        work += units;
        if (work > workBudget) throw err("pickle does more work than its " + (end - start) + " bytes allow (a hostile or corrupt file)");
    }

    private void memoPut(long k) throws PickleException {
        Object v = peek();
        if (memo.put(k, v) == null && memo.size() > MAX_MEMO) throw err("pickle memo grows beyond " + MAX_MEMO + " entries");
    }

    private Object global(String module, String name) throws PickleException {
        String q = module + "." + name;
        if (!ALLOWED_GLOBALS.contains(q) && !INERT_GLOBALS.contains(q))
            throw err("refuses the pickle global " + Untrusted.text(q) + " (only tensors and ordered dicts may be loaded; nothing is executed)");
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
                    charge(pairs.size());
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
                if (a.isEmpty() || !resolver.isTensor(a.get(0))) throw err("_rebuild_parameter without a tensor");
                return a.get(0);
            }
            default -> {
                if (INERT_GLOBALS.contains(g.qualified())) { charge(a.size()); return new Opaque(g.qualified()); }
                throw err("refuses to call " + g.qualified());
            }
        }
    }

    private List<Object> tupleOrList(Object o, String what) throws PickleException {
        if (o instanceof Tuple t) { charge(t.items().size()); return t.items(); }
        if (o instanceof List<?> l) { charge(l.size()); return new ArrayList<>(l); }
        throw err("tensor " + what + " is not a tuple");
    }

    private void putPairs(Map<Object, Object> m, List<Object> items) throws PickleException {
        if (items.size() % 2 != 0) throw err("odd number of dict items");
        charge(items.size());
        for (int i = 0; i < items.size(); i += 2) m.put(key(items.get(i)), items.get(i + 1));
    }

    private Object key(Object k) throws PickleException {
        if (atom(k)) return k;
        if (k instanceof Tuple t) {
            // flat tuples of atoms only: hashing them is bounded and cannot recurse into a cycle
            if (t.items().size() > MAX_KEY_TUPLE) throw err("dict key is a tuple of " + t.items().size() + " items (at most " + MAX_KEY_TUPLE + " supported)");
            for (Object o : t.items()) if (!atom(o)) throw err("dict key is a tuple holding " + describe(o));
            charge(t.items().size());
            return k;
        }
        throw err("unsupported dict key " + describe(k));
    }

    private static boolean atom(Object k) {
        return k instanceof String || k instanceof Long || k instanceof Boolean || k instanceof Double || k == NONE;
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

    /** What kind of value {@code o} is, never its contents (which may be cyclic, huge or hostile text). */
    static String describe(Object o) {
        if (o == null) return "null";
        if (o == NONE) return "None";
        if (o instanceof Global g) return Untrusted.text(g.qualified());
        if (o instanceof String) return "a string";
        if (o instanceof Long || o instanceof BigInteger) return "an integer";
        if (o instanceof Double) return "a float";
        if (o instanceof Boolean) return "a bool";
        if (o instanceof Tuple) return "a tuple";
        if (o instanceof List) return "a list";
        if (o instanceof Map) return "a dict";
        if (o instanceof byte[]) return "bytes";
        return "a " + o.getClass().getSimpleName();
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
        stack.subList(m, stack.size()).clear();
        return items;
    }

    private Object memoGet(long k) throws PickleException {
        Object o = memo.get(k);
        if (o == null) throw err("pickle refers to memo entry " + k + " that was never stored");
        return o;
    }

    // ------------------------------------------------------------------ reading

    private Unpickler need(long n, String what) throws PickleException {
        if (n < 0 || n > end - pos) throw err(what + " needs " + n + " bytes but only " + (end - pos) + " remain");
        return this;
    }

    private void skip(int n) { pos += n; }

    private int b(int i) { return buf.get(i) & 0xff; }

    private int u8() throws PickleException { need(1, "opcode argument"); return b(pos++); }

    private int u16() throws PickleException { need(2, "opcode argument"); int v = b(pos) | b(pos + 1) << 8; pos += 2; return v; }

    private int i32() throws PickleException {
        need(4, "opcode argument");
        int v = b(pos) | b(pos + 1) << 8 | b(pos + 2) << 16 | b(pos + 3) << 24;
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
        for (int i = 7; i >= 0; i--) n = (n << 8) | b(pos + i);
        pos += 8;
        need(n, "string");
        return (int) n;
    }

    /** LONG1: up to 8 bytes as a Long; 9 to 16 bytes (e.g. PyTorch's legacy magic number) as a BigInteger. */
    private Object long1() throws PickleException {
        int n = u8();
        need(n, "LONG1");
        if (n > 16) throw err("integer of " + n + " bytes is too large");
        if (n > 8) {
            byte[] be = new byte[n];
            for (int i = 0; i < n; i++) be[i] = buf.get(pos + n - 1 - i);
            pos += n;
            return new BigInteger(be);
        }
        long v = 0;
        for (int i = n - 1; i >= 0; i--) v = (v << 8) | b(pos + i);
        if (n > 0 && n < 8 && (b(pos + n - 1) & 0x80) != 0) v -= 1L << (8 * n);
        pos += n;
        return v;
    }

    private String utf8(int n) throws PickleException { return new String(bytes(n), StandardCharsets.UTF_8); }

    private String latin1(int n) throws PickleException { return new String(bytes(n), StandardCharsets.ISO_8859_1); }

    private byte[] bytes(int n) throws PickleException {
        need(n, "bytes");
        byte[] b = new byte[n];
        buf.get(pos, b);
        pos += n;
        return b;
    }

    private String line() throws PickleException {
        int start = pos;
        while (pos < end && buf.get(pos) != '\n') {
            if (pos - start > 512) throw err("GLOBAL name longer than 512 bytes");
            pos++;
        }
        if (pos >= end) throw err("GLOBAL name is not terminated");
        byte[] b = new byte[pos - start];
        buf.get(start, b);
        pos++;
        return new String(b, StandardCharsets.UTF_8);
    }

    private PickleException err(String m) { return new PickleException(m); }
}
