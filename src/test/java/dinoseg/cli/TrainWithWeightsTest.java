package dinoseg.cli;

import dinoseg.backend.Backends;
import dinoseg.checkpoint.Weights;
import dinoseg.io.HostTensor;
import dinoseg.io.Safetensors;
import dinoseg.io.StateDict;
import dinoseg.model.BackboneConfig;
import dinoseg.model.DinoVisionTransformer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The tutorial's main path: pretrained backbone weights given with --weights, a frozen backbone and a
 * trained head. The backbone in the written model must be exactly the file's, and weights that do
 * not fit the backbone must stop the run with one line naming the file.
 */
class TrainWithWeightsTest {
    @TempDir static Path tmp;
    static Path data, backboneJson, weights;

    static String[] run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new String[]{Integer.toString(code), out.toString(), err.toString()};
    }

    @BeforeAll
    static void setUp() throws Exception {
        data = tmp.resolve("data");
        dinoseg.data.DemoData.generate(data, 5);
        String cfg = "{\"embed_dim\": 32, \"depth\": 2, \"heads\": 2, \"pos_grid\": 4}";
        backboneJson = tmp.resolve("tiny.json");
        Files.writeString(backboneJson, cfg);
        // "pretrained" weights: a backbone from another seed than the run's, saved with official names
        DinoVisionTransformer pre = new DinoVisionTransformer(Backends.cpu(), BackboneConfig.fromJson("tiny", cfg, "test"), 4242);
        weights = tmp.resolve("pretrained.safetensors");
        Weights.save(pre, weights, Map.of());
    }

    @Test
    void frozenRunKeepsTheGivenBackboneExactlyAndTrainsTheHead() throws Exception {
        Path out = tmp.resolve("run");
        String[] r = run("train", "--data", data.toString(), "--backbone", backboneJson.toString(), "--weights", weights.toString(),
                "--epochs", "1", "--imgsz", "56", "--batch", "8", "--lr", "1e-2", "--device", "cpu", "--seed", "1",
                "--out-dir", out.toString());
        assertEquals("0", r[0], r[2]);
        assertFalse(r[2].contains("no --weights"), "no random-backbone warning when weights are given: " + r[2]);

        StateDict given = Safetensors.read(weights);
        StateDict written = Safetensors.read(out.resolve("final_model.safetensors"));
        int compared = 0;
        for (var e : given.tensors().entrySet()) {
            HostTensor w = written.get("backbone." + e.getKey());
            assertNotNull(w, "final_model lacks backbone." + e.getKey());
            assertArrayEquals(e.getValue().data(), w.data(), 0f, "frozen backbone tensor changed: " + e.getKey());
            compared++;
        }
        assertEquals(given.tensors().size(), compared);
        assertTrue(Files.readString(out.resolve("config.json")).contains("pretrained.safetensors"), "config.json records the weights file");

        // the head-only file of a frozen run names the weights file, so it reloads the same model
        Path head = out.resolve("final_model_head.safetensors");
        assertTrue(Files.exists(head), "a frozen run writes head-only files");
        {
            var full = dinoseg.checkpoint.ModelCheckpoint.load(out.resolve("final_model.safetensors"), Backends.cpu());
            var fromHead = dinoseg.checkpoint.ModelCheckpoint.load(head, Backends.cpu());
            assertEquals(dinoseg.checkpoint.StateDicts.of(full.model()).keySet(), dinoseg.checkpoint.StateDicts.of(fromHead.model()).keySet());
            for (var e : dinoseg.checkpoint.StateDicts.of(full.model()).entrySet())
                assertArrayEquals(e.getValue().data(), dinoseg.checkpoint.StateDicts.of(fromHead.model()).get(e.getKey()).data(), 0f, e.getKey());
        }
    }

    @Test
    void weightsThatDoNotFitTheBackboneAreOneLineNamingTheFile() throws Exception {
        Path wrong = tmp.resolve("wrong.safetensors");
        DinoVisionTransformer other = new DinoVisionTransformer(Backends.cpu(),
                BackboneConfig.fromJson("other", "{\"embed_dim\": 16, \"depth\": 1, \"heads\": 2, \"pos_grid\": 4}", "test"), 1);
        Weights.save(other, wrong, Map.of());
        String[] r = run("train", "--data", data.toString(), "--backbone", backboneJson.toString(), "--weights", wrong.toString(),
                "--epochs", "1", "--imgsz", "56", "--device", "cpu", "--out-dir", tmp.resolve("run2").toString());
        assertNotEquals("0", r[0]);
        String err = r[2].lines().filter(l -> l.startsWith("error:")).findFirst().orElse("");
        assertTrue(err.contains(wrong.toString()), r[2]);
        assertTrue(err.contains("missing") || err.contains("wrongly shaped") || err.contains("unexpected"), err);
        assertFalse(r[2].contains("\tat "), "no stack trace");

        String[] missing = run("train", "--data", data.toString(), "--backbone", backboneJson.toString(), "--weights",
                tmp.resolve("nope.pth").toString(), "--epochs", "1", "--imgsz", "56", "--device", "cpu",
                "--out-dir", tmp.resolve("run3").toString());
        assertNotEquals("0", missing[0]);
        assertTrue(missing[2].contains("nope.pth"), missing[2]);
    }
}
