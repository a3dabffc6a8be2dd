package dinoseg.io;

import dinoseg.tensor.Shape;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Brings backbone weights to the official DINOv2 names: finds the backbone wherever a wrapper put
 * it (by its patch embedding: {@code <prefix>patch_embed.proj.weight} or Hugging Face's
 * {@code <prefix>embeddings.patch_embeddings.projection.weight}, so {@code module.} (DDP),
 * {@code _orig_mod.} (torch.compile), {@code backbone.}, {@code model.}, Hugging Face's
 * {@code dinov2.} and DINOv2 training checkpoints' {@code teacher.backbone.} /
 * {@code student.backbone.} all work; with several backbones the teacher is taken, as DINOv2's
 * own evaluation does), un-chunks
 * {@code blocks.<chunk>.<i>.} (official training checkpoints with block chunks) and renames the
 * Hugging Face Dinov2 layout ({@code embeddings.*}, {@code encoder.layer.N.*}, {@code layernorm.*}),
 * concatenating query, key and value into {@code attn.qkv}.
 */
public final class WeightNames {
    private WeightNames() { }

    private static final Pattern HF_LAYER = Pattern.compile("encoder\\.layer\\.(\\d+)\\.(.+)");
    private static final Pattern CHUNKED = Pattern.compile("blocks\\.(\\d+)\\.(\\d+)\\.(.+)");

    /** True when the names are Hugging Face's Dinov2 layout. */
    public static boolean isHuggingFace(Map<String, HostTensor> sd) {
        for (String k : sd.keySet()) if (k.startsWith("embeddings.") || k.startsWith("encoder.layer.")) return true;
        return false;
    }


    /** Backbone tensors under official names, whatever the source layout (notes go to stderr). */
    public static Map<String, HostTensor> toOfficialBackbone(Map<String, HostTensor> sd) {
        return toOfficialBackbone(sd, "weights", System.err::println);
    }

    /**
     * Backbone tensors under official names, whatever the source layout. {@code log} (may be null)
     * gets a note when one of several backbones was chosen.
     *
     * @throws IllegalArgumentException "{@code source}: ..." when several backbones are found and
     *                                  none is the teacher
     */
    public static Map<String, HostTensor> toOfficialBackbone(Map<String, HostTensor> sd, String source, Consumer<String> log) {
        Map<String, HostTensor> cur = selectBackbone(withoutWrappers(sd), source, log);
        if (isHuggingFace(cur)) cur = fromHuggingFace(cur);
        return unchunk(cur);
    }

    /** The names whose prefix locates a backbone. */
    private static final List<String> ANCHORS = List.of("patch_embed.proj.weight", "embeddings.patch_embeddings.projection.weight");
    /** First name segments that wrap a whole model when every name has them. */
    private static final List<String> WRAPPERS = List.of("module.", "_orig_mod.", "model.");

    /**
     * Strips, repeatedly, a wrapper prefix that every name shares ({@code module.} from DDP,
     * {@code _orig_mod.} from torch.compile, {@code model.} from Lightning-style modules).
     */
    public static Map<String, HostTensor> withoutWrappers(Map<String, HostTensor> sd) {
        Map<String, HostTensor> cur = sd;
        for (boolean again = true; again && !cur.isEmpty(); ) {
            again = false;
            for (String w : WRAPPERS) {
                Map<String, HostTensor> c = cur;
                if (c.keySet().stream().allMatch(k -> k.startsWith(w))) {
                    cur = withoutPrefix(c, w);
                    again = true;
                }
            }
        }
        return cur;
    }

    /** The prefixes (empty or ending in '.') under which a backbone's patch embedding lies. */
    static List<String> backbonePrefixes(Map<String, HostTensor> sd) {
        java.util.TreeSet<String> out = new java.util.TreeSet<>();
        for (String k : sd.keySet())
            for (String a : ANCHORS) {
                if (!k.endsWith(a)) continue;
                String p = k.substring(0, k.length() - a.length());
                if (p.isEmpty() || p.endsWith(".")) out.add(p);
            }
        return new ArrayList<>(out);
    }

