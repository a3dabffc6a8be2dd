package dinoseg.model;

import dinoseg.nn.Linear;
import dinoseg.nn.Module;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * LoRA (Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", 2021) on a DINOv2 backbone,
 * with Hugging Face PEFT's semantics ({@code LoraConfig(r, lora_alpha, target_modules)}): every
 * Linear of every block whose own name is one of {@code targets} gets an adapter
 * ({@link Linear#addLora}); a model-level name such as {@code qkv} matches {@code blocks.N.attn.qkv}.
 * Targets: {@code qkv}, {@code proj} (attention), {@code fc1}, {@code fc2} (MLP) and, for SwiGLU
 * models, {@code w12}, {@code w3}.
 *
 * @param rank    r, the inner dimension of the adapter (lora_A [r, in], lora_B [out, r])
 * @param alpha   lora_alpha; the adapter's output is scaled by alpha / r
 * @param targets module names, in the order given, without duplicates
 */
public record Lora(int rank, double alpha, List<String> targets) {
    public static final List<String> KNOWN_TARGETS = List.of("qkv", "proj", "fc1", "fc2", "w12", "w3");

    public Lora {
        if (rank <= 0) throw new IllegalArgumentException("--lora-rank must be a positive integer, got " + rank);
        if (!(alpha > 0) || Double.isInfinite(alpha)) throw new IllegalArgumentException("--lora-alpha must be a positive number, got " + alpha);
        if (targets == null || targets.isEmpty()) throw new IllegalArgumentException("--lora-targets names no layer (choose from " + String.join(", ", KNOWN_TARGETS) + ")");
        for (String t : targets)
            if (!KNOWN_TARGETS.contains(t))
                throw new IllegalArgumentException("--lora-targets: unknown layer '" + t + "' (choose from " + String.join(", ", KNOWN_TARGETS) + ")");
        if (targets.stream().distinct().count() != targets.size()) throw new IllegalArgumentException("--lora-targets names a layer twice: " + String.join(",", targets));
        targets = List.copyOf(targets);
    }

    /** Parses a comma-separated target list ({@code qkv,proj}); errors as in the constructor. */
    public static List<String> parseTargets(String csv) {
        List<String> out = new ArrayList<>();
        for (String s : csv.split(",", -1)) out.add(s.trim().toLowerCase(Locale.ROOT));
        return out;
    }

    /** The scaling alpha / r. */
    public double scaling() { return alpha / rank; }

    /** The Linears of the backbone's blocks this recipe adapts, by module path ({@code blocks.3.attn.qkv}), in model order. */
    public Map<String, Linear> targetsIn(DinoVisionTransformer backbone) {
        Map<String, Linear> out = new LinkedHashMap<>();
        for (int i = 0; i < backbone.blocks.size(); i++) collect(backbone.blocks.get(i), "blocks." + i, out);
        for (String t : targets)
            if (out.keySet().stream().noneMatch(k -> k.endsWith("." + t)))
                throw new IllegalArgumentException("--lora-targets: '" + t + "' matches no layer of " + backbone.cfg.name()
                        + (t.startsWith("fc") ? " (its feed-forward layers are w12, w3: SwiGLU)" : t.startsWith("w") ? " (its feed-forward layers are fc1, fc2)" : ""));
        return out;
    }

    private void collect(Module m, String path, Map<String, Linear> out) {
        for (var e : m.children().entrySet()) {
            String p = path + "." + e.getKey();
            if (e.getValue() instanceof Linear l) {
                if (targets.contains(e.getKey())) out.put(p, l);
            } else collect(e.getValue(), p, out);
        }
    }

    /**
     * Adds the adapters to the backbone (their parameters require gradients; freezing the rest is the
     * caller's: {@link Dinov2Segmentation#enableLora}). lora_A draws from a generator seeded with {@code seed}.
     *
     * @return the adapted Linears by module path
     * @throws IllegalArgumentException when a target matches no layer
     */
    public Map<String, Linear> apply(DinoVisionTransformer backbone, long seed) {
        Map<String, Linear> layers = targetsIn(backbone);
        SplittableRandom rng = new SplittableRandom(seed);
        for (Linear l : layers.values()) l.addLora(rank, alpha, rng);
        return layers;
    }

    /** The adapted Linears of a backbone (those with an adapter), by module path. */
    public static Map<String, Linear> adapted(Module backbone) {
        Map<String, Linear> out = new LinkedHashMap<>();
        walk(backbone, "", out);
        return out;
    }

    private static void walk(Module m, String prefix, Map<String, Linear> out) {
        for (var e : m.children().entrySet()) {
            String p = prefix + e.getKey();
            if (e.getValue() instanceof Linear l) {
                if (l.hasLora()) out.put(p, l);
            } else walk(e.getValue(), p + ".", out);
        }
    }

    /**
     * The number of adapter parameters this recipe adds to a backbone: the sum over adapted Linears of
     * r · (in + out) — e.g. for qkv alone, depth · r · (C + 3C).
     */
    public long parameterCount(DinoVisionTransformer backbone) {
        long n = 0;
        for (Linear l : targetsIn(backbone).values()) n += (long) rank * (l.in + l.out);
        return n;
    }
}
