package dinoseg.checkpoint;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dinoseg.io.HostTensor;
import dinoseg.io.Safetensors;
import dinoseg.io.StateDict;
import dinoseg.model.Lora;
import dinoseg.nn.Linear;
import dinoseg.nn.Module;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * LoRA adapter files: safetensors holding only the adapter weights, named as Hugging Face PEFT's
 * {@code adapter_model.safetensors} without its {@code base_model.model.} prefix, relative to the
 * backbone ({@code blocks.3.attn.qkv.lora_A.weight} [r, in], {@code blocks.3.attn.qkv.lora_B.weight}
 * [out, r]). Metadata: {@code format} = {@value #FORMAT} and {@value #CONFIG_KEY}, a JSON object with
 * PEFT's {@code LoraConfig} names {@code r}, {@code lora_alpha}, {@code target_modules}, plus
 * {@code backbone} (the backbone's name). Writes are atomic.
 */
public final class LoraFiles {
    public static final String FORMAT = "dinoseg-lora";
    public static final String CONFIG_KEY = "dinoseg.lora";

    private LoraFiles() { }

    /** A read adapter file: the recipe and the adapter tensors by backbone-relative name. */
    public record Adapter(Lora lora, String backbone, Map<String, HostTensor> tensors) { }

    /** Writes the adapters of {@code backbone} (a module tree holding adapted Linears) atomically. */
    public static void save(Path file, Module backbone, Lora lora, String backboneName) throws IOException {
        Map<String, HostTensor> tensors = new LinkedHashMap<>();
        for (var e : Lora.adapted(backbone).entrySet()) {
            Linear l = e.getValue();
            tensors.put(e.getKey() + ".lora_A.weight", new HostTensor(l.loraA().shape(), backbone.backend().toFloats(l.loraA().value())));
            tensors.put(e.getKey() + ".lora_B.weight", new HostTensor(l.loraB().shape(), backbone.backend().toFloats(l.loraB().value())));
        }
        JsonObject cfg = new JsonObject();
        cfg.addProperty("r", lora.rank());
        cfg.addProperty("lora_alpha", lora.alpha());
        JsonArray t = new JsonArray();
        for (String s : lora.targets()) t.add(s);
        cfg.add("target_modules", t);
        cfg.addProperty("backbone", backboneName);
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("format_version", "1");
        meta.put(CONFIG_KEY, cfg.toString());
        Safetensors.write(file, tensors, meta);
    }

    /** Reads an adapter file; a file that is not one, or is damaged, is one line naming it. */
    public static Adapter read(Path file) throws IOException {
        StateDict sd = Safetensors.read(file);
        String text = sd.metadata().get(CONFIG_KEY);
        if (!FORMAT.equals(sd.metadata().get("format")) || text == null)
            throw new IllegalArgumentException(file + ": not a dinoseg LoRA file (no '" + CONFIG_KEY + "' metadata; train --lora-rank writes lora.safetensors)");
        try {
            JsonObject o = JsonParser.parseString(text).getAsJsonObject();
            List<String> targets = new ArrayList<>();
            for (var e : o.getAsJsonArray("target_modules")) targets.add(e.getAsString());
            Lora lora = new Lora(o.get("r").getAsInt(), o.get("lora_alpha").getAsDouble(), targets);
            String bb = o.has("backbone") && !o.get("backbone").isJsonNull() ? o.get("backbone").getAsString() : null;
            for (var e : sd.tensors().entrySet()) {
                String k = e.getKey();
                if (!(k.endsWith(".lora_A.weight") || k.endsWith(".lora_B.weight")))
                    throw new IllegalArgumentException(file + ": unexpected tensor '" + dinoseg.io.Untrusted.text(k, 160) + "' in a LoRA file");
                boolean twoD = e.getValue().shape().rank() == 2;
                int r = !twoD ? -1 : k.endsWith(".lora_A.weight") ? e.getValue().shape().dim(0) : e.getValue().shape().dim(1);
                if (!twoD || r != lora.rank())
                    throw new IllegalArgumentException(file + ": tensor '" + dinoseg.io.Untrusted.text(k, 160) + "' " + e.getValue().shape() + " does not have rank r=" + lora.rank());
            }
            return new Adapter(lora, bb, sd.tensors());
        } catch (RuntimeException e) {
            if (e instanceof IllegalArgumentException iae && iae.getMessage() != null && iae.getMessage().startsWith(file.toString())) throw iae;
            throw new IllegalArgumentException(file + ": damaged LoRA config (" + e.getMessage() + ")");
        }
    }

    /**
     * {@code dinoseg lora merge}: loads a model checkpoint (a head-only one with its backbone), adds the
     * adapter file's LoRA layers, and writes a plain checkpoint with W + (alpha / r) · B · A in place of
     * each adapted W (PEFT's {@code merge_and_unload}); the stored config gains {@code lora_merged}
     * (r, lora_alpha, target_modules, the adapter file).
     *
     * @throws IllegalArgumentException one line naming the file: not a checkpoint / LoRA file, a target
     *         the backbone lacks, adapter tensors missing, unexpected or of the wrong shape
     */
    public static void mergeCheckpoint(Path checkpoint, Path loraFile, Path out, dinoseg.backend.Backend be) throws IOException {
        Adapter ad = read(loraFile);
        ModelCheckpoint.Loaded ck = ModelCheckpoint.load(checkpoint, be);
        // a checkpoint that already holds adapters folded in would get them twice
        if (ck.config().has("lora_merged"))
            throw new IllegalArgumentException(checkpoint + ": LoRA adapters are already merged into it (lora merge wrote it); merging again would add them twice");
        if (ck.config().get("train_config") instanceof JsonObject tc && tc.has("lora_rank"))
            throw new IllegalArgumentException(checkpoint + ": written by a LoRA run, which saves its adapters merged (W + scaling·B·A);"
                    + " it already holds them: use it as it is (infer, eval)");
        String bbName = ck.model().backbone.cfg.name();
        if (ad.backbone() != null && !ad.backbone().equals(bbName))
            throw new IllegalArgumentException(loraFile + ": adapters for backbone '" + dinoseg.io.Untrusted.text(ad.backbone(), 80)
                    + "', but " + checkpoint + " holds '" + bbName + "'");
        try {
            ck.model().enableLora(ad.lora(), 0);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(loraFile + ": " + e.getMessage().replace("--lora-targets: ", "target_modules: "));
        }
        Map<String, dinoseg.nn.Parameter> want = new LinkedHashMap<>();
        for (var e : ck.model().backbone.namedParameters().entrySet()) if (e.getKey().contains(".lora_")) want.put(e.getKey(), e.getValue());
        StateDicts.Mismatch mm = StateDicts.compare(new TensorsOnly(be, want), ad.tensors());
        if (!mm.ok()) throw new IllegalArgumentException(loraFile + ": adapters do not match " + checkpoint + ": " + mm.describe());
        for (var e : want.entrySet()) {
            HostTensor t = ad.tensors().get(e.getKey());
            dinoseg.tensor.Tensor old = e.getValue().value();
            e.getValue().setValue(be.fromFloats(t.data(), t.shape()));
            old.close();
        }
        JsonObject cfg = ck.config().deepCopy();
        JsonObject merged = JsonParser.parseString(Safetensors.readHeader(loraFile).metadata().get(CONFIG_KEY)).getAsJsonObject();
        merged.addProperty("file", loraFile.toAbsolutePath().toString());
        cfg.add("lora_merged", merged);
        ModelCheckpoint.save(out, ck.model(), ck.classes(), ck.imgW(), ck.imgH(), cfg, false);
    }

    /** A module holding exactly the given named parameters (for a strict comparison of names and shapes). */
    private static final class TensorsOnly extends Module {
        private final Map<String, dinoseg.nn.Parameter> named;

        TensorsOnly(dinoseg.backend.Backend be, Map<String, dinoseg.nn.Parameter> named) {
            super(be);
            this.named = named;
        }

        @Override public Map<String, dinoseg.nn.Parameter> namedParameters() { return new LinkedHashMap<>(named); }
    }

    /**
     * Folds an adapter into a full model state dict (names {@code backbone.*}): for each adapted layer
     * {@code backbone.P.weight} becomes W + (alpha / r) · B · A ({@link StateDicts#mergeLora}).
     *
     * @return a new map; the input is left as it is
     * @throws IllegalArgumentException naming {@code source} when a layer is missing, or an A has no B
     */
    public static Map<String, HostTensor> merge(Map<String, HostTensor> model, Adapter adapter, String source) {
        Map<String, HostTensor> out = new LinkedHashMap<>(model);
        for (String k : adapter.tensors().keySet()) {
            if (!k.endsWith(".lora_A.weight")) continue;
            String path = k.substring(0, k.length() - ".lora_A.weight".length());
            HostTensor b = adapter.tensors().get(path + ".lora_B.weight");
            if (b == null) throw new IllegalArgumentException(source + ": " + path + " has lora_A but no lora_B");
            String wName = "backbone." + path + ".weight";
            HostTensor w = out.get(wName);
            if (w == null) throw new IllegalArgumentException(source + ": the adapter's layer " + dinoseg.io.Untrusted.text(path, 160) + " is not in the model");
            out.put(wName, StateDicts.mergeLora(w, adapter.tensors().get(k), b, adapter.lora().scaling(), source + ": " + path));
        }
        for (String k : adapter.tensors().keySet())
            if (k.endsWith(".lora_B.weight") && !adapter.tensors().containsKey(k.substring(0, k.length() - "B.weight".length()) + "A.weight"))
                throw new IllegalArgumentException(source + ": " + dinoseg.io.Untrusted.text(k, 160) + " has no lora_A");
        return out;
    }
}