    private static Map<String, HostTensor> selectBackbone(Map<String, HostTensor> sd, String source, Consumer<String> log) {
        List<String> prefixes = backbonePrefixes(sd);
        if (prefixes.isEmpty()) {
            // no patch embedding (a partial file): the usual prefixes still go; the strict load names what is missing
            for (String p : List.of("backbone.", "dinov2."))
                if (sd.keySet().stream().anyMatch(k -> k.startsWith(p))) return withoutPrefix(sd, p);
            return sd;
        }
        String chosen;
        if (prefixes.size() == 1) {
            chosen = prefixes.get(0);
        } else {
            List<String> teachers = prefixes.stream().filter(p -> Arrays.asList(p.split("\\.")).contains("teacher")).toList();
            if (teachers.size() != 1)
                throw new IllegalArgumentException(source + ": holds " + prefixes.size() + " backbones (" + describe(prefixes)
                        + ") and not exactly one teacher among them; keep one (e.g. with tools/convert_pth.py)");
            chosen = teachers.get(0);
            if (log != null)
                log.accept("note: " + source + ": a training checkpoint with " + prefixes.size() + " backbones (" + describe(prefixes)
                        + "): loading the teacher (" + Untrusted.text(chosen) + "*), as DINOv2's evaluation does");
        }
        return chosen.isEmpty() ? sd : withoutPrefix(sd, chosen);
    }

    private static String describe(List<String> prefixes) {
        List<String> shown = new ArrayList<>();
        for (String p : prefixes.subList(0, Math.min(4, prefixes.size()))) shown.add(p.isEmpty() ? "(no prefix)" : Untrusted.text(p) + "*");
        return String.join(", ", shown) + (prefixes.size() > 4 ? ", ..." : "");
    }

    static Map<String, HostTensor> unchunk(Map<String, HostTensor> sd) {
        boolean chunked = sd.keySet().stream().anyMatch(k -> CHUNKED.matcher(k).matches());
        if (!chunked) return sd;
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (var e : sd.entrySet()) {
            Matcher m = CHUNKED.matcher(e.getKey());
            out.put(m.matches() ? "blocks." + m.group(2) + "." + m.group(3) : e.getKey(), e.getValue());
        }
        return out;
    }

    /** Renames a Hugging Face Dinov2 state dict to the official names. Unknown names pass through unchanged. */
    public static Map<String, HostTensor> fromHuggingFace(Map<String, HostTensor> sd) {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        Map<Integer, Map<String, HostTensor>> qkv = new TreeMap<>();
        for (var e : sd.entrySet()) {
            String k = e.getKey();
            HostTensor t = e.getValue();
            switch (k) {
                case "embeddings.cls_token" -> { out.put("cls_token", t); continue; }
                case "embeddings.position_embeddings" -> { out.put("pos_embed", t); continue; }
                case "embeddings.register_tokens" -> { out.put("register_tokens", t); continue; }
                case "embeddings.mask_token" -> {
                    // HF stores [1, C] like the official code; older exports used [1, 1, C]
                    Shape s = t.shape();
                    out.put("mask_token", s.rank() == 3 && s.dim(0) == 1 && s.dim(1) == 1 ? t.reshape(1, s.dim(2)) : t);
                    continue;
                }
                case "embeddings.patch_embeddings.projection.weight" -> { out.put("patch_embed.proj.weight", t); continue; }
                case "embeddings.patch_embeddings.projection.bias" -> { out.put("patch_embed.proj.bias", t); continue; }
                case "layernorm.weight" -> { out.put("norm.weight", t); continue; }
                case "layernorm.bias" -> { out.put("norm.bias", t); continue; }
                default -> { }
            }
            Matcher m = HF_LAYER.matcher(k);
            if (!m.matches()) { out.put(k, t); continue; }
            int i = Integer.parseInt(m.group(1));
            String rest = m.group(2), b = "blocks." + i + ".";
            String mapped = switch (rest) {
                case "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias",
                     "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias" -> b + rest;
                case "attention.output.dense.weight" -> b + "attn.proj.weight";
                case "attention.output.dense.bias" -> b + "attn.proj.bias";
                case "layer_scale1.lambda1" -> b + "ls1.gamma";
                case "layer_scale2.lambda1" -> b + "ls2.gamma";
                case "mlp.weights_in.weight" -> b + "mlp.w12.weight";
                case "mlp.weights_in.bias" -> b + "mlp.w12.bias";
                case "mlp.weights_out.weight" -> b + "mlp.w3.weight";
                case "mlp.weights_out.bias" -> b + "mlp.w3.bias";
                default -> null;
            };
            if (mapped != null) { out.put(mapped, t); continue; }
            if (rest.startsWith("attention.attention.")) {
                qkv.computeIfAbsent(i, x -> new LinkedHashMap<>()).put(rest.substring("attention.attention.".length()), t);
                out.put(b + "attn.qkv." + PLACEHOLDER, null); // keeps the block's position in the order
                continue;
            }
            out.put(k, t);
        }
        // merge q, k, v into qkv (rows stacked in that order), where complete
        Map<String, HostTensor> merged = new LinkedHashMap<>();
        for (var e : out.entrySet()) {
            if (e.getValue() != null) { merged.put(e.getKey(), e.getValue()); continue; }
            int i = Integer.parseInt(e.getKey().split("\\.")[1]);
            Map<String, HostTensor> parts = qkv.get(i);
            for (String kind : new String[]{"weight", "bias"}) {
                HostTensor q = parts.get("query." + kind), kk = parts.get("key." + kind), v = parts.get("value." + kind);
                if (q != null && kk != null && v != null && q.shape().equals(kk.shape()) && q.shape().equals(v.shape())) {
                    merged.put("blocks." + i + ".attn.qkv." + kind, stackRows(q, kk, v));
                } else {
                    String hb = "encoder.layer." + i + ".attention.attention.";
                    if (q != null) merged.put(hb + "query." + kind, q);
                    if (kk != null) merged.put(hb + "key." + kind, kk);
                    if (v != null) merged.put(hb + "value." + kind, v);
                }
            }
        }
        return merged;
    }

