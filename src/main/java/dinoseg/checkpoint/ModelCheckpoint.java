package dinoseg.checkpoint;

import dinoseg.io.JsonText;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dinoseg.backend.Backend;
import dinoseg.data.ClassSet;
import dinoseg.io.HostTensor;
import dinoseg.io.Safetensors;
import dinoseg.io.StateDict;
import dinoseg.io.WeightNames;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.SegmentationHead;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A trained segmentation model in one self-describing safetensors file: the tensors under
 * {@code backbone.*} (official DINOv2 names) and {@code head.*}, and in the metadata the
 * configuration {@code eval} and {@code infer} need — backbone config, head kind, layers, classes
 * with colours, image size. A head-only file leaves the backbone out and names where it comes from
 * (the weights file it was trained on, or the seed of a random backbone).
 *
 * <p>Metadata keys: {@code format} = {@value #FORMAT}, {@code format_version}, and
 * {@code dinoseg.config}, a JSON object with {@code backbone} (the BackboneConfig JSON),
 * {@code head}, {@code num_classes}, {@code layers}, {@code classes} (the class-file JSON),
 * {@code imgsz} [w, h], {@code head_only}, {@code backbone_weights} (path or null), {@code seed},
 * plus whatever the caller adds.
 *
 * <p>A model with LoRA adapters is saved merged ({@link StateDicts#merged}): W + scaling · B · A under
 * the base weight's name and no {@code lora_*} tensors, so the file loads like any other.
 */
public final class ModelCheckpoint {
    public static final String FORMAT = "dinoseg-checkpoint";
    public static final String CONFIG_KEY = "dinoseg.config";

    private ModelCheckpoint() { }

    /** A loaded checkpoint: the model (frozen, eval mode), its classes, training size and full config. */
    public record Loaded(Dinov2Segmentation model, ClassSet classes, int imgW, int imgH, JsonObject config) { }

    /**
     * Writes the model atomically. {@code extraConfig} entries (training settings, epoch, scores)
     * are merged into the stored config; it should hold {@code backbone_weights} (string or null)
     * and {@code seed} so a head-only file can find its backbone again.
     */
    public static void save(Path file, Dinov2Segmentation model, ClassSet classes, int imgW, int imgH,
                            JsonObject extraConfig, boolean headOnly) throws IOException {
        if (classes.size() != model.numClasses())
            throw new IllegalArgumentException("checkpoint " + file + ": " + classes.size() + " class names for a model of " + model.numClasses() + " classes");
        JsonObject cfg = extraConfig == null ? new JsonObject() : extraConfig.deepCopy();
        cfg.add("backbone", JsonParser.parseString(model.backbone.cfg.toJson()));
        cfg.addProperty("head", model.head.kind.id());
        cfg.addProperty("num_classes", model.numClasses());
        JsonArray layers = new JsonArray();
        for (int l : model.layers()) layers.add(l);
        cfg.add("layers", layers);
        cfg.add("classes", JsonParser.parseString(classes.toJson()));
        JsonArray size = new JsonArray();
        size.add(imgW);
        size.add(imgH);
        cfg.add("imgsz", size);
        cfg.addProperty("head_only", headOnly);
        if (!cfg.has("backbone_weights")) cfg.add("backbone_weights", com.google.gson.JsonNull.INSTANCE);

        Map<String, HostTensor> tensors = StateDicts.merged(model);   // LoRA adapters folded in: a plain model
        if (headOnly) tensors.keySet().removeIf(k -> !k.startsWith("head."));
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("format_version", "1");
        meta.put(CONFIG_KEY, cfg.toString());
        Safetensors.write(file, tensors, meta);
    }

    /** True when the file carries our checkpoint metadata. */
    public static boolean isCheckpoint(Path file) {
        try {
            return FORMAT.equals(Safetensors.readHeader(file).metadata().get("format"));
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** The metadata key of a training run's resume state ({@code last_state.safetensors}, train.ResumeState). */
    public static final String RESUME_STATE_KEY = "dinoseg_state";

    /** The model checkpoints a finished (or validated) training run leaves in its folder, in the order they are suggested. */
    static final java.util.List<String> RUN_CHECKPOINTS = java.util.List.of("best_model_iou.safetensors", "final_model.safetensors");

    /**
     * Reads the stored configuration without loading tensors.
     *
     * @throws java.nio.file.NoSuchFileException when {@code file} does not exist
     * @throws IllegalArgumentException one line naming the file when it is a folder (a run folder
     *         gets the name of a checkpoint in it), a training state ({@code last_state.safetensors}:
     *         the run's model checkpoints are named), or not a dinoseg checkpoint
     */
    public static JsonObject readConfig(Path file) throws IOException {
        if (Files.isDirectory(file)) throw new IllegalArgumentException(folderGiven(file));
        if (!Files.isRegularFile(file)) throw new java.nio.file.NoSuchFileException(file + ": no such checkpoint file");
        Map<String, String> meta;
        try {
            meta = Safetensors.readHeader(file).metadata();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": not a dinoseg checkpoint (" + e.getMessage() + ")");
        }
        String text = meta.get(CONFIG_KEY);
        if (meta.containsKey(RESUME_STATE_KEY)) throw new IllegalArgumentException(trainingStateGiven(file));
        if (!FORMAT.equals(meta.get("format")) || text == null)
            throw new IllegalArgumentException(file + ": not a dinoseg checkpoint (no '" + CONFIG_KEY
                    + "' metadata); backbone weights go to --weights, not --checkpoint");
        try {
            JsonElement e = JsonParser.parseString(text);
            if (!e.isJsonObject()) throw new JsonParseException("config is not an object");
            return e.getAsJsonObject();
        } catch (JsonParseException e) {
            throw new IllegalArgumentException(file + ": damaged checkpoint config: " + (e.getMessage() != null && e.getMessage().contains(" at line ")
                    ? JsonText.describe(e) : JsonText.clean(e.getMessage())));
        }
    }

    /** A folder given as a checkpoint: a run folder (it holds a model checkpoint) is told which file to pass. */
    static String folderGiven(Path dir) {
        for (String name : RUN_CHECKPOINTS)
            if (Files.isRegularFile(dir.resolve(name)))
                return dir + ": is a run folder; pass one of its checkpoints, e.g. " + dir.resolve(name);
        return dir + ": is a directory, not a checkpoint file";
    }

    /** A resume state given as a checkpoint: what it is, and the model checkpoints of its run (those present, else their names). */
    static String trainingStateGiven(Path file) {
        Path dir = file.toAbsolutePath().getParent();
        java.util.List<String> present = new java.util.ArrayList<>();
        for (String name : RUN_CHECKPOINTS) if (dir != null && Files.isRegularFile(dir.resolve(name))) present.add(name);
        Path shown = file.getParent() == null ? Path.of("") : file.getParent();
        String hint = present.isEmpty()
                ? "its run writes " + String.join(" and ", RUN_CHECKPOINTS) + " into the same folder (none there yet)"
                : "pass " + String.join(" or ", present.stream().map(n -> shown.resolve(n).toString()).toList()) + " from the same folder";
        return file + ": is a training state (for train --resume), not a model checkpoint; " + hint;
    }

    /** Loads a checkpoint on a backend; errors are one line naming the file. */
    public static Loaded load(Path file, Backend be) throws IOException {
        JsonObject cfg = readConfig(file);
        try {
            BackboneConfig bc = BackboneConfig.fromJson(cfg.getAsJsonObject("backbone").has("name")
                    ? cfg.getAsJsonObject("backbone").get("name").getAsString() : "custom",
                    cfg.getAsJsonObject("backbone").toString(), file + " (backbone config)");
            SegmentationHead.Kind head = SegmentationHead.Kind.parse(cfg.get("head").getAsString());
            ClassSet classes = ClassSet.parse(cfg.get("classes").toString());
            JsonArray la = cfg.getAsJsonArray("layers");
            int[] layers = new int[la.size()];
            for (int i = 0; i < layers.length; i++) layers[i] = la.get(i).getAsInt();
            JsonArray size = cfg.getAsJsonArray("imgsz");
            int w = size.get(0).getAsInt(), h = size.get(1).getAsInt();
            long seed = cfg.has("seed") ? cfg.get("seed").getAsLong() : 0L;
            Dinov2Segmentation model = Dinov2Segmentation.create(be, bc, head, cfg.get("num_classes").getAsInt(), layers, seed);
            StateDict sd = Safetensors.read(file);
            boolean headOnly = cfg.has("head_only") && cfg.get("head_only").getAsBoolean();
            if (headOnly) {
                StateDicts.loadStrict(model.head, WeightNames.withoutPrefix(sd.tensors(), "head."), file.toString());
                JsonElement bw = cfg.get("backbone_weights");
                if (bw != null && !bw.isJsonNull()) {
                    Path wp = Path.of(bw.getAsString());
                    if (!Files.isRegularFile(wp))
                        throw new IllegalArgumentException(file + ": head-only checkpoint needs its backbone weights " + wp + ", which do not exist");
                    Weights.loadBackbone(model.backbone, wp);
                }
                // otherwise the backbone was random: the stored seed rebuilt it above
            } else {
                StateDicts.loadStrict(model, sd.tensors(), file.toString());
            }
            model.setFineTune(false);
            model.train(false);
            return new Loaded(model, classes, w, h, cfg);
        } catch (NullPointerException | ClassCastException | IllegalStateException | UnsupportedOperationException e) {
            throw new IllegalArgumentException(file + ": damaged checkpoint config (" + e + ")");
        }
    }
}
