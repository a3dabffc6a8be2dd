package dinoseg.io;

import dinoseg.model.DinoVisionTransformer;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.nn.Module;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Weight files in and out of models. Reads safetensors (any name) and torch.save checkpoints
 * ({@code .pth}, {@code .pt}, {@code .bin}: recognised by their zip signature). Backbone files may
 * use the official or the Hugging Face names, with or without a {@code backbone.} prefix; a full
 * segmentation model file holds {@code backbone.*} and {@code head.*}.
 */
public final class Weights {
    private Weights() { }

    /** Every tensor of a weight file as float32, by format. */
    public static StateDict read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new NoSuchFileException(file + ": no such weight file");
        byte[] magic;
        try (InputStream in = Files.newInputStream(file)) {
            magic = in.readNBytes(4);
        }
        if (magic.length >= 2 && magic[0] == 'P' && magic[1] == 'K') return PthReader.read(file);
        return Safetensors.read(file);
    }

    /** Loads a backbone strictly from any supported file and naming. */
    public static void loadBackbone(DinoVisionTransformer backbone, Path file) throws IOException {
        StateDict sd = read(file);
        StateDicts.loadStrict(backbone, WeightNames.toOfficialBackbone(sd.tensors()), file.toString());
    }

    /** What {@link #load} found in a file. */
    public enum Loaded { FULL_MODEL, BACKBONE_ONLY }

    /**
     * Loads a segmentation model: strictly the whole model when the file has {@code head.*}
     * entries, otherwise strictly the backbone (the head keeps its initialisation).
     */
    public static Loaded load(Dinov2Segmentation model, Path file) throws IOException {
        StateDict sd = read(file);
        if (sd.tensors().keySet().stream().anyMatch(k -> k.startsWith("head."))) {
            StateDicts.loadStrict(model, sd.tensors(), file.toString());
            return Loaded.FULL_MODEL;
        }
        StateDicts.loadStrict(model.backbone, WeightNames.toOfficialBackbone(sd.tensors()), file.toString());
        return Loaded.BACKBONE_ONLY;
    }

    /** Writes every parameter and buffer of a module as float32 safetensors, atomically. */
    public static void save(Module m, Path file, Map<String, String> metadata) throws IOException {
        Safetensors.write(file, StateDicts.of(m), metadata);
    }
}
