package dinoseg.cli;

import dinoseg.backend.Backends;
import dinoseg.checkpoint.ModelCheckpoint;
import dinoseg.io.HostTensor;
import dinoseg.io.Safetensors;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.SegmentationHead;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dinoseg.cli.InferCommandTest.CLASSES;
import static dinoseg.cli.InferCommandTest.image;
import static dinoseg.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Paths given for the wrong thing: an output that is the input, a folder where a file goes (or the
 * other way round), a training state where a model checkpoint goes, outputs written beside the
 * inputs. Each is one line naming the path and the problem, before any work; nothing is overwritten.
 */
class PathMistakesCommandTest {
    @TempDir static Path shared;
    static Path checkpoint;

    @BeforeAll static void writeCheckpoint() throws Exception { checkpoint = InferCommandTest.tinyCheckpoint(shared); }

    /** The one "error:" line of a run's stderr. */
    private static String errorLine(CliRun.Run r) {
        List<String> lines = r.err().lines().filter(l -> l.startsWith("error:")).toList();
        assertEquals(1, lines.size(), r.err());
        return lines.get(0);
    }

    private static List<String> names(Path dir) throws Exception {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    // ---- 1. the output is the input

    @Test void inferVideoRefusesToWriteOverItsInput(@TempDir Path dir) throws Exception {
        byte[] video = "stand-in for a video".getBytes();
        Path v = Files.write(dir.resolve("v.mp4"), video);
        Path link = Files.createSymbolicLink(dir.resolve("link.mp4"), v);
        for (String[] io : new String[][] {{v.toString(), v.toString()}, {v.toString(), dir.resolve("sub/../v.mp4").toString()},
                {link.toString(), v.toString()}}) {
            CliRun.Run r = run("infer-video", "--checkpoint", checkpoint.toString(), "--input", io[0], "--out", io[1], "--device", "cpu");
            assertEquals(2, r.code(), r.err());
            String line = errorLine(r);
            assertTrue(line.contains("--out " + io[1] + ": is the --input file") && line.contains("overwrite"), line);
        }
        assertArrayEquals(video, Files.readAllBytes(v));
    }

    // ---- 3. --out names a folder

    @Test void anOutputThatIsAFolderStopsBeforeAnyWork(@TempDir Path dir) throws Exception {
        Path folder = Files.createDirectories(dir.resolve("out"));
        Path img = dir.resolve("in.png");
        image(img, 28, 28, 3);
        Path video = Files.write(dir.resolve("v.mp4"), new byte[] {1, 2, 3});
        List<String[]> commands = List.of(
                new String[] {"features", "--backbone", "small", "--input", img.toString(), "--imgsz", "28", "--device", "cpu", "--out", folder.toString()},
                new String[] {"eval", "--checkpoint", checkpoint.toString(), "--data", dir.resolve("no-data").toString(), "--device", "cpu", "--out", folder.toString()},
                new String[] {"infer-video", "--checkpoint", checkpoint.toString(), "--input", video.toString(), "--device", "cpu", "--out", folder.toString()});
        for (String[] c : commands) {
            CliRun.Run r = run(c);
            assertEquals(2, r.code(), c[0] + ": " + r.err());
            assertTrue(errorLine(r).startsWith("error: --out " + folder + ": is a directory; give a file name"), r.err());
            assertEquals(List.of("in.png", "out", "v.mp4"), names(dir), "nothing written beside it");
            assertEquals(List.of(), names(folder));
        }
    }

    @Test void anOutputUnderAFileCannotBeWritten(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("notes.txt"), "x");
        Path img = dir.resolve("in.png");
        image(img, 28, 28, 3);
        // a folder that cannot be made is a run-time error (exit 1) in every command, as the README says
        List<String[]> commands = List.of(
                new String[] {"features", "--backbone", "small", "--input", img.toString(), "--imgsz", "28", "--device", "cpu",
                        "--out", file.resolve("sub/f.safetensors").toString()},
                new String[] {"eval", "--checkpoint", checkpoint.toString(), "--data", dir.resolve("no-data").toString(), "--device", "cpu",
                        "--out", file.resolve("m.json").toString()});
        for (String[] c : commands) {
            CliRun.Run r = run(c);
            assertEquals(1, r.code(), c[0] + ": " + r.err());
            assertTrue(errorLine(r).contains("cannot create its folder") && errorLine(r).contains(file + " is a file"), r.err());
        }
    }

    // ---- 4. a folder where a file goes, a file where a folder goes

    @Test void aRunFolderGivenAsCheckpointNamesItsCheckpoints(@TempDir Path dir) throws Exception {
        Path runDir = Files.createDirectories(dir.resolve("run"));
        Files.copy(checkpoint, runDir.resolve("best_model_iou.safetensors"));
        Path img = dir.resolve("a.png");
        image(img, 28, 28, 1);
        for (String cmd : List.of("infer", "eval")) {
            CliRun.Run r = cmd.equals("infer")
                    ? run("infer", "--checkpoint", runDir.toString(), "--input", img.toString(), "--out-dir", dir.resolve("o").toString(), "--device", "cpu")
                    : run("eval", "--checkpoint", runDir.toString(), "--device", "cpu");
            assertTrue(errorLine(r).endsWith(runDir + ": is a run folder; pass one of its checkpoints, e.g. "
                    + runDir.resolve("best_model_iou.safetensors")), cmd + ": " + r.err());
        }
        Path empty = Files.createDirectories(dir.resolve("empty"));
        CliRun.Run r = run("eval", "--checkpoint", empty.toString(), "--device", "cpu");
        assertTrue(errorLine(r).endsWith(empty + ": is a directory, not a checkpoint file"), r.err());
    }

