package dinoseg.io;

import dinoseg.model.DinoVisionTransformer;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.nn.Module;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Weight files in and out of models. Reads safetensors (any name) and torch.save checkpoints
 * ({@code .pth}, {@code .pt}, {@code .bin}: recognised by their content, the zip format of
 * PyTorch ≥ 1.6 and the legacy format before it). Backbone files may use the official or the
 * Hugging Face names under any wrapper prefix ({@link WeightNames}); a full segmentation model file
 * holds {@code backbone.*} and {@code head.*}.
 *
 * <p>Every problem with a file is one {@link IOException} line that starts with the file's path,
 * whatever the file holds: the readers bound work and memory by the file's size, and as a last
 * resort a {@link StackOverflowError} or {@link OutOfMemoryError} while reading becomes such a line.
 */
public final class Weights {
    private Weights() { }

    /** Every tensor of a weight file as float32, by format. */
    public static StateDict read(Path file) throws IOException {
        try {
            return readUnguarded(file);
        } catch (StackOverflowError e) {
            throw new IOException(file + ": its structure is nested too deeply to read");
        } catch (OutOfMemoryError e) {
            throw new IOException(file + ": reading it needs more memory than the Java heap's "
                    + (Runtime.getRuntime().maxMemory() >> 20) + " MiB (raise -Xmx)");
        }
    }

    /** {@link #read} without turning Errors into IOExceptions (the fuzzer counts those as failures). */
    static StateDict readUnguarded(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new NoSuchFileException(file + ": no such weight file");
        byte[] head;
        try (InputStream in = Files.newInputStream(file)) {
            head = in.readNBytes(512);
        }
        if (PthReader.isZip(head) || PthReader.isLegacy(head)) return PthReader.read(file);
        if (head.length >= 262 && new String(head, 257, 5, StandardCharsets.US_ASCII).equals("ustar"))
            throw new IOException(file + ": a tar-format torch.save checkpoint (PyTorch < 0.4), which is not supported: "
                    + "re-save it with PyTorch >= 1.6 (torch.save(torch.load(f), g)) or convert it with tools/convert_pth.py");
        if (head.length >= 2 && (head[0] & 0xff) == 0x80 && head[1] >= 1 && head[1] <= 5 && !plausibleSafetensors(head, Files.size(file)))
            throw new IOException(file + ": a Python pickle without PyTorch's magic number: neither a torch.save checkpoint nor safetensors");
        return Safetensors.read(file);
    }

    /** Whether the first 8 bytes could be a safetensors header length for a file of {@code size} bytes. */
    private static boolean plausibleSafetensors(byte[] head, long size) {
        if (head.length < 8) return false;
        long n = 0;
        for (int i = 7; i >= 0; i--) n = (n << 8) | (head[i] & 0xff);
        return n >= 2 && n <= size - 8;
    }

    /** Loads a backbone strictly from any supported file and naming; notes (which backbone was taken) go to stderr. */
    public static void loadBackbone(DinoVisionTransformer backbone, Path file) throws IOException {
        loadBackbone(backbone, file, System.err::println);
    }

    /** Loads a backbone strictly from any supported file and naming; {@code log} gets notes (may be null). */
    public static void loadBackbone(DinoVisionTransformer backbone, Path file, Consumer<String> log) throws IOException {
        StateDict sd = read(file);
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
        Map<String, HostTensor> sd = WeightNames.withoutWrappers(read(file).tensors());
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
