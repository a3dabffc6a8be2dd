package dinoseg.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dinoseg.model.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** {@code dinoseg weights check|fuzz}, and Errors escaping a command printed as one line. */
class WeightsCommandTest {
    @TempDir Path dir;

    record Run(int code, String out, String err) { }

    static Run run(CommandLine cl, String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = Main.execute(cl, args);
        return new Run(code, out.toString(), err.toString());
    }

    @Test void fuzzPrintsOneJsonSummary() {
        Run r = run(Main.commandLine(), "weights", "fuzz", "--cases", "60", "--seed", "3", "--save", dir.resolve("s").toString());
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().strip().split("\n");
        assertEquals(1, lines.length, r.out());
        JsonObject o = JsonParser.parseString(lines[0]).getAsJsonObject();
        assertEquals(60, o.get("cases").getAsInt());
        assertEquals(0, o.get("unexpected").getAsInt());
        assertEquals(60, o.get("ok").getAsInt() + o.get("rejected").getAsInt());
        assertFalse(Files.exists(dir.resolve("s")), "nothing to save");
    }

    @Test void checkReadsLegacyAndNamesBadFiles() throws Exception {
        Path bad = dir.resolve("bad.pth");
        Files.write(bad, new byte[]{'P', 'K', 3, 4, 0});
        Run r = run(Main.commandLine(), "weights", "check", Golden.path("legacy.pth").toString(), bad.toString());
        assertEquals(1, r.code());
        assertTrue(r.out().contains("legacy.pth: 5 tensors, 27 values"), r.out());
        assertEquals(1, r.err().strip().split("\n").length, r.err());
        assertTrue(r.err().startsWith("error: " + bad + ": "), r.err());
    }

    @CommandLine.Command(name = "boom")
    static final class Boom implements Runnable {
        @CommandLine.Option(names = "--oom") boolean oom;
        @CommandLine.Option(names = "--verbose") boolean verbose;

        @Override public void run() {
            if (oom) throw new OutOfMemoryError("Java heap space");
            recurse(0);
        }

        static int recurse(int n) { return recurse(n + 1) + 1; }
    }

    @Test void aHeadOnlyFileIsSaidToHaveNoBackbone() throws Exception {
        Path head = dir.resolve("final_model_head.safetensors");
        dinoseg.io.Safetensors.write(head, java.util.Map.of(
                "head.conv.weight", new dinoseg.io.HostTensor(dinoseg.tensor.Shape.of(3, 8, 1, 1), new float[24]),
                "head.conv.bias", new dinoseg.io.HostTensor(dinoseg.tensor.Shape.of(3), new float[3])));
        Run r = run(Main.commandLine(), "weights", "check", head.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains(head + ": 2 tensors, 27 values; no backbone: a segmentation head only (2 head.* tensors)"), r.out());
    }

    @Test void errorsBecomeOneLine() {
        Run so = run(new CommandLine(new Boom()));
        assertEquals(1, so.code());
        assertEquals("error: stack overflow (an input nested too deeply?); rerun with --verbose for the stack trace", so.err().strip());
        Run oom = run(new CommandLine(new Boom()), "--oom");
        assertEquals(1, oom.code());
        assertEquals(1, oom.err().strip().split("\n").length, oom.err());
        assertTrue(oom.err().startsWith("error: out of memory (Java heap space): the Java heap holds at most "), oom.err());
        Run verbose = run(new CommandLine(new Boom()), "--oom", "--verbose");
        assertTrue(verbose.err().contains("at dinoseg.cli.WeightsCommandTest$Boom.run"), verbose.err());
    }
}