    @Test void aFolderWhereAFileGoesIsSaidToBeAFolder(@TempDir Path dir) throws Exception {
        Path folder = Files.createDirectories(dir.resolve("d"));
        CliRun.Run w = run("weights", "check", folder.toString());
        assertEquals(1, w.code(), w.err());
        assertEquals("error: " + folder + ": is a directory, not a weight file", errorLine(w));
        CliRun.Run f = run("features", "--backbone", "small", "--input", folder.toString(), "--device", "cpu",
                "--out", dir.resolve("f.safetensors").toString());
        assertEquals("error: " + folder + ": is a directory, not an input file", errorLine(f));
        CliRun.Run v = run("infer-video", "--checkpoint", checkpoint.toString(), "--input", folder.toString(), "--device", "cpu",
                "--out", dir.resolve("v.mp4").toString());
        assertEquals("error: " + folder + ": is a directory, not a video file", errorLine(v));
    }

    @Test void aFileWhereAFolderGoesIsSaidToBeAFile(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("data.txt"), "x");
        CliRun.Run r = run("eval", "--checkpoint", checkpoint.toString(), "--data", file.toString(), "--device", "cpu");
        assertEquals("error: " + file + ": is a file, not a folder", errorLine(r));
    }

    // ---- 6. a training state given as a checkpoint

    @Test void aTrainingStateIsToldApartFromBackboneWeights(@TempDir Path dir) throws Exception {
        Path state = dir.resolve("last_state.safetensors");
        Safetensors.write(state, Map.of("model/w", HostTensor.of(new float[] {1}, 1)), Map.of(ModelCheckpoint.RESUME_STATE_KEY, "{}"));
        Path img = dir.resolve("a.png");
        image(img, 28, 28, 1);
        CliRun.Run r = run("infer", "--checkpoint", state.toString(), "--input", img.toString(), "--out-dir", dir.resolve("o").toString(),
                "--device", "cpu");
        String line = errorLine(r);
        assertTrue(line.contains(state + ": is a training state (for train --resume), not a model checkpoint"), line);
        assertFalse(line.contains("--weights"), line);
        assertTrue(line.contains("final_model.safetensors") && line.contains("best_model_iou.safetensors"), line);
        Files.copy(checkpoint, dir.resolve("final_model.safetensors"));
        line = errorLine(run("infer", "--checkpoint", state.toString(), "--input", img.toString(), "--out-dir", dir.resolve("o").toString(),
                "--device", "cpu"));
        assertTrue(line.endsWith("pass " + dir.resolve("final_model.safetensors") + " from the same folder"), line);
    }

    // ---- 2. outputs written into the input's own folder

    @Test void aUsersMaskBesideTheInputIsNotOverwritten(@TempDir Path dir) throws Exception {
        image(dir.resolve("a.png"), 28, 28, 1);
        byte[] mine = "my own ground truth".getBytes();
        Files.write(dir.resolve("a_mask.png"), mine);
        CliRun.Run r = run("infer", "--checkpoint", checkpoint.toString(), "--input", dir.resolve("a.png").toString(),
                "--out-dir", dir.toString(), "--device", "cpu");
        assertEquals(2, r.code(), r.err());
        assertTrue(errorLine(r).contains(dir.resolve("a_mask.png") + ": already exists in the input folder"), r.err());
        assertArrayEquals(mine, Files.readAllBytes(dir.resolve("a_mask.png")));
        assertEquals(List.of("a.png", "a_mask.png"), names(dir));
    }

    @Test void aFolderSegmentedIntoItselfSkipsOutputsAndRefusesToOverwrite(@TempDir Path dir) throws Exception {
        image(dir.resolve("valid_000.png"), 28, 28, 1);
        image(dir.resolve("b_overlay.png"), 28, 28, 2);   // named like an output: not segmented when writing here
        CliRun.Run first = run("infer", "--checkpoint", checkpoint.toString(), "--input", dir.toString(), "--out-dir", dir.toString(),
                "--device", "cpu");
        assertEquals(0, first.code(), first.err());
        assertTrue(first.err().contains("skipping 1 file named like infer outputs"), first.err());
        assertEquals(List.of("b_overlay.png", "valid_000.png", "valid_000_mask.png", "valid_000_overlay.png"), names(dir));
        byte[] mask = Files.readAllBytes(dir.resolve("valid_000_mask.png"));
        CliRun.Run again = run("infer", "--checkpoint", checkpoint.toString(), "--input", dir.toString(), "--out-dir", dir.toString(),
                "--device", "cpu");
        assertEquals(2, again.code(), again.err());
        assertTrue(errorLine(again).contains("valid_000_mask.png: already exists in the input folder"), again.err());
        assertFalse(again.out().contains("valid_000_mask_mask"), again.out());
        assertEquals(List.of("b_overlay.png", "valid_000.png", "valid_000_mask.png", "valid_000_overlay.png"), names(dir));
        assertArrayEquals(mask, Files.readAllBytes(dir.resolve("valid_000_mask.png")));
        // another --out-dir is written over as before
        Path out = Files.createDirectories(dir.resolve("elsewhere"));
        for (int i = 0; i < 2; i++)
            assertEquals(0, run("infer", "--checkpoint", checkpoint.toString(), "--input", dir.resolve("valid_000.png").toString(),
                    "--out-dir", out.toString(), "--device", "cpu").code());
    }
}
