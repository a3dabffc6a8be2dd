package dinoseg.cli;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.backend.Precision;
import dinoseg.data.ClassSet;
import dinoseg.infer.ModelAdapter;
import dinoseg.infer.Predictor;
import dinoseg.checkpoint.ModelCheckpoint;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * The flags {@code infer} and {@code infer-video} share: the model (--model or --checkpoint), sizes,
 * TTA, sliding window, overlay, device. An official model (--model NAME) brings its published test
 * settings as defaults (short side, scales, flips, sliding window; {@link dinoseg.checkpoint.OfficialModels});
 * --imgsz, --tta, --flip/--no-flip and --slide override them one by one.
 */
final class PredictOptions {
    @Option(names = "--checkpoint", paramLabel = "FILE", description = "A checkpoint written by dinoseg train.")
    Path checkpoint;

    @Option(names = "--model", paramLabel = "NAME|FILE",
            description = "An official DINOv2 segmentation model, dinov2_vit{s,b,l,g}14_{voc2012,ade20k}_{linear,ms} "
                    + "(backbone and head fetched; its published test settings are the defaults), or a checkpoint file (as --checkpoint).")
    String model;

    @Option(names = "--imgsz", arity = "1..2", paramLabel = "W [H]", hideParamSyntax = true,
            description = "Inference size (one value for a square; default: the checkpoint's training size, or an official model's "
                    + "published short side with the aspect ratio kept). "
                    + "Sizes that are not multiples of the patch size (14 for the DINOv2 presets) are padded and cropped back.")
    int[] imgsz;

    @Option(names = "--tta", split = ",", paramLabel = "S", description = "Test-time scales, e.g. 1.0,1.5,2.0: softmax averaged over them.")
    double[] tta;

    @Option(names = "--flip", negatable = true, description = "Also average horizontally flipped views (--no-flip: not even for an official ms model).")
    Boolean flip;

    @Option(names = "--slide", arity = "2", paramLabel = "CROP STRIDE", hideParamSyntax = true,
            description = "Sliding window: CROP x CROP tiles every STRIDE pixels of the rescaled image, overlaps averaged.")
    int[] slide;

    @Option(names = "--alpha", defaultValue = "0.5", paramLabel = "A", description = "Opacity of the class colours (default: ${DEFAULT-VALUE}).")
    float alpha;

    @Option(names = "--classes", paramLabel = "FILE|voc|ade20k",
            description = "Expected classes (a class file, 'voc' or 'ade20k'); the run stops if the model's differ.")
    String classes;

    @Option(names = "--device", defaultValue = "auto", paramLabel = "auto|cpu|cuda", description = "Backend (default: ${DEFAULT-VALUE}).")
    String device;

    @picocli.CommandLine.Mixin PrecisionOption precision;

    @Option(names = "--verbose", description = "Print stack traces of errors.")
    boolean verbose;

    /** A loaded model ready to predict, with its classes. */
    record Ready(Backend backend, Predictor predictor, ClassSet classes, ModelCheckpoint.Loaded loaded) { }

    /** What the model is called in messages: the checkpoint file or the --model value. */
    private String label() { return checkpoint != null ? checkpoint.toString() : model; }

    /**
     * Checks the flag values before any work: a bad one is a usage error of {@code cl} (one line,
     * exit status 2). Returns the --imgsz size as {width, height}, or null when not given.
     */
    int[] validate(CommandLine cl) {
        Flags.require(cl, alpha >= 0 && alpha <= 1, "--alpha must be in [0, 1], got " + alpha);
        int[] size = Flags.imageSize(cl, imgsz);
        checkViews(cl, tta, slide);
        precision.parse(cl);
        Flags.device(cl, device);
        ModelSource.check(cl, checkpoint, model);
        return size;
    }

    /** The checks of --tta (positive scales) and --slide (CROP >= STRIDE >= 1), which infer, infer-video and eval share; null: not given. */
    static void checkViews(CommandLine cl, double[] tta, int[] slide) {
        Flags.require(cl, tta == null || tta.length > 0, "--tta needs at least one scale");
        if (tta != null)
            for (double s : tta)
                Flags.require(cl, s > 0 && Double.isFinite(s), "--tta scales must be positive, got " + java.util.Arrays.toString(tta));
        Flags.require(cl, slide == null || (slide[0] >= 1 && slide[1] >= 1 && slide[1] <= slide[0]),
                slide == null ? "" : "--slide needs CROP >= STRIDE >= 1, got " + slide[0] + " " + slide[1]);
    }

    /** Checks the flags ({@link #validate}), picks the backend, loads the checkpoint and checks its classes against --classes. */
    Ready load(CommandLine cl) throws IOException {
        PrintWriter err = cl.getErr();
        int[] size = validate(cl);
        Precision p = precision.parse(cl);
        ClassSet expected = classes == null ? null : ClassSet.resolve(classes);
        Backend be = Backends.create(device, line -> { err.println(line); err.flush(); });
        PrecisionOption.apply(p, be, err);
        ModelSource.Resolved res = ModelSource.load(checkpoint, model, be, err);
        ModelCheckpoint.Loaded l = res.loaded();
        if (expected != null && !expected.names().equals(l.classes().names()))
            throw new IllegalArgumentException(label() + ": trained for " + names(l.classes()) + " but --classes " + classes + " gives "
                    + names(expected));
        int w = size == null ? l.imgW() : size[0];
        int h = size == null ? l.imgH() : size[1];
        int patch = l.model().backbone.patch();
        if (w < patch || h < patch)
            err.println("note: --imgsz " + w + "x" + h + " is below the patch size " + patch
                    + ": the model sees one patch across (" + (res.official() != null ? "the published short side is " + l.imgW()
                    : "the checkpoint was trained at " + l.imgW() + "x" + l.imgH()) + ")");
        if (res.official() != null) {
            Predictor.Options o = ModelSource.officialOptions(res.official().test(), size, tta, flip, slide);
            return new Ready(be, new Predictor(be, new ModelAdapter(be, l.model()), o), l.classes(), l);
        }
        Predictor.Options o = new Predictor.Options(w, h, tta, flip != null && flip, slide == null ? 0 : slide[0], slide == null ? 0 : slide[1]);
        return new Ready(be, new Predictor(be, new ModelAdapter(be, l.model()), o), l.classes(), l);
    }

    /**
     * "N classes [a, b, ...]" for messages: every name up to VOC's 21, else the first 12 and how many
     * more (ADE20K's 150 names would fill a screen).
     */
    static String names(ClassSet c) {
        java.util.List<String> n = c.names();
        if (n.size() <= 21) return n.size() + " classes " + n;
        return n.size() + " classes [" + String.join(", ", n.subList(0, 12)) + ", ... " + (n.size() - 12) + " more]";
    }

    /** One line describing the inference settings. */
    static String describe(Predictor.Options o) {
        StringBuilder sb = new StringBuilder("inference at ");
        if (o.shortSide() > 0) sb.append("short side ").append(o.shortSide());
        else sb.append(o.width()).append('x').append(o.height());
        if (o.scales() != null) sb.append(", scales ").append(java.util.Arrays.toString(o.scales()));
        if (o.flip()) sb.append(", + flips");
        if (o.slideCrop() > 0) sb.append(", sliding window ").append(o.slideCrop()).append(" stride ").append(o.slideStride());
        return sb.toString();
    }
}
