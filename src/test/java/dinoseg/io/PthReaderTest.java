package dinoseg.io;

import dinoseg.model.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.*;

/** torch.save checkpoints read by the restricted unpickler; hostile pickles are refused. */
class PthReaderTest {
    @TempDir Path dir;

    @Test void officialStateDictLoadsToTheSameTensors() throws IOException {
        StateDict pth = WeightFiles.read(Golden.path("plain.pth"));
        Map<String, HostTensor> expected = WeightNames.withoutPrefix(Golden.read("model_plain.safetensors").tensors(), "backbone.");
        assertEquals(expected.keySet(), pth.tensors().keySet());
        for (var e : expected.entrySet()) assertEquals(e.getValue(), pth.get(e.getKey()), e.getKey());
    }

    @Test void wrappedHalfBfloatAndStridedTensors() throws IOException {
        StateDict pth = PthReader.read(Golden.path("wrapped.pth"));
        StateDict expected = Golden.read("wrapped_expected.safetensors");
        assertEquals(expected.tensors(), pth.tensors());
        assertEquals(java.util.Set.of("a", "b", "c", "d", "e"), WeightNames.toOfficialBackbone(pth.tensors()).keySet());
    }

    @Test void convertPthScriptWritesTheSameTensors() throws IOException {
        Map<String, HostTensor> java = WeightNames.toOfficialBackbone(PthReader.read(Golden.path("wrapped.pth")).tensors());
        StateDict py = Safetensors.read(Golden.path("wrapped_converted.safetensors"));
        assertEquals(java, py.tensors());
    }

    /** PyTorch's legacy (non-zip) format, written by tools/gen_legacy_pth.py as _legacy_save does: same tensors. */
    @Test void legacyFormatLoadsTheSameTensors() throws IOException {
        Path legacy = Golden.path("legacy.pth");
        StateDict pth = WeightFiles.read(legacy);
        assertEquals(Golden.read("wrapped_expected.safetensors").tensors(), pth.tensors());
        assertEquals(java.util.List.of("backbone.a", "backbone.b", "backbone.c", "backbone.d", "backbone.e"), java.util.List.copyOf(pth.tensors().keySet()));
    }

    @Test void brokenLegacyFilesSayTheyAreLegacy() throws IOException {
        byte[] b = Files.readAllBytes(Golden.path("legacy.pth"));
        int dataStart = dataStartOfLegacy(b);
        // cut inside the storages, a wrong element count, and a cut inside the main pickle
        Path cut = dir.resolve("cut.pth");
        Files.write(cut, java.util.Arrays.copyOf(b, b.length - 3));
        assertFails(cut, "legacy (pre-1.6) torch.save file: storage");
        byte[] c = b.clone();
        c[dataStart] = 99;
        Path count = dir.resolve("count.pth");
        Files.write(count, c);
        assertFails(count, "holds 99 elements");
        Path pickle = dir.resolve("pickle.pth");
        Files.write(pickle, java.util.Arrays.copyOf(b, 200));
        assertFails(pickle, "legacy (pre-1.6) torch.save file: main pickle");
    }

    /** The byte where the first storage's 8-byte count starts: after the fifth pickle. */
    static int dataStartOfLegacy(byte[] b) {
        int at = 0;
        for (int k = 0; k < 5; k++) at = Pickles.end(b, at);
        return at;
    }

    @Test void tarAndPlainPicklesAreNamedForWhatTheyAre() throws IOException {
        byte[] tar = new byte[1024];
        System.arraycopy("ustar".getBytes(), 0, tar, 257, 5);
        Path t = dir.resolve("old.pth");
        Files.write(t, tar);
        assertFails(t, "tar-format");
        Path p = dir.resolve("plain.pkl");
        Files.write(p, bytes("\u0080\u0002}q\u0000X\u0001\u0000\u0000\u0000aK\u0001s."));
        assertFails(p, "without PyTorch's magic number");
    }