    private static final String PLACEHOLDER = "*";

    /** Concatenates tensors along dimension 0. */
    static HostTensor stackRows(HostTensor... ts) {
        int rows = 0;
        for (HostTensor t : ts) rows += t.shape().dim(0);
        int[] dims = ts[0].shape().dims();
        dims[0] = rows;
        float[] d = new float[(int) Shape.of(dims).numel()];
        int off = 0;
        for (HostTensor t : ts) {
            System.arraycopy(t.data(), 0, d, off, t.data().length);
            off += t.data().length;
        }
        return new HostTensor(Shape.of(dims), d);
    }

    /** Official names to Hugging Face names (the inverse of {@link #fromHuggingFace}), for tests and exports. */
    public static Map<String, HostTensor> toHuggingFace(Map<String, HostTensor> sd) {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        Pattern blk = Pattern.compile("blocks\\.(\\d+)\\.(.+)");
        for (var e : sd.entrySet()) {
            String k = e.getKey();
            HostTensor t = e.getValue();
            switch (k) {
                case "cls_token" -> out.put("embeddings.cls_token", t);
                case "pos_embed" -> out.put("embeddings.position_embeddings", t);
                case "register_tokens" -> out.put("embeddings.register_tokens", t);
                case "mask_token" -> out.put("embeddings.mask_token", t);
                case "patch_embed.proj.weight" -> out.put("embeddings.patch_embeddings.projection.weight", t);
                case "patch_embed.proj.bias" -> out.put("embeddings.patch_embeddings.projection.bias", t);
                case "norm.weight" -> out.put("layernorm.weight", t);
                case "norm.bias" -> out.put("layernorm.bias", t);
                default -> {
                    Matcher m = blk.matcher(k);
                    if (!m.matches()) { out.put(k, t); break; }
                    String p = "encoder.layer." + m.group(1) + ".", r = m.group(2);
                    if (r.startsWith("attn.qkv.")) {
                        String kind = r.substring("attn.qkv.".length());
                        int n = t.shape().dim(0) / 3;
                        int rowLen = t.data().length / t.shape().dim(0);
                        String[] names = {"query", "key", "value"};
                        for (int j = 0; j < 3; j++) {
                            int[] dims = t.shape().dims();
                            dims[0] = n;
                            float[] part = java.util.Arrays.copyOfRange(t.data(), j * n * rowLen, (j + 1) * n * rowLen);
                            out.put(p + "attention.attention." + names[j] + "." + kind, new HostTensor(Shape.of(dims), part));
                        }
                        break;
                    }
                    String mapped = switch (r) {
                        case "attn.proj.weight" -> "attention.output.dense.weight";
                        case "attn.proj.bias" -> "attention.output.dense.bias";
                        case "ls1.gamma" -> "layer_scale1.lambda1";
                        case "ls2.gamma" -> "layer_scale2.lambda1";
                        case "mlp.w12.weight" -> "mlp.weights_in.weight";
                        case "mlp.w12.bias" -> "mlp.weights_in.bias";
                        case "mlp.w3.weight" -> "mlp.weights_out.weight";
                        case "mlp.w3.bias" -> "mlp.weights_out.bias";
                        default -> r;
                    };
                    out.put(p + mapped, t);
                }
            }
        }
        return out;
    }

    /** Keeps the entries under {@code prefix} with the prefix removed, in their order. */
    public static Map<String, HostTensor> withoutPrefix(Map<String, HostTensor> sd, String prefix) {
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (var e : sd.entrySet()) if (e.getKey().startsWith(prefix)) out.put(e.getKey().substring(prefix.length()), e.getValue());
        return out;
    }
}
