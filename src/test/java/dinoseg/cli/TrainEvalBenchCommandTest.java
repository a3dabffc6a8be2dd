package dinoseg.cli;

import static dinoseg.cli.CliRun.run;

import dinoseg.cli.CliRun.Run;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dinoseg.train.TrainConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.*;

/** The train, eval and bench command lines: flags, exit codes, one-line errors, outputs. */
class TrainEvalBenchCommandTest {
    @TempDir static Path tmp;
    static Path data, backbone;


    @BeforeAll
    static void setUp() throws Exception {
        data = tmp.resolve("data");
        dinoseg.data.DemoData.generate(data, 3);
        backbone = tmp.resolve("tiny.json");
        Files.writeString(backbone, "{\"embed_dim\": 32, \"depth\": 2, \"heads\": 2, \"pos_grid\": 4}");
    }

    private static void assertOneLineUsageError(Run r, String contains) {
        assertEquals(2, r.code(), r.err());
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), "expected one line, got:\n" + r.err());
        assertTrue(lines.get(0).startsWith("error: "), lines.get(0));
        assertTrue(lines.get(0).contains(contains), lines.get(0));
        assertFalse(r.err().contains("\tat "), "no stack trace");
    }

    @Test
    void badFlagsGiveOneLineUsageErrors() {
        assertOneLineUsageError(run("train", "--epochs", "abc"), "--epochs");
        assertOneLineUsageError(run("train", "--no-such-flag"), "--no-such-flag");
        assertOneLineUsageError(run("train", "--data", data.toString(), "--head", "mlp"), "--head");
        assertOneLineUsageError(run("train", "--data", data.toString(), "--batch", "0"), "--batch");
        assertOneLineUsageError(run("train", "--data", data.toString(), "--scheduler", "step"), "scheduler");
        assertOneLineUsageError(run("train", "--data", data.toString(), "--fine-tune", "--cache-features"), "--cache-features");
        // issue 17's recipes: ranges and the settings they need
        assertOneLineUsageError(run("train", "--data", data.toString(), "--layer-decay", "0.9"), "--layer-decay scales the backbone");
        // a block count beyond the backbone: a bad flag value (exit 2) before the data is read, as summary and bench say it
        assertOneLineUsageError(run("train", "--data", data.toString(), "--backbone", backbone.toString(), "--unfreeze-last", "5"),
                "--unfreeze-last must be in 1..2");
        assertOneLineUsageError(run("train", "--data", data.toString(), "--fine-tune", "--layer-decay", "1.5"), "--layer-decay must be in (0, 1]");
        assertOneLineUsageError(run("train", "--data", data.toString(), "--drop-path", "0.1"), "--drop-path regularises");
        assertOneLineUsageError(run("train", "--data", data.toString(), "--fine-tune", "--drop-path", "1"), "--drop-path must be in [0, 1)");
        assertOneLineUsageError(run("train", "--data", data.toString(), "--accum-steps", "0"), "--accum-steps must be");
        assertOneLineUsageError(run("train", "--data", data.toString(), "--unfreeze-last", "-1"), "--unfreeze-last must be");
        assertOneLineUsageError(run("train", "--data", data.toString(), "--unfreeze-last", "2", "--cache-features"), "cannot be combined with --unfreeze-last");
        assertOneLineUsageError(run("bench", "--precision", "fp16"), "--precision 'fp16' is not one of fp32, tf32, bf16");
        assertOneLineUsageError(run("train", "--data", data.toString(), "--precision", "fp16"), "--precision 'fp16' is not one of fp32, tf32, bf16");
        assertOneLineUsageError(run("eval", "--checkpoint", "x.safetensors", "--precision", "half"), "--precision 'half' is not one of");
        assertOneLineUsageError(run("bench", "--mode", "train"), "--mode");
        assertOneLineUsageError(run("train", "--data", data.toString(), "--device", "cpu", "--cuda-graphs"), "--cuda-graphs needs a CUDA device");
        assertOneLineUsageError(run("bench", "--device", "cpu", "--mode", "finetune", "--cuda-graphs"), "--cuda-graphs needs a CUDA device");
        assertOneLineUsageError(run("bench", "--mode", "infer", "--cuda-graphs"), "use --mode linear or finetune");
        assertOneLineUsageError(run("bench", "--imgsz", "100"), "multiple of 14");
        // sizes whose tensors would overflow int indexing: one line naming the flags, not an overflowed number
        assertOneLineUsageError(run("bench", "--imgsz", "140000000"), "--imgsz 140000000 with --batch 1");
        assertOneLineUsageError(run("bench", "--estimate-memory", "--imgsz", "14000", "--batch", "4"), "--imgsz 14000 with --batch 4");
        assertOneLineUsageError(run("bench", "--mode", "gemm", "--imgsz", "229376", "--batch", "4"), "a tensor can index");
        assertOneLineUsageError(run("train", "--data", data.toString(), "--imgsz", "140000000"), "--imgsz 140000000 140000000 is too large");
        assertOneLineUsageError(run("bench", "--mode", "linear", "--checkpoint-blocks"), "--checkpoint-blocks saves the memory of a backbone's backward");
        assertOneLineUsageError(run("bench", "--mode", "gemm", "--profile"), "--profile times the ops of a step");
        assertOneLineUsageError(run("eval"), "--checkpoint");
        assertOneLineUsageError(run("train", "--imgsz", "224", "224", "--imgsz", "448"), "--imgsz");
    }

    @Test
    void everySubcommandPrintsTheVersion() {
        for (String[] args : new String[][]{{"train", "-V"}, {"infer", "--version"}, {"weights", "check", "-V"}, {"bench", "-V"}}) {
            Run r = run(args);
            assertEquals(0, r.code(), r.err());
            assertEquals("dinoseg 0.1.0", r.out().strip(), String.join(" ", args));
        }
    }

    @Test
    void trainThenEvalWritesTheDocumentedJsonAndPng() throws Exception {
        Path out = tmp.resolve("run");
        Run t = run("train", "--data", data.toString(), "--backbone", backbone.toString(), "--head", "bn", "--fine-tune",
                "--epochs", "1", "--imgsz", "56", "--batch", "8", "--lr", "1e-3", "--device", "cpu", "--out-dir", out.toString());
        assertEquals(0, t.code(), t.err());
        assertTrue(t.out().contains("Epoch 1/1") && t.out().contains("Valid: loss"), t.out());
        assertTrue(t.err().contains("warning: no --weights"), t.err());
        assertTrue(t.err().contains("it/s") || t.err().contains("s/it"), "progress bar with a rate");
        assertTrue(t.err().contains("ETA"));
        TrainConfig cfg = TrainConfig.fromJson(Files.readString(out.resolve("config.json")), "config.json");
        assertTrue(cfg.fineTune());
        assertEquals(dinoseg.model.SegmentationHead.Kind.BN, cfg.head());

        Path json = tmp.resolve("eval/metrics.json");
        Run e = run("eval", "--checkpoint", out.resolve("best_model_iou.safetensors").toString(), "--data", data.toString(),
                "--device", "cpu", "--out", json.toString());
        assertEquals(0, e.code(), e.err());
        assertTrue(e.out().contains("square") && e.out().contains("IoU"), e.out());
        JsonObject j = JsonParser.parseString(Files.readString(json)).getAsJsonObject();
        assertTrue(j.keySet().containsAll(Set.of("pixel_accuracy", "miou", "per_class_iou", "confusion_matrix")), j.keySet().toString());
        assertEquals(new TreeSet<>(List.of("background", "circle", "square", "triangle")), new TreeSet<>(j.getAsJsonObject("per_class_iou").keySet()));
        var cm = j.getAsJsonArray("confusion_matrix");
        assertEquals(4, cm.size());
        long total = 0;
        for (var row : cm) { assertEquals(4, row.getAsJsonArray().size()); for (var v : row.getAsJsonArray()) total += v.getAsLong(); }
        // scored at the annotations' own resolution (not the 56x56 training size): every pixel of every valid mask once
        long annotated = 0;
        try (var masks = Files.list(data.resolve("valid_labels"))) {
            for (Path m : (Iterable<Path>) masks::iterator) {
                java.awt.image.BufferedImage b = javax.imageio.ImageIO.read(m.toFile());
                annotated += (long) b.getWidth() * b.getHeight();
            }
        }
        assertEquals(annotated, total, "every valid pixel counted once (the demo masks have no ignored pixels)");
        assertEquals(annotated, j.get("pixels").getAsLong());
        double mean = 0;
        int k = 0;
        for (var en : j.getAsJsonObject("per_class_iou").entrySet()) if (!en.getValue().isJsonNull()) { mean += en.getValue().getAsDouble(); k++; }
        assertEquals(mean / k, j.get("miou").getAsDouble(), 1e-12);
        // the training run's last validation of this very checkpoint scored the same predictions at the training size
        // (56x56, masks resized) rather than at the masks' own 112x112: close, not equal
        List<String> csv = Files.readAllLines(out.resolve("metrics.csv"));
        double validMiou = Double.parseDouble(csv.get(1).split(",")[6]);
        assertEquals(validMiou, j.get("miou").getAsDouble(), 0.02);
        assertTrue(e.out().contains("at their annotations' resolution (model input 56x56"), e.out());
        assertTrue(Files.size(tmp.resolve("eval/metrics_confusion.png")) > 1000);
        // without dataset flags eval uses the run's own dataset (recorded in the checkpoint) and writes beside the checkpoint
        Run again = run("eval", "--checkpoint", out.resolve("best_model_iou.safetensors").toString(), "--device", "cpu");
        assertEquals(0, again.code(), again.err());
        JsonObject j2 = JsonParser.parseString(Files.readString(out.resolve("eval_best_model_iou.json"))).getAsJsonObject();
        assertEquals(j.get("miou").getAsDouble(), j2.get("miou").getAsDouble(), 0.0);
        assertTrue(Files.exists(out.resolve("eval_best_model_iou_confusion.png")));
    }

    @Test
    void resumeContinuesARunInItsFolder() throws Exception {
        Path out = tmp.resolve("resume");
        Run a = run("train", "--data", data.toString(), "--backbone", backbone.toString(), "--epochs", "1", "--imgsz", "28",
                "--batch", "16", "--lr", "1e-3", "--scheduler", "cosine", "--device", "cpu", "--out-dir", out.toString());
        assertEquals(0, a.code(), a.err());
        Run b = run("train", "--resume", out.toString(), "--epochs", "2", "--lr", "5");
        assertEquals(0, b.code(), b.err());
        assertTrue(b.err().contains("ignoring --lr"), b.err());
        assertTrue(b.out().contains("resuming") && b.out().contains("Epoch 2/2") && !b.out().contains("Epoch 1/2"), b.out());
        assertEquals(3, Files.readAllLines(out.resolve("metrics.csv")).size());
        Run c = run("train", "--resume", out.resolve("last_state.safetensors").toString());
        assertEquals(1, c.code());
        assertTrue(c.err().lines().anyMatch(l -> l.startsWith("error: ") && l.contains("already finished")), c.err());
        // a smaller total than the epochs done: refused naming the epochs done, with no note about a schedule that never runs
        Run fewer = run("train", "--resume", out.toString(), "--epochs", "1");
        assertEquals(1, fewer.code());
        assertEquals(List.of("error: " + out.resolve("last_state.safetensors") + ": the run already finished 2 epochs; "
                + "pass --epochs N with N > 2 to train further"), fewer.err().lines().filter(l -> l.startsWith("error:")).toList(), fewer.err());
        assertFalse(fewer.err().contains("note:"), fewer.err());
        Run again = run("train", "--data", data.toString(), "--backbone", backbone.toString(), "--epochs", "1", "--imgsz", "28",
                "--device", "cpu", "--out-dir", out.toString());
        assertEquals(1, again.code());
        assertTrue(again.err().contains("already holds a training run"), again.err());
        assertEquals(3, Files.readAllLines(out.resolve("metrics.csv")).size(), "the earlier run is untouched");
        Run d = run("train", "--resume", tmp.resolve("nowhere").toString());
        assertEquals(1, d.code());
        assertTrue(d.err().contains("error: ") && d.err().contains("nowhere"), d.err());
        assertFalse(d.err().contains("\tat "));
    }

    @Test
    void hugeLearningRateStopsTheRunWithOneClearLine() throws Exception {
        Path out = tmp.resolve("nan");
        Run t = run("train", "--data", data.toString(), "--backbone", backbone.toString(), "--epochs", "2", "--imgsz", "28",
                "--batch", "16", "--lr", "1e30", "--device", "cpu", "--out-dir", out.toString());
        assertEquals(1, t.code(), t.err());
        List<String> errors = t.err().lines().filter(l -> l.startsWith("error:")).toList();
        assertEquals(1, errors.size(), t.err());
        assertTrue(errors.get(0).matches("error: training stopped: the (training|validation) loss is (NaN|infinite) at epoch \\d.*"), errors.get(0));
        assertFalse(t.err().contains("\tat "));
        assertFalse(Files.exists(out.resolve("final_model.safetensors")));
    }

    @Test
    void trainWithCudaGraphsOnCudaRecordsAndReplaysAStep() throws Exception {
        dinoseg.backend.cuda.CudaTestSupport.assumeGpu();   // the emulated driver without a GPU
        Path out = tmp.resolve("graphs");
        Run t = run("train", "--data", data.toString(), "--backbone", backbone.toString(), "--fine-tune", "--epochs", "1",
                "--imgsz", "28", "--batch", "1", "--device", "cuda", "--cuda-graphs", "--out-dir", out.toString());
        assertEquals(0, t.code(), t.err());
        assertTrue(t.err().contains("cuda graphs: one training step recorded"), t.err());
        assertTrue(Files.exists(out.resolve("final_model.safetensors")));
        Run clip = run("train", "--data", data.toString(), "--backbone", backbone.toString(), "--fine-tune", "--epochs", "1",
                "--imgsz", "28", "--device", "cuda", "--cuda-graphs", "--clip-grad", "1", "--out-dir", tmp.resolve("graphs-clip").toString());
        assertOneLineUsageError(clip, "--cuda-graphs cannot be combined with --clip-grad");
    }

    @Test
    void benchPrintsOneJsonLineWithThePeersKeys() throws Exception {
        for (String mode : List.of("infer", "linear", "finetune")) {
            Run r = run("bench", "--device", "cpu", "--mode", mode, "--backbone", backbone.toString(), "--imgsz", "28", "--batch", "2",
                    "--warmup", "1", "--iters", "2");
            assertEquals(0, r.code(), r.err());
            List<String> lines = r.out().lines().toList();
            assertEquals(1, lines.size(), r.out());
            JsonObject j = JsonParser.parseString(lines.get(0)).getAsJsonObject();
            assertEquals(Set.of("engine", "device", "mode", "backbone", "imgsz", "batch", "precision", "trainable_params", "threads",
                    "images_per_s", "step_s_median", "peak_heap_mib", "peak_gpu_mib"), j.keySet());
            assertEquals(mode, j.get("mode").getAsString());
            assertEquals(28, j.get("imgsz").getAsInt());
            assertTrue(j.get("images_per_s").getAsDouble() > 0);
            assertTrue(j.get("peak_heap_mib").getAsDouble() > 0);
            assertTrue(j.get("peak_gpu_mib").isJsonNull());
            assertTrue(j.get("engine").getAsString().startsWith("dinoseg"));
        }
        Run r = run("bench", "--device", "cpu", "--mode", "finetune", "--backbone", backbone.toString(), "--imgsz", "28", "--batch", "2",
                "--warmup", "0", "--iters", "1", "--precision", "bf16");
        assertEquals(0, r.code(), r.err());
        JsonObject j = JsonParser.parseString(r.out().strip()).getAsJsonObject();
        assertEquals("bf16", j.get("precision").getAsString());
        assertTrue(j.get("images_per_s").getAsDouble() > 0);
    }

    /**
     * bench takes train's recipes (issue 17's measurements): trainable parameters order head-only < LoRA
     * < last block < full fine-tuning, LoRA's count is the head plus depth·r·(C + 3C) for qkv adapters, and
     * a recipe without --mode finetune is a usage error.
     */
    @Test
    void benchRunsTheFineTuningRecipes() throws Exception {
        java.util.Map<String, Long> trainable = new java.util.LinkedHashMap<>();
        String[][] recipes = {{"--mode", "linear"}, {"--mode", "finetune", "--lora-rank", "2"}, {"--mode", "finetune", "--unfreeze-last", "1"},
                {"--mode", "finetune"}};
        for (String[] recipe : recipes) {
            List<String> args = new java.util.ArrayList<>(List.of("bench", "--device", "cpu", "--backbone", backbone.toString(), "--imgsz", "28",
                    "--batch", "2", "--warmup", "0", "--iters", "1"));
            args.addAll(List.of(recipe));
            Run r = run(args.toArray(new String[0]));
            assertEquals(0, r.code(), r.err());
            JsonObject j = JsonParser.parseString(r.out().strip()).getAsJsonObject();
            assertTrue(j.get("images_per_s").getAsDouble() > 0);
            trainable.put(String.join(" ", recipe), j.get("trainable_params").getAsLong());
        }
        List<Long> t = List.copyOf(trainable.values());
        assertTrue(t.get(0) < t.get(1) && t.get(1) < t.get(2) && t.get(2) < t.get(3), trainable.toString());
        dinoseg.model.BackboneConfig bc = dinoseg.model.BackboneConfig.parse(backbone.toString());
        long c = bc.embedDim();
        assertEquals(t.get(0) + bc.depth() * 2L * (c + 3 * c), (long) t.get(1), "LoRA r=2 on qkv: depth * r * (in + out) more");
        assertOneLineUsageError(run("bench", "--mode", "linear", "--lora-rank", "2", "--backbone", backbone.toString(), "--imgsz", "28"),
                "--lora-rank is a fine-tuning recipe: use --mode finetune");
        assertOneLineUsageError(run("bench", "--mode", "finetune", "--unfreeze-last", "99", "--backbone", backbone.toString(), "--imgsz", "28"),
                "--unfreeze-last must be in 1..");
    }

    @Test
    void benchFailsWhenItsJsonLineCannotBeWritten() {
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(new java.io.OutputStream() {
            @Override public void write(int b) throws java.io.IOException { throw new java.io.IOException("No space left on device"); }
        }, true));
        cl.setErr(new PrintWriter(err, true));
        int code = Main.execute(cl, "bench", "--estimate-memory", "--backbone", backbone.toString(), "--imgsz", "28");
        assertEquals(1, code, err.toString());
        assertEquals("error: cannot write to standard output (a full disk or a closed pipe?)", err.toString().strip());
    }

    @Test
    void benchJsonNamesTheRecipeItRan() {
        Run r = run("bench", "--estimate-memory", "--mode", "finetune", "--backbone", backbone.toString(), "--imgsz", "28", "--unfreeze-last", "1");
        assertEquals(0, r.code(), r.err());
        assertEquals(1, JsonParser.parseString(r.out().strip()).getAsJsonObject().get("unfreeze_last").getAsInt(), r.out());
        r = run("bench", "--estimate-memory", "--mode", "finetune", "--backbone", backbone.toString(), "--imgsz", "28", "--lora-rank", "2");
        assertEquals(2, JsonParser.parseString(r.out().strip()).getAsJsonObject().get("lora_rank").getAsInt(), r.out());
        r = run("bench", "--device", "cpu", "--mode", "finetune", "--backbone", backbone.toString(), "--imgsz", "28", "--batch", "2",
                "--warmup", "0", "--iters", "1", "--checkpoint-blocks");
        assertEquals(0, r.code(), r.err());
        assertTrue(JsonParser.parseString(r.out().strip()).getAsJsonObject().get("checkpoint_blocks").getAsBoolean(), r.out());
    }

    @Test
    void benchSaysWhatIsWrongWithABackboneFileAsARunTimeError() throws Exception {
        // as summary and train: a broken JSON file is a run-time problem (exit 1, one line naming it), an unknown preset a usage error
        Path bad = data.getParent().resolve("broken-backbone.json");
        Files.writeString(bad, "{\"embed_dim\": 32");
        Run r = run("bench", "--device", "cpu", "--mode", "infer", "--backbone", bad.toString(), "--imgsz", "28", "--iters", "1");
        assertEquals(1, r.code(), r.err());
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.get(0).startsWith("error: ") && lines.get(0).contains("broken-backbone.json") && lines.get(0).contains("not valid JSON"), lines.get(0));
        assertOneLineUsageError(run("bench", "--device", "cpu", "--backbone", "smal", "--imgsz", "28"), "smal");
    }

    @Test
    void benchEstimatesMemoryWithoutComputingAndProfilesOpFamilies() throws Exception {
        // 56 px: activations large enough that the JSON's 0.1 MiB rounding does not decide the comparisons
        Run small = run("bench", "--mode", "finetune", "--backbone", backbone.toString(), "--imgsz", "56", "--batch", "2", "--estimate-memory");
        assertEquals(0, small.code(), small.err());
        JsonObject a = JsonParser.parseString(small.out().strip()).getAsJsonObject();
        double params = a.get("params_mib").getAsDouble(), peak = a.get("peak_gpu_mib").getAsDouble();
        assertTrue(peak > params + a.get("optimizer_mib").getAsDouble(), small.out());
        assertEquals(2 * a.get("grads_mib").getAsDouble(), a.get("optimizer_mib").getAsDouble(), 0.11, small.out());
        // four times the batch: the activations grow, the parameters do not
        Run big = run("bench", "--mode", "finetune", "--backbone", backbone.toString(), "--imgsz", "56", "--batch", "8", "--estimate-memory");
        JsonObject b = JsonParser.parseString(big.out().strip()).getAsJsonObject();
        assertEquals(params, b.get("params_mib").getAsDouble(), 0.0);
        assertTrue(b.get("activations_mib").getAsDouble() > 3 * a.get("activations_mib").getAsDouble(), big.out());

        Run p = run("bench", "--device", "cpu", "--mode", "finetune", "--backbone", backbone.toString(), "--imgsz", "28", "--batch", "2",
                "--warmup", "0", "--iters", "1", "--profile");
        assertEquals(0, p.code(), p.err());
        assertEquals(1, p.out().lines().count(), p.out());
        for (String family : List.of("gemm", "attention", "norm", "elementwise", "optimizer", "total"))
            assertTrue(p.err().lines().anyMatch(l -> l.startsWith(family + " ")), "no " + family + " row in:\n" + p.err());
    }

    @Test
    void demoPresetIsAValidConfigInOnePlace() throws Exception {
        TrainConfig c = TrainCommand.DemoPreset.load(); // valid: a TrainConfig cannot be built otherwise
        assertTrue(c.fineTune());
        assertEquals("input/demo", c.dataset().get("data").getAsString());
        assertNotNull(c.backboneConfig());
        assertTrue(c.backboneConfig().get("embed_dim").getAsInt() <= 192);
        assertEquals("cpu", c.device());
    }

    /** The settings {@code train ARGS} would run with (parsed, not trained). */
    private static TrainConfig parsedConfig(String... args) throws Exception {
        String[] all = new String[args.length + 1];
        all[0] = "train";
        System.arraycopy(args, 0, all, 1, args.length);
        CommandLine.ParseResult sub = Main.commandLine().parseArgs(all).subcommand();
        TrainCommand train = sub.commandSpec().commandLine().getCommand();
        return train.config(sub);
    }

    @Test
    void loraFlagsBecomeTheLoraSettings() throws Exception {
        TrainConfig c = parsedConfig("--data", data.toString(), "--out-dir", "o", "--lora-rank", "4", "--lora-alpha", "16", "--lora-targets", "qkv,PROJ");
        assertEquals(4, c.loraRank());
        assertEquals(16.0, c.loraAlpha());
        assertEquals(java.util.List.of("qkv", "proj"), c.loraTargets());
        assertEquals(java.util.List.of("qkv"), parsedConfig("--data", data.toString(), "--out-dir", "o", "--lora-rank", "2").loraTargets());
        assertEquals(0, parsedConfig("--data", data.toString(), "--out-dir", "o").loraRank());
        CommandLine.ParameterException alone = assertThrows(CommandLine.ParameterException.class,
                () -> parsedConfig("--data", data.toString(), "--out-dir", "o", "--lora-alpha", "4"));
        assertTrue(alone.getMessage().contains("--lora-alpha needs --lora-rank"), alone.getMessage());
        CommandLine.ParameterException both = assertThrows(CommandLine.ParameterException.class,
                () -> parsedConfig("--data", data.toString(), "--out-dir", "o", "--lora-rank", "4", "--fine-tune"));
        assertTrue(both.getMessage().contains("--fine-tune"), both.getMessage());
        CommandLine.ParameterException target = assertThrows(CommandLine.ParameterException.class,
                () -> parsedConfig("--data", data.toString(), "--out-dir", "o", "--lora-rank", "4", "--lora-targets", "mlp"));
        assertTrue(target.getMessage().contains("unknown layer 'mlp'"), target.getMessage());
    }

    @Test
    void flagDefaultsAreTheLibraryDefaults() throws Exception {
        // the help text shows the flags' defaults; a run takes the library's: they must agree
        CommandLine train = Main.commandLine().parseArgs("train").subcommand().commandSpec().commandLine();
        JsonObject lib = TrainConfig.builder().build().toJsonObject();
        com.google.gson.Gson gson = new com.google.gson.Gson();
        int compared = 0;
        for (CommandLine.Model.OptionSpec o : train.getCommandSpec().options()) {
            String key = o.longestName().substring(2).replace('-', '_');
            if (!TrainConfig.KEYS.contains(key) || o.defaultValue() == null) continue;
            // precision's JSON leaves out fp32 (so fp32 runs write what they always wrote): compare the parsed value
            com.google.gson.JsonElement want = key.equals("precision") && !lib.has(key)
                    ? new com.google.gson.JsonPrimitive(TrainConfig.builder().build().precision().flag()) : lib.get(key);
            assertEquals(want, gson.toJsonTree(o.getValue()), o.longestName());
            compared++;
        }
        assertTrue(compared >= 14, compared + " options compared");
        // and a run with no setting flags is the library's default config
        TrainConfig c = parsedConfig("--data", data.toString(), "--out-dir", "o");
        assertEquals(TrainConfig.builder().dataset(c.dataset()).outDir("o").build(), c);
        assertEquals(data.toString(), c.dataset().get("data").getAsString());
    }

    @Test
    void demoPresetTakesOnlyTheFlagsGiven() throws Exception {
        TrainConfig preset = TrainCommand.DemoPreset.load();
        TrainConfig c = parsedConfig("--demo", "--epochs", "3", "--backbone", backbone.toString(), "--cache-features", "--imgsz", "56",
                "--out-dir", "o");
        // a new backbone drops the preset's resolved one; the cache freezes the backbone the preset fine-tunes
        assertEquals(preset.toBuilder().epochs(3).backbone(backbone.toString()).backboneConfig(null).cacheFeatures(true).fineTune(false)
                .imgSize(56, 56).outDir("o").demo(true).build(), c);
        assertTrue(parsedConfig("--demo").outDir().startsWith(Path.of("outputs", "demo_").toString()));
        assertEquals(data.toString(), parsedConfig("--demo", "--data", data.toString()).dataset().get("data").getAsString());
        var e = assertThrows(CommandLine.ParameterException.class, () -> parsedConfig("--demo", "--fine-tune", "--cache-features"));
        assertTrue(e.getMessage().startsWith("--cache-features needs a frozen backbone"), e.getMessage());
        assertOneLineUsageError(run("train", "--demo", "--lr", "0"), "--lr must be a positive number, got 0.0");
    }
}
