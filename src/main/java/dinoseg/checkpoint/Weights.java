package dinoseg.checkpoint;

import dinoseg.io.HostTensor;
import dinoseg.io.Safetensors;
import dinoseg.io.StateDict;
import dinoseg.io.WeightFiles;
import dinoseg.io.WeightNames;
import dinoseg.model.DinoVisionTransformer;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.nn.Module;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Weight files in and out of models. Any file {@link WeightFiles#read} reads (safetensors,
 * torch.save {@code .pth}/{@code .pt}/{@code .bin}) can be loaded; backbone files may use the
 * official or the Hugging Face names under any wrapper prefix ({@link WeightNames}); a full
 * segmentation model file holds {@code backbone.*} and {@code head.*}. Loading is strict
 * ({@link StateDicts#loadStrict}).
 *
 * <p>Every problem with a file is one exception line that starts with the file's path: an
 * {@link IOException} when the file cannot be read, an {@link IllegalArgumentException} when its
 * tensors do not fit the model.
 */
public final class Weights {
    private Weights() { }

    /** Loads a backbone strictly from any supported file and naming; notes (which backbone was taken) go to stderr. */
    public static void loadBackbone(DinoVisionTransformer backbone, Path file) throws IOException {
        loadBackbone(backbone, file, System.err::println);
    }

    /** Loads a backbone strictly from any supported file and naming; {@code log} gets notes (may be null). */
    public static void loadBackbone(DinoVisionTransformer backbone, Path file, Consumer<String> log) throws IOException {
        StateDict sd = WeightFiles.read(file);
        StateDicts.loadStrict(backbone, WeightNames.toOfficialBackbone(sd.tensors(), file.toString(), log), file.toString());
    }

    /** What {@link #load} found in a file. */
    public enum Loaded { FULL_MODEL, BACKBONE_ONLY }

    /**
     * Loads a segmentation model: strictly the whole model when the file has {@code head.*}
     * entries, otherwise strictly the backbone (the head keeps its initialisation).
     */
    public static Loaded load(Dinov2Segmentation model, Path file) throws IOException {
        return load(model, file, System.err::println);
    }

    /** {@link #load(Dinov2Segmentation, Path)} with notes to {@code log} (may be null). */
    public static Loaded load(Dinov2Segmentation model, Path file, Consumer<String> log) throws IOException {
        Map<String, HostTensor> sd = WeightNames.withoutWrappers(WeightFiles.read(file).tensors());
        if (sd.keySet().stream().anyMatch(k -> k.startsWith("head."))) {
            StateDicts.loadStrict(model, sd, file.toString());
            return Loaded.FULL_MODEL;
        }
        StateDicts.loadStrict(model.backbone, WeightNames.toOfficialBackbone(sd, file.toString(), log), file.toString());
        return Loaded.BACKBONE_ONLY;
    }

    /** Writes every parameter and buffer of a module as float32 safetensors, atomically. */
    public static void save(Module m, Path file, Map<String, String> metadata) throws IOException {
        Safetensors.write(file, StateDicts.of(m), metadata);
    }
}
