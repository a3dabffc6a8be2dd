package dinoseg.cli;

import dinoseg.infer.ImageInference;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code dinoseg infer}: masks and class-name overlays for an image or every image of a folder. */
@Command(name = "infer", mixinStandardHelpOptions = true,
        description = "Segment an image or a folder of images: <stem>_overlay.png (class colours, names, legend) and "
                + "<stem>_mask.png (palettized class ids) at each image's original size. Exits 1 if any file failed.")
public final class InferCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Mixin PredictOptions predict;

    @Option(names = "--input", required = true, paramLabel = "FILE|DIR", description = "An image, or a folder of images.")
    Path input;

    @Option(names = "--out-dir", required = true, paramLabel = "DIR", description = "Where the overlays and masks go.")
    Path outDir;

    @Override public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        Signals.cooperate(); // SIGINT/SIGTERM: stop between batches/images/frames, no partial output
        predict.validate(spec.commandLine()); // bad flags first (exit 2), then the files
        if (java.nio.file.Files.exists(outDir) && !java.nio.file.Files.isDirectory(outDir))
            // before the work, but a run-time problem (README: a folder that cannot be made, exit 1), worded as train words it
            throw new IllegalArgumentException(outDir + ": is a file, not a folder (--out-dir)");
        var files = ImageInference.inputs(input);
        try {
            files = ImageInference.checkedForOutDir(input, files, outDir, line -> { err.println(line); err.flush(); });
        } catch (IllegalArgumentException e) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), e.getMessage()); // it names the file and --out-dir
        }
        PredictOptions.Ready r = predict.load(spec.commandLine());
        err.println(PredictOptions.names(r.classes()) + "; " + PredictOptions.describe(r.predictor().options()));
        err.flush();
        ImageInference.Summary s = new ImageInference(r.predictor(), r.classes(), predict.alpha).run(files, outDir, out, err);
        return s.ok() ? 0 : 1;
    }
}
