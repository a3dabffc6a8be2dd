package dinoseg.model;

import dinoseg.io.JsonText;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;

/**
 * The hyper-parameters of a DINOv2 backbone. Presets mirror the official hub models (patch 14,
 * position embeddings for a 37×37 grid, qkv bias, LayerNorm eps 1e-6, MLP ratio 4, LayerScale);
 * {@link #parse} also accepts a JSON file for small custom sizes. Build one by name with
 * {@link #builder}: {@code BackboneConfig.builder("tiny").embedDim(32).depth(2).heads(2).build()}
 * (the other settings default to the official values).
 *
 * @param name          preset name or the JSON file name
 * @param embedDim      token width C
 * @param depth         number of blocks
 * @param heads         attention heads
 * @param registers     register tokens (0 or 4 for the presets)
 * @param swiglu        SwiGLU feed-forward ({@code mlp.w12}, {@code mlp.w3}) instead of the GELU MLP
 * @param patch         patch size in pixels
 * @param mlpRatio      hidden width of the feed-forward as a multiple of embedDim
 * @param posGrid       side of the square grid the position embeddings were trained for
 * @param layerScaleInit initial LayerScale value for random initialisation (finite; every block has LayerScale, as
 *                      every DINOv2 hub model)
 */
public record BackboneConfig(String name, int embedDim, int depth, int heads, int registers, boolean swiglu,
                             int patch, double mlpRatio, int posGrid, float layerScaleInit) {

    public BackboneConfig {
        if (embedDim <= 0 || depth <= 0 || heads <= 0 || registers < 0 || patch <= 0 || mlpRatio <= 0 || posGrid <= 0)
            throw new IllegalArgumentException("backbone " + name + ": sizes must be positive (embed_dim " + embedDim
                    + ", depth " + depth + ", heads " + heads + ", registers " + registers + ", patch " + patch
                    + ", mlp_ratio " + mlpRatio + ", pos_grid " + posGrid + ")");
        if (embedDim % heads != 0)
            throw new IllegalArgumentException("backbone " + name + ": embed_dim " + embedDim + " is not divisible by heads " + heads);
        if (!Float.isFinite(layerScaleInit))
            throw new IllegalArgumentException("backbone " + name + ": layerscale_init must be a finite number, got " + layerScaleInit);
    }

    /** A builder for a backbone called {@code name}, with the official defaults for all but the sizes. */
    public static Builder builder(String name) { return new Builder(name); }

    /**
     * Names each setting of a {@link BackboneConfig}; {@code embedDim}, {@code depth} and
     * {@code heads} have no default. Defaults: no registers, the GELU MLP, patch 14, MLP ratio 4,
     * a 37×37 position grid, LayerScale initialised to 1.
     */
    public static final class Builder {
        private final String name;
        private int embedDim, depth, heads, registers = 0, patch = 14, posGrid = 37;
        private boolean swiglu = false;
        private double mlpRatio = 4.0;
        private float layerScaleInit = 1f;

        private Builder(String name) { this.name = name; }

        /** Token width C. */
        public Builder embedDim(int v) { embedDim = v; return this; }
        public Builder depth(int v) { depth = v; return this; }
        public Builder heads(int v) { heads = v; return this; }
        public Builder registers(int v) { registers = v; return this; }
        /** SwiGLU feed-forward (the giant models) instead of the GELU MLP. */
        public Builder swiglu(boolean v) { swiglu = v; return this; }
        /** Patch size in pixels. */
        public Builder patch(int v) { patch = v; return this; }
        public Builder mlpRatio(double v) { mlpRatio = v; return this; }
        /** Side of the square grid the position embeddings were trained for. */
        public Builder posGrid(int v) { posGrid = v; return this; }
        public Builder layerScaleInit(float v) { layerScaleInit = v; return this; }

        /** @throws IllegalArgumentException for a size that is not positive or embedDim not divisible by heads */
        public BackboneConfig build() {
            return new BackboneConfig(name, embedDim, depth, heads, registers, swiglu, patch, mlpRatio, posGrid, layerScaleInit);
        }
    }

    /** Official preset names. */
    public static final Set<String> PRESETS = Set.of("small", "base", "large", "giant",
            "small_reg", "base_reg", "large_reg", "giant_reg");

    /** The official register models interpolate with antialias and no offset; the plain ones with the 0.1 offset. */
    public boolean interpolateAntialias() { return registers > 0; }

    /** The offset the official code adds to the target grid before dividing (0.1 plain, 0 for register models). */
    public double interpolateOffset() { return registers > 0 ? 0.0 : 0.1; }

    /** Hidden width of the feed-forward (SwiGLU's is derived as in SwiGLUFFNFused). */
    public int ffnHidden() {
        int h = (int) (embedDim * mlpRatio);
        return swiglu ? dinoseg.nn.SwiGluFfn.fusedHidden(h) : h;
    }

    /** Official default layers for the segmentation heads: the last four blocks. */
    public int[] defaultLayers() {
        int n = Math.min(4, depth);
        int[] l = new int[n];
        for (int i = 0; i < n; i++) l[i] = depth - n + i;
        return l;
    }

    /** A preset by name ({@code small}, {@code base}, {@code large}, {@code giant}, each optionally {@code _reg}). */
    public static BackboneConfig preset(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        boolean reg = n.endsWith("_reg");
        String base = reg ? n.substring(0, n.length() - 4) : n;
        int r = reg ? 4 : 0;
        return switch (base) {
            // dinov2/hub/backbones.py: vit_small/base/large/giant2 (giant: SwiGLU), patch 14, 518 px = 37x37 grid
            case "small", "vits14", "s" -> builder(n).embedDim(384).depth(12).heads(6).registers(r).build();
            case "base", "vitb14", "b" -> builder(n).embedDim(768).depth(12).heads(12).registers(r).build();
            case "large", "vitl14", "l" -> builder(n).embedDim(1024).depth(24).heads(16).registers(r).build();
            case "giant", "vitg14", "g" -> builder(n).embedDim(1536).depth(40).heads(24).registers(r).swiglu(true).build();
            default -> throw new IllegalArgumentException("unknown backbone '" + name
                    + "' (use small, base, large, giant, their _reg variants, or a JSON file)");
        };
    }

    /**
     * A preset name, or a path to a JSON file with {@code embed_dim}, {@code depth}, {@code heads},
     * {@code registers}, {@code ffn} ("mlp", or "swiglufused" / "swiglu" as the official configs
     * spell SwiGLUFFNFused; the key may also be spelled {@code ffn_layer}) and optionally {@code patch},
     * {@code mlp_ratio}, {@code pos_grid}, {@code layerscale_init}.
     */
    public static BackboneConfig parse(String spec) {
        if (spec == null || spec.isBlank()) throw new IllegalArgumentException("--backbone is empty");
        Path p = Path.of(spec);
        if (!PRESETS.contains(spec.toLowerCase(Locale.ROOT)) && (spec.toLowerCase(Locale.ROOT).endsWith(".json") || Files.isRegularFile(p)))
            return fromJsonFile(p);
        return preset(spec);
    }

    public static BackboneConfig fromJsonFile(Path p) {
        String text;
        try {
            if (Files.size(p) > 1 << 20) throw new IllegalArgumentException(p + ": backbone JSON is larger than 1 MiB");
            text = Files.readString(p, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException(p + ": cannot read backbone JSON (" + e.getMessage() + ")");
        }
        return fromJson(p.getFileName().toString(), text, p.toString());
    }

    /** Parses the JSON text of a custom backbone; {@code where} names it in errors. */
    public static BackboneConfig fromJson(String name, String text, String where) {
        JsonElement parsed = JsonText.parse(text, where);
        if (!parsed.isJsonObject()) throw new IllegalArgumentException(where + ": backbone JSON must be an object");
        JsonObject o = parsed.getAsJsonObject();
        Set<String> known = Set.of("embed_dim", "depth", "heads", "registers", "ffn", "ffn_layer", "patch", "mlp_ratio", "pos_grid", "layerscale_init", "name");
        for (String k : o.keySet())
            if (!known.contains(k)) throw new IllegalArgumentException(where + ": unknown backbone key '" + k + "' (known: " + new java.util.TreeSet<>(known) + ")");
        if (o.has("ffn") && o.has("ffn_layer")) throw new IllegalArgumentException(where + ": give \"ffn\" or \"ffn_layer\", not both");
        String ffn = parseFfn(str(o, o.has("ffn_layer") ? "ffn_layer" : "ffn", "mlp", where), where);
        String nm = str(o, "name", name, where);
        try {
            return builder(nm).embedDim(integer(o, "embed_dim", null, where)).depth(integer(o, "depth", null, where))
                    .heads(integer(o, "heads", null, where)).registers(integer(o, "registers", 0, where)).swiglu(ffn.equals("swiglu"))
                    .patch(integer(o, "patch", 14, where)).mlpRatio(number(o, "mlp_ratio", 4.0, where))
                    .posGrid(integer(o, "pos_grid", 37, where)).layerScaleInit((float) number(o, "layerscale_init", 1.0, where)).build();
        } catch (IllegalArgumentException e) {
            // the file names the config here; the record's own "backbone <name>: " would name it twice
            String m = e.getMessage(), own = "backbone " + nm + ": ";
            if (m != null && m.startsWith(where + ": ")) throw e;   // the key readers name the file themselves
            throw new IllegalArgumentException(where + ": " + (m != null && m.startsWith(own) ? m.substring(own.length()) : m));
        }
    }

    /**
     * The feed-forward kind as named in a config: "mlp", or "swiglu" for what the official code
     * builds for both "swiglufused" and "swiglu" (SwiGLUFFNFused; dinov2/models/vision_transformer.py).
     */
    public static String parseFfn(String spec, String where) {
        String f = spec.trim().toLowerCase(Locale.ROOT);
        return switch (f) {
            case "mlp" -> "mlp";
            case "swiglu", "swiglufused" -> "swiglu";
            default -> throw new IllegalArgumentException(where + ": ffn must be \"mlp\", \"swiglufused\" or \"swiglu\", got \""
                    + (f.length() > 40 ? f.substring(0, 40) + "..." : f) + "\"");
        };
    }

    private static String str(JsonObject o, String k, String def, String where) {
        if (!o.has(k)) return def;
        JsonElement e = o.get(k);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) throw new IllegalArgumentException(where + ": " + k + " must be a string");
        return e.getAsString();
    }

    private static int integer(JsonObject o, String k, Integer def, String where) {
        if (!o.has(k)) {
            if (def == null) throw new IllegalArgumentException(where + ": backbone JSON lacks \"" + k + "\"");
            return def;
        }
        double v = number(o, k, 0, where);
        if (v != Math.rint(v) || v < 0 || v > 1 << 20) throw new IllegalArgumentException(where + ": " + k + " must be a non-negative integer, got " + o.get(k));
        return (int) v;
    }

    private static double number(JsonObject o, String k, double def, String where) {
        if (!o.has(k)) return def;
        JsonElement e = o.get(k);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) throw new IllegalArgumentException(where + ": " + k + " must be a number, got " + e);
        return e.getAsDouble();
    }

    /** The JSON form (what {@link #fromJson} reads), e.g. for a checkpoint's metadata. */
    public String toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("name", name);
        o.addProperty("embed_dim", embedDim);
        o.addProperty("depth", depth);
        o.addProperty("heads", heads);
        o.addProperty("registers", registers);
        o.addProperty("ffn", swiglu ? "swiglu" : "mlp");
        o.addProperty("patch", patch);
        o.addProperty("mlp_ratio", mlpRatio);
        o.addProperty("pos_grid", posGrid);
        o.addProperty("layerscale_init", layerScaleInit);
        return o.toString();
    }
}
