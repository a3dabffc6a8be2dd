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
        StateDict pth = Weights.read(Golden.path("plain.pth"));
        Map<String, HostTensor> expected = StateDicts.withoutPrefix(Golden.read("model_plain.safetensors").tensors(), "backbone.");
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
        IOException e = assertThrows(IOException.class, () -> Weights.read(f));
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
        assertArrayEquals(new float[4], Weights.read(ok).get("w").data());
        // a view reaching past its storage
        String past = pkl.replace("K\u0000K\u0004\u0085", "K\u0002K\u0004\u0085");
        assertFails(zip("past.pth", bytes(past), Map.of("data/0", new byte[16])), "past its storage");
    }

    static String le32(int n) {
        return new String(new char[]{(char) (n & 0xff), (char) ((n >> 8) & 0xff), (char) ((n >> 16) & 0xff), (char) ((n >> 24) & 0xff)});
    }
}
