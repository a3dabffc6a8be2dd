package dinoseg.cli;

import static dinoseg.cli.CliRun.run;

import dinoseg.cli.CliRun.Run;

import dinoseg.io.JsonText;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.FileSystemLoopException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The one-line errors: file-system exceptions (whose message is often the bare path) say the
 * problem, JSON and flag errors are in our words, bad flag values exit 2 with the usage hint.
 */
class ErrorMessagesTest {

    /** A command that throws what it is given, run through the real handlers. */
    @CommandLine.Command(name = "throw")
    static final class Thrower implements Callable<Integer> {
        final Exception ex;

        Thrower(Exception ex) { this.ex = ex; }

        @Override public Integer call() throws Exception { throw ex; }
    }

    static String handled(Exception ex) {
        CommandLine cl = new CommandLine(new Thrower(ex));
        cl.setExecutionExceptionHandler(new ErrorHandler());
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err, true));
        assertEquals(1, cl.execute());
        return err.toString().strip();
    }

    @Test void fileSystemExceptionsNameTheFileAndTheProblem(@TempDir Path dir) throws Exception {
        assertEquals("error: README.md: not a directory", handled(new NotDirectoryException("README.md")));
        assertEquals("error: a/b: no such file or directory", handled(new NoSuchFileException("a/b")));
        assertEquals("error: /proc/nope: permission denied", handled(new AccessDeniedException("/proc/nope")));
        assertEquals("error: out: already exists", handled(new FileAlreadyExistsException("out")));
        assertEquals("error: runs: directory not empty", handled(new DirectoryNotEmptyException("runs")));
        assertEquals("error: x -> y: Read-only file system", handled(new FileSystemException("x", "y", "Read-only file system")));
        assertEquals("error: loop: file system loop", handled(new FileSystemLoopException("loop")));
        assertEquals("error: a/tmp -> a/final: no such file or directory", handled(new NoSuchFileException("a/tmp", "a/final", null)));
        assertEquals("error: z: not a directory",
                handled(new UncheckedIOException(new NotDirectoryException("z"))));
        // a file in the way of a folder to create: the file is named
        Path file = Files.writeString(dir.resolve("README.md"), "text");
        assertEquals("error: " + file + ": not a directory (" + file.resolve("valid_preds") + " is to be inside it)",
                handled(new FileSystemException(file.resolve("valid_preds").toString(), null, "Not a directory")));
        // other exceptions keep their message
        assertEquals("error: x.png: not an image", handled(new IllegalArgumentException("x.png: not an image")));
    }

    @Test void trainIntoAFileSaysNotADirectory(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("data");
        dinoseg.data.DemoData.generate(data, 3);
        Path file = Files.writeString(dir.resolve("README.md"), "# not a folder\n");
        Path tiny = Files.writeString(dir.resolve("tiny.json"), "{\"embed_dim\": 32, \"depth\": 2, \"heads\": 2, \"pos_grid\": 4}");
        Run r = run("train", "--data", data.toString(), "--backbone", tiny.toString(), "--epochs", "1", "--imgsz", "28",
                "--device", "cpu", "--out-dir", file.toString());
        assertEquals(1, r.code(), r.err());
        List<String> errors = r.err().lines().filter(l -> l.startsWith("error:")).toList();
        assertEquals(1, errors.size(), r.err());
        assertTrue(errors.get(0).startsWith("error: " + file + ": is a file, not a folder"), errors.get(0));
    }

    @Test void jsonErrorsGiveThePositionNotGsonsInternals(@TempDir Path dir) throws Exception {
        Path readme = Files.writeString(dir.resolve("README.md"), "# dinoseg\n\nA segmentation engine: {train, infer}.\n");
        Run classes = run("data", "check", "--data", dir.toString(), "--classes", readme.toString());
        assertEquals(1, classes.code(), classes.err());
        String line = classes.err().lines().filter(l -> l.startsWith("error:")).findFirst().orElseThrow();
        assertTrue(line.matches("error: .*README\\.md: not valid JSON \\(line \\d+ column \\d+\\)"), line);
        Run summary = run("summary", "--backbone", readme.toString());
        assertEquals(1, summary.code(), summary.err());
        assertTrue(summary.err().strip().matches("error: .*README\\.md: not valid JSON \\(line \\d+ column \\d+\\)"), summary.err());
        for (Run r : List.of(classes, summary))
            assertFalse(r.err().contains("gson") || r.err().contains("http") || r.err().contains("Strictness"), r.err());
        assertEquals("not valid JSON (line 3 column 7)",
                JsonText.describe(new com.google.gson.JsonSyntaxException("com.google.gson.stream.MalformedJsonException: Use "
                        + "JsonReader.setStrictness(Strictness.LENIENT) to accept malformed JSON at line 3 column 7 path $\nSee https://x")));
        assertEquals("Expected a string but was BEGIN_ARRAY at line 1 column 10",
                JsonText.clean("java.lang.IllegalStateException: Expected a string but was BEGIN_ARRAY at line 1 column 10 path $.name\n"
                        + "See https://github.com/google/gson/blob/main/Troubleshooting.md#unexpected-json-structure"));
    }

    private static void assertUsageError(Run r, String contains) {
        assertEquals(2, r.code(), r.err());
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.get(0).startsWith("error: ") && lines.get(0).contains(contains) && lines.get(0).contains("--help')"), lines.get(0));
    }

    @Test void badFlagValuesAreUsageErrors(@TempDir Path dir) throws Exception {
        assertUsageError(run("summary", "--classes", "0"), "--classes");
        assertUsageError(run("summary", "--head", "foo"), "--head");
        assertUsageError(run("summary", "--imgsz", "0"), "--imgsz");
        assertUsageError(run("summary", "--layers", "20"), "--layers: block 20");
        assertUsageError(run("summary", "--backbone", "huge"), "unknown backbone 'huge'");
        assertUsageError(run("features", "--backbone", "small", "--input", "x.png", "--out", "f.safetensors", "--device", "gpu"), "--device");
        assertUsageError(run("data", "check"), "no dataset");
        Path data = dir.resolve("data");
        dinoseg.data.DemoData.generate(data, 3);
        assertUsageError(run("train", "--data", data.toString(), "--mask-format", "foo"), "--mask-format");
        assertUsageError(run("train", "--data", data.toString(), "--backbone", "foo"), "unknown backbone 'foo'");
        assertUsageError(run("train", "--data", data.toString(), "--device", "gpu"), "--device");
        assertUsageError(run("eval", "--checkpoint", "x.safetensors", "--device", "gpu"), "--device");
        assertUsageError(run("bench", "--device", "gpu"), "--device");
    }

    @Test void aRepeatedImageSizeIsRefused() {
        assertUsageError(run("summary", "--imgsz", "56", "--imgsz", "112"), "--imgsz given twice");
        assertUsageError(run("summary", "--imgsz=56", "--imgsz", "112", "56"), "--imgsz given twice");
        assertUsageError(run("train", "--demo", "--imgsz", "28", "--imgsz", "56"), "--imgsz given twice");
        assertUsageError(run("eval", "--checkpoint", "x.safetensors", "--imgsz", "28", "--imgsz", "56"), "--imgsz given twice");
        assertUsageError(run("features", "--backbone", "small", "--input", "x.png", "--out", "f.safetensors", "--imgsz", "28", "--imgsz", "56"),
                "--imgsz given twice");
        // bench's --imgsz takes one value: picocli itself refuses a repeat
        assertEquals(2, run("bench", "--imgsz", "28", "--imgsz", "56").code());
        // given once, both forms still work
        Run once = run("summary", "--backbone", "small", "--imgsz", "56", "112");
        assertEquals(0, once.code(), once.err());
        assertTrue(once.out().contains("[1, 3, 112, 56]"), once.out());
    }
}