    Path zip(String name, byte[] pickle, Map<String, byte[]> extra) throws IOException {
        Path f = dir.resolve(name);
        try (OutputStream os = Files.newOutputStream(f); ZipOutputStream z = new ZipOutputStream(os)) {
            z.putNextEntry(new ZipEntry("archive/data.pkl"));
            z.write(pickle);
            z.closeEntry();
            for (var e : extra.entrySet()) {
                z.putNextEntry(new ZipEntry("archive/" + e.getKey()));
                z.write(e.getValue());
                z.closeEntry();
            }
        }
        return f;
    }

    static byte[] bytes(String s) { return s.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1); }

    void assertFails(Path f, String fragment) {
        IOException e = assertThrows(IOException.class, () -> WeightFiles.read(f));
        assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
        assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' should mention '" + fragment + "'");
    }

    @Test void refusesForeignGlobalsWithoutRunningThem() throws IOException {
        // protocol 2: os.system("touch <marker>")
        Path marker = dir.resolve("pwned");
        String cmd = "touch " + marker;
        byte[] p = bytes("\u0080\u0002cos\nsystem\nq\u0000X" + le32(cmd.length()) + cmd + "\u0085R.");
        assertFails(zip("evil.pth", p, Map.of()), "os.system");
        assertFalse(Files.exists(marker));
        // protocol 4 STACK_GLOBAL spelling of builtins.eval
        byte[] p4 = bytes("\u0080\u0004\u008c\u0008builtins\u008c\u0004eval\u0093\u008c\u00041+1;\u0085R.");
        assertFails(zip("evil4.pth", p4, Map.of()), "builtins.eval");
        // an allowed global whose call is not allowed
        assertFails(zip("call.pth", bytes("\u0080\u0002ctorch\nFloatStorage\n)R."), Map.of()), "refuses to call");
    }

    @Test void malformedCheckpointsFailCleanly() throws IOException {
        Path notZip = dir.resolve("x.pth");
        Files.write(notZip, bytes("PK\u0003\u0004garbage"));
        assertFails(notZip, "zip");
        assertFails(zip("nopkl.pth", new byte[0], Map.of()), "pickle ends");
        assertFails(zip("trunc.pth", bytes("\u0080\u0002X\u00ff\u00ff\u0000\u0000ab"), Map.of()), "remain");
        assertFails(zip("op.pth", bytes("\u0080\u0002\u00ff."), Map.of()), "opcode");
        assertFails(zip("memo.pth", bytes("\u0080\u0002h\u0005."), Map.of()), "memo");
        // a tensor whose storage file is shorter than declared
        String pkl = "\u0080\u0002}X\u0001\u0000\u0000\u0000wctorch._utils\n_rebuild_tensor_v2\n("
                + "(X\u0007\u0000\u0000\u0000storagectorch\nFloatStorage\nX\u0001\u0000\u0000\u00000X\u0003\u0000\u0000\u0000cpuK\u0004tQ"
                + "K\u0000K\u0004\u0085K\u0001\u0085\u0089ccollections\nOrderedDict\n)RtRs.";
        assertFails(zip("short.pth", bytes(pkl), Map.of("data/0", new byte[8])), "storage 0");
        assertFails(zip("missing.pth", bytes(pkl), Map.of()), "missing");
        Path ok = zip("ok.pth", bytes(pkl), Map.of("data/0", new byte[16]));
        assertArrayEquals(new float[4], WeightFiles.read(ok).get("w").data());
        // a view reaching past its storage
        String past = pkl.replace("K\u0000K\u0004\u0085", "K\u0002K\u0004\u0085");
        assertFails(zip("past.pth", bytes(past), Map.of("data/0", new byte[16])), "past its storage");
    }

    static String le32(int n) {
        return new String(new char[]{(char) (n & 0xff), (char) ((n >> 8) & 0xff), (char) ((n >> 16) & 0xff), (char) ((n >> 24) & 0xff)});
    }
}
