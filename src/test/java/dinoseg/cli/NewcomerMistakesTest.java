package dinoseg.cli;

import static dinoseg.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dinoseg.checkpoint.OfficialModels;
import dinoseg.checkpoint.OfficialModelsTest;
import dinoseg.cli.CliRun.Run;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * What a first-time user (used to PyTorch) types wrong with --model, --classes and --precision, and
 * the one line each gets back instead of a cryptic one or a silently wrong result.
 */
class NewcomerMistakesTest {
    @TempDir static Path shared;
    static Path checkpoint, image;
    static Function<String, Path> saved;

    @BeforeAll static void setUp() throws Exception {
        OfficialModelsTest.registerTiny();
        saved = OfficialModels.fetcher;
        OfficialModels.fetcher = OfficialModelsTest.local();
        checkpoint = InferCommandTest.tinyCheckpoint(shared);   // 3 classes: background, circle, square
        image = shared.resolve("a.png");
        InferCommandTest.image(image, 30, 20, 3);
    }

    @AfterAll static void restore() { OfficialModels.fetcher = saved; }

    private static String onlyErrorLine(Run r) {
        List<String> errors = r.err().lines().filter(l -> l.startsWith("error:")).toList();
        assertEquals(1, errors.size(), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
        return errors.get(0);
    }

    @Test void aMistypedOfficialNameGetsTheNearestName(@TempDir Path dir) {
        Run r = run("infer", "--model", "dinov2_vits14_voc_linear", "--input", image.toString(), "--out-dir", dir.toString());
        OfficialModelCommandTest.assertUsage(r, "did you mean dinov2_vits14_voc2012_linear?");
        OfficialModelCommandTest.assertUsage(run("eval", "--model", "dinov2_vitb14_ade20k_linaer", "--data", dir.toString()),
                "did you mean dinov2_vitb14_ade20k_linear?");
        OfficialModelCommandTest.assertUsage(run("infer", "--model", "dinov2_vits14_reg_voc2012_linear", "--input", image.toString(),
                "--out-dir", dir.toString()), "no segmentation heads were published for the register backbones");
        // a name far from every official one gets no guess
        Run far = run("infer", "--model", "outputs/run1/best.safetensors", "--input", image.toString(), "--out-dir", dir.toString());
        OfficialModelCommandTest.assertUsage(far, "nor an existing checkpoint file");
        assertFalse(far.err().contains("did you mean"), far.err());
    }

    @Test void aPthFileGivenAsTheModelIsNamedAsOne(@TempDir Path dir) {
        for (String f : List.of("dinov2_tiny14/dinov2_tiny14_pretrain.pth", "dinov2_tiny14/dinov2_tiny14_voc2012_linear_head.pth")) {
            Path pth = OfficialModelsTest.local().apply(f);
            Run r = run("infer", "--model", pth.toString(), "--input", image.toString(), "--out-dir", dir.toString(), "--device", "cpu");
            assertEquals(1, r.code(), r.err());
            String line = onlyErrorLine(r);
            assertTrue(line.contains(pth + ": a PyTorch (torch.save) file, not a dinoseg checkpoint")
                    && line.contains("train --weights") && !line.contains("header length"), line);
        }
    }

    @Test void evalOfAnOfficialModelWithoutDataIsAUsageErrorBeforeAnyDownload() {
        AtomicInteger fetched = new AtomicInteger();
        Function<String, Path> f = OfficialModels.fetcher;
        OfficialModels.fetcher = rel -> { fetched.incrementAndGet(); return f.apply(rel); };
        try {
            Run r = run("eval", "--model", "dinov2_tiny14_voc2012_linear", "--device", "cpu");
            OfficialModelCommandTest.assertUsage(r, "an official model needs a dataset to score on: give --data DIR");
            assertEquals(0, fetched.get(), "nothing is fetched for a command that cannot run");
        } finally {
            OfficialModels.fetcher = f;
        }
    }

    @Test void demoDataDoesNotWriteIntoAnotherDataset(@TempDir Path dir) throws Exception {
        Path mine = dir.resolve("mine");
        java.nio.file.Files.createDirectories(mine.resolve("train_images"));
        java.nio.file.Files.writeString(mine.resolve("classes.json"), "{\"classes\": [\"background\", \"cat\"]}");
        Run r = run("demo-data", "--out", mine.toString());
        assertEquals(1, r.code(), r.out() + r.err());
        assertTrue(onlyErrorLine(r).contains(mine + ": folder is not empty and is not an earlier demo-data output"), r.err());
        assertTrue(java.nio.file.Files.readString(mine.resolve("classes.json")).contains("cat"), "the user's classes.json is untouched");
        try (var s = java.nio.file.Files.list(mine.resolve("train_images"))) { assertEquals(0, s.count(), "no demo image added"); }
        Path demo = dir.resolve("demo");   // a new folder, then its own earlier output: both fine
        assertEquals(0, run("demo-data", "--out", demo.toString()).code());
        assertEquals(0, run("demo-data", "--out", demo.toString()).code());
    }

    @Test void evalReadsTheClassesJsonBesideTheDataAndRefusesADifferentModel(@TempDir Path dir) {
        Path data = dir.resolve("demo");
        assertEquals(0, run("demo-data", "--out", data.toString()).code());   // 4 classes in classes.json, RGB masks
        Run r = run("eval", "--checkpoint", checkpoint.toString(), "--data", data.toString(), "--device", "cpu",
                "--out", dir.resolve("e.json").toString());
        assertEquals(1, r.code(), r.out() + r.err());
        String line = onlyErrorLine(r);
        assertTrue(line.contains("the model's 3 classes [background, circle, square] differ from the dataset's 4 classes")
                && line.contains("classes.json; --classes overrides"), line);
        // an official VOC model on the same data: not scored as if its masks were VOC's
        Run voc = run("eval", "--model", "dinov2_tiny14_voc2012_linear", "--data", data.toString(), "--device", "cpu",
                "--out", dir.resolve("v.json").toString());
        assertEquals(1, voc.code(), voc.out() + voc.err());
        assertTrue(onlyErrorLine(voc).contains("the model's 21 classes [background, aeroplane"), voc.err());
    }

    @Test void evalTakesTheViewFlagsInferTakes(@TempDir Path dir) throws Exception {
        Path data = OfficialModelCommandTest.vocTree(dir);
        // an official ms model's five ratios and flips, cut down to one view for a quick check on the CPU
        Run r = run("eval", "--model", "dinov2_tiny14_voc2012_ms", "--data", data.toString(), "--device", "cpu", "--no-flip", "--tta", "1.0",
                "--out", dir.resolve("ms.json").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("dinov2_tiny14_voc2012_ms: inference at short side 28, scales [1.0], sliding window 28 stride 14 "
                + "(published test settings, overridden by flags)"), r.err());
        OfficialModelCommandTest.assertUsage(run("eval", "--model", "dinov2_tiny14_voc2012_ms", "--data", data.toString(), "--slide", "14", "28"),
                "--slide needs CROP >= STRIDE >= 1, got 14 28");
        OfficialModelCommandTest.assertUsage(run("eval", "--model", "dinov2_tiny14_voc2012_ms", "--data", data.toString(), "--tta", "0"),
                "--tta scales must be positive");
    }

    @Test void weightsCheckOfATextOrEmptyFileSaysWhatItIs(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("classes.json"), empty = dir.resolve("w.pth"), yaml = dir.resolve("model.pth");
        java.nio.file.Files.writeString(json, "{\n  \"classes\": [{\"name\": \"background\", \"color\": [0, 0, 0]}]\n}\n");
        java.nio.file.Files.write(empty, new byte[0]);
        java.nio.file.Files.writeString(yaml, "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 88283115\n");   // an LFS pointer
        Run r = run("weights", "check", json.toString(), empty.toString(), yaml.toString());
        assertEquals(1, r.code(), r.err());
        String all = r.out() + r.err();
        assertTrue(all.contains(json + ": is text (it starts '{   \"classes\": [{\"name\":'), not a weight file: neither a torch.save checkpoint nor safetensors"), all);
        assertTrue(all.contains(empty + ": is empty, not a weight file"), all);
        assertTrue(all.contains(yaml + ": is a Git LFS pointer, not the weights it stands for (fetch them: git lfs pull)"), all);
        assertFalse(all.contains("header length"), all);
    }

    @Test void helpShowsImgszAndLayersAsTyped() {
        for (String cmd : List.of("train", "eval", "infer", "infer-video", "summary", "features")) {
            Run r = run(cmd, "--help");
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("--imgsz=W [H]"), cmd + ":\n" + r.out());
            assertFalse(r.out().contains("W H [W H]") || r.out().contains("N [N]") || r.out().contains("......"), cmd + ":\n" + r.out());
        }
        assertTrue(run("summary", "--help").out().contains("--layers=I[,J...]"));
    }

