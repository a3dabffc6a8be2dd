package dinoseg.io;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Weight files to host tensors, whatever their format: safetensors (any name) and torch.save
 * checkpoints ({@code .pth}, {@code .pt}, {@code .bin}: recognised by their content, the zip format
 * of PyTorch ≥ 1.6 and the legacy format before it). Names are returned as the file has them;
 * {@link WeightNames} brings backbone names to the official ones, and {@code dinoseg.checkpoint.Weights}
 * loads them into models.
 *
 * <p>Every problem with a file is one {@link IOException} line that starts with the file's path,
 * whatever the file holds: the readers bound work and memory by the file's size, and as a last
 * resort a {@link StackOverflowError} or {@link OutOfMemoryError} while reading becomes such a line.
 */
public final class WeightFiles {
    private WeightFiles() { }

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
        if (Files.isDirectory(file)) throw new IOException(file + ": is a directory, not a weight file");
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
        if (head.length == 0) throw new IOException(file + ": is empty, not a weight file");
        String text = textStart(head);
        if (text != null && text.startsWith("version https://git-lfs"))   // a clone without git-lfs holds these in place of the weights
            throw new IOException(file + ": is a Git LFS pointer, not the weights it stands for (fetch them: git lfs pull)");
        if (text != null && !plausibleSafetensors(head, Files.size(file)))   // a JSON, YAML or CSV file passed by mistake
            throw new IOException(file + ": is text (it starts '" + text + "'), not a weight file: neither a torch.save checkpoint nor safetensors");
        return Safetensors.read(file);
    }

    /**
     * The first characters of {@code head} (up to 24, control characters shown as spaces) when its
     * first 64 bytes are printable ASCII or white space, as a text file's are and a weight file's
     * 8-byte little-endian header length never is; otherwise null.
     */
    private static String textStart(byte[] head) {
        int n = Math.min(head.length, 64);
        for (int i = 0; i < n; i++) {
            int b = head[i] & 0xff;
            if (!(b >= 0x20 && b < 0x7f) && b != '\n' && b != '\r' && b != '\t') return null;
        }
        return new String(head, 0, Math.min(n, 24), StandardCharsets.US_ASCII).replaceAll("\\s", " ").strip();
    }

    /** Whether the first 8 bytes could be a safetensors header length for a file of {@code size} bytes. */
    private static boolean plausibleSafetensors(byte[] head, long size) {
        if (head.length < 8) return false;
        long n = 0;
        for (int i = 7; i >= 0; i--) n = (n << 8) | (head[i] & 0xff);
        return n >= 2 && n <= size - 8;
    }
}
