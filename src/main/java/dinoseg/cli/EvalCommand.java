package dinoseg.cli;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.data.ClassSet;
import dinoseg.data.DatasetSpec;
import dinoseg.data.Datasets;
import dinoseg.data.SegDataset;
import dinoseg.checkpoint.ModelCheckpoint;
import dinoseg.train.DatasetSettings;
import dinoseg.train.EvalReport;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code dinoseg eval}: metrics of a checkpoint on a dataset's validation split. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Evaluate a checkpoint on the validation split of a dataset at each annotation's own resolution (the model's "
                + "logits upsampled bilinearly to the image's original size, the mask untouched, as MMSegmentation and DINOv2 score): "
                + "one confusion matrix over every pixel, "
                + "pixel accuracy, per-class IoU = TP/(TP+FP+FN), mIoU over the classes present in ground truth or prediction; "
                + "ignored pixels are left out. Without dataset flags: the dataset the checkpoint was trained on. "
                + "An official model (--model NAME) is evaluated with its published test settings (short side, scales, flips, sliding window).",
                "Prints a per-class table, writes JSON (pixel_accuracy, miou, per_class_iou by class name, confusion_matrix) "
                        + "and a confusion-matrix PNG beside it."})
public final class EvalCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--checkpoint", paramLabel = "FILE", description = "A checkpoint written by train (best_model_iou.safetensors, ...).")
    Path checkpoint;

    @Option(names = "--model", paramLabel = "NAME|FILE",
            description = "An official DINOv2 segmentation model, dinov2_vit{s,b,l,g}14_{voc2012,ade20k}_{linear,ms} (needs the dataset flags), "
                    + "or a checkpoint file (as --checkpoint).")
    String model;

    @Mixin DatasetOptions dataset;

    @Option(names = "--split", paramLabel = "valid|train", defaultValue = "valid", description = "Which split (default: ${DEFAULT-VALUE}).")
    String split;

    @Option(names = "--imgsz", paramLabel = "W [H]", hideParamSyntax = true, arity = "1..2", description = "Evaluation size (default: the checkpoint's training size; "
            + "an official model's published short side, the aspect ratio kept).")
    int[] imgsz;

    @Option(names = "--tta", split = ",", paramLabel = "S",
            description = "Test-time scales, e.g. 1.0,1.5,2.0: softmax averaged over them (default: none; an official model's published ratios).")
    double[] tta;

    @Option(names = "--flip", negatable = true,
            description = "Also average horizontally flipped views (default: no; an official ms model's published flips, which --no-flip turns off).")
    Boolean flip;

    @Option(names = "--slide", arity = "2", paramLabel = "CROP STRIDE", hideParamSyntax = true,
            description = "Sliding window: CROP x CROP tiles every STRIDE pixels, overlaps averaged (default: none; an official model's published window).")
    int[] slide;

    @Option(names = "--batch", paramLabel = "N", defaultValue = "4", description = "Images decoded ahead of the model (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--workers", paramLabel = "N", defaultValue = "0", description = "Data loader threads (0: all cores).")
    int workers;

    @Option(names = "--device", paramLabel = "auto|cpu|cuda", defaultValue = "auto", description = "Backend (default: ${DEFAULT-VALUE}).")
    String device;

    @Mixin PrecisionOption precision;

    @Option(names = "--out", paramLabel = "FILE", description = "JSON output (default: eval_<checkpoint name>.json beside the checkpoint, eval_<name>_bf16.json etc. for other precisions); the PNG is <name>_confusion.png.")
    Path out;

    @Option(names = "--verbose", description = "Print stack traces of errors.")
    boolean verbose;

    @Override public Integer call() throws Exception {
        CommandLine cl = spec.commandLine();
        PrintWriter o = cl.getOut(), err = cl.getErr();
        Signals.cooperate(); // SIGINT/SIGTERM: stop between batches/images/frames, no partial output
        if (batch < 1) throw new CommandLine.ParameterException(cl, "--batch must be at least 1, got " + batch);
        int[] size = Flags.imageSize(cl, imgsz);
        PredictOptions.checkViews(cl, tta, slide);
        Flags.device(cl, device);
        if (!split.equals("valid") && !split.equals("train"))
            throw new CommandLine.ParameterException(cl, "--split: '" + split + "' is not one of valid, train");
        dinoseg.backend.Precision p = precision.parse(cl);
        ModelSource.check(cl, checkpoint, model);
        boolean officialName = model != null && dinoseg.checkpoint.OfficialModels.isName(model);
        if (officialName) {   // an official model has no training run to take the data from: say so before fetching it
            CommandLine.ParseResult pr = cl.getParseResult();
            Flags.require(cl, pr.hasMatchedOption("--data") || pr.hasMatchedOption("--valid-images"),
                    "--model " + model + ": an official model needs a dataset to score on: give --data DIR (or the four "
                            + "--train-images/--train-masks/--valid-images/--valid-masks folders)");
            dataset.requireDataset(cl);
        }
        Path file = checkpoint != null ? checkpoint : officialName ? null : Path.of(model);
        if (out != null) {
            OutputChecks.outputFile(cl, "--out", out);
            if (file != null) OutputChecks.notTheInput(cl, checkpoint != null ? "--checkpoint" : "--model", file, "--out", out);
            dinoseg.io.AtomicFiles.checkWritable(out);   // before the evaluation, not after it
        }
        try (Backend be = Backends.create(device, err::println)) {
            PrecisionOption.apply(p, be, err);
            ModelSource.Resolved res = ModelSource.load(checkpoint, model, be, err);
            ModelCheckpoint.Loaded ck = res.loaded();
            String label = res.label();
            CommandLine.ParseResult pr = cl.getParseResult();
            boolean given = pr.hasMatchedOption("--data") || pr.hasMatchedOption("--train-images") || pr.hasMatchedOption("--valid-images")
                    || pr.hasMatchedOption("--train-masks") || pr.hasMatchedOption("--valid-masks");
            DatasetSpec ds = dataset.toSpec(cl);
            if (!given && ck.config().has("train_config") && ck.config().getAsJsonObject("train_config").has("dataset")) {
                // no dataset flags: the data the checkpoint was trained on, as its config records it
                ds = DatasetSettings.fromJson(ck.config().getAsJsonObject("train_config").getAsJsonObject("dataset"));
                err.println("note: no dataset flags: evaluating on the training run's dataset");
            }
            if (ds.classes() == null && !Files.isRegularFile(Datasets.open(ds, null).root().resolve("classes.json")))
                ds = ds.withClasses(ck.classes());   // no --classes and no classes.json beside the data: the model's classes
            // (a classes.json beside the data says how its masks are coded: it is read, and checked against the model's below)
            boolean besideData = ds.classes() == null;
            Datasets.Opened opened = Datasets.open(ds, err::println);
            ClassSet classes = opened.classes();
            if (!classes.names().equals(ck.classes().names()))
                throw new IllegalArgumentException(label + ": the model's " + PredictOptions.names(ck.classes())
                        + " differ from the dataset's " + PredictOptions.names(classes)
                        + (besideData ? " (from " + opened.root().resolve("classes.json") + "; --classes overrides)" : ""));
            SegDataset s = split.equals("train") ? opened.train() : opened.valid();
            if (s.size() == 0) throw new IllegalArgumentException(SegDataset.emptySplit(opened.root(), s.name()));
            // the pair check train and data check apply, in their words: bad pairs stop the run, or are skipped with --skip-bad
            s = s.validated(ds.skipBad(), err::println);
            int w = size == null ? ck.imgW() : size[0], h = size == null ? ck.imgH() : size[1];
            err.println(opened.describe());
            boolean views = tta != null || flip != null || slide != null;
            dinoseg.infer.Predictor.Options settings = res.official() != null ? ModelSource.officialOptions(res.official().test(), size, tta, flip, slide)
                    : !views ? null
                    : new dinoseg.infer.Predictor.Options(w, h, tta, flip != null && flip, slide == null ? 0 : slide[0], slide == null ? 0 : slide[1], 0);
            if (settings != null)
                err.println(label + ": " + PredictOptions.describe(settings)
                        + (res.official() == null ? "" : views || size != null ? " (published test settings, overridden by flags)" : " (published test settings)"));
            EvalReport r = EvalReport.run(ck.model(), classes, s, w, h, settings, batch, workers, be, err, dinoseg.io.Stop.process());
            String suffix = p == dinoseg.backend.Precision.FP32 ? "" : "_" + p.flag();   // a bf16 eval does not replace the fp32 one
            Path json = out != null ? out : file != null ? file.toAbsolutePath().resolveSibling("eval_" + stem(file) + suffix + ".json")
                    : Path.of("eval_" + res.official().name() + suffix + ".json");
            Path png = json.resolveSibling(stem(json) + "_confusion.png");
            r.write(json, png);
            r.printTable(o);
            o.println("wrote " + json + " and " + png);
            o.flush();
        }
        return 0;
    }

    private static String stem(Path p) {
        String n = p.getFileName().toString();
        int i = n.lastIndexOf('.');
        return i > 0 ? n.substring(0, i) : n;
    }
}