    @Test void aFolderAsBackboneAndATinySizeOnAnOfficialModelAreWordedForWhatTheyAre(@TempDir Path dir) {
        Run b = run("summary", "--backbone", dir.toString());
        assertEquals(1, b.code(), b.err());
        assertEquals("error: " + dir + ": is a directory, not a JSON backbone config", onlyErrorLine(b));
        Run r = run("infer", "--model", "dinov2_tiny14_voc2012_linear", "--imgsz", "5", "--input", image.toString(),
                "--out-dir", dir.resolve("o").toString(), "--device", "cpu", "--no-flip", "--tta", "1.0");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("the model sees one patch across (the published short side is 28)"), r.err());
    }

    @Test void classListsOfHundredsOfNamesAreShortened(@TempDir Path dir) {
        Run r = run("infer", "--checkpoint", checkpoint.toString(), "--classes", "ade20k", "--input", image.toString(),
                "--out-dir", dir.toString(), "--device", "cpu");
        assertEquals(1, r.code(), r.err());
        String line = onlyErrorLine(r);
        assertTrue(line.contains("but --classes ade20k gives 150 classes [wall, building, sky") && line.contains(", ... 138 more]"), line);
        assertTrue(line.length() < 400, line);
        Run ade = run("infer", "--model", "dinov2_tiny14_ade20k_linear", "--input", image.toString(), "--out-dir", dir.resolve("o").toString(),
                "--device", "cpu", "--no-flip", "--tta", "1.0");
        assertEquals(0, ade.code(), ade.err());
        assertTrue(ade.err().lines().anyMatch(l -> l.startsWith("150 classes [wall, building") && l.length() < 300), ade.err());
    }

    @Test void anUnknownClassSetNameSaysWhichNamesExist(@TempDir Path dir) {
        Run r = run("infer", "--checkpoint", checkpoint.toString(), "--classes", "cityscapes", "--input", image.toString(),
                "--out-dir", dir.toString(), "--device", "cpu");
        assertEquals(1, r.code(), r.err());
        assertTrue(onlyErrorLine(r).contains("classes 'cityscapes': not a built-in class set (voc, ade20k) nor an existing class file"), r.err());
    }

    @Test void precisionTakesPyTorchDtypeNamesAndExplainsFloat16(@TempDir Path dir) {
        for (String half : List.of("fp16", "half", "FP16"))
            OfficialModelCommandTest.assertUsage(run("eval", "--checkpoint", checkpoint.toString(), "--precision", half),
                    "is not one of fp32, tf32, bf16 (float16 is not implemented; bf16, as autocast(dtype=torch.bfloat16), is the 16-bit choice)");
        OfficialModelCommandTest.assertUsage(run("train", "--demo", "--precision", "half"), "float16 is not implemented");
        Run r = run("infer", "--checkpoint", checkpoint.toString(), "--precision", "bfloat16", "--input", image.toString(),
                "--out-dir", dir.toString(), "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("precision: bf16 matmuls and attention"), r.err());
    }
}
