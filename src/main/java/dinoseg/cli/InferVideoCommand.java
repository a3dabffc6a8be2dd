package dinoseg.cli;

import dinoseg.infer.VideoSegmenter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code dinoseg infer-video}: every frame segmented and overlaid, written as H.264 MP4. */
@Command(name = "infer-video", mixinStandardHelpOptions = true,
        description = "Segment every frame of a video; the overlays (with the model step's FPS written on them) go to an "
                + "H.264 MP4 (yuv420p) with the input's frame count and frame rate. Decoding and encoding use FFmpeg (JavaCV).")
public final class InferVideoCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Mixin PredictOptions predict;

    @Option(names = "--input", required = true, paramLabel = "VIDEO", description = "Input video (any format FFmpeg reads).")
    Path input;

    @Option(names = "--out", required = true, paramLabel = "OUT.mp4", description = "Output MP4.")
    Path out;

    /**
     * JavaCV and FFmpeg are not inside dinoseg.jar: its manifest names them in lib/ beside it (mvn package
     * puts them in target/lib). Says so in one line when they are missing, before any work is done.
     */
    static void requireVideoLibraries() {
        try {
            Class.forName("org.bytedeco.javacv.FFmpegFrameGrabber", false, InferVideoCommand.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            throw new IllegalStateException("video support is not on the class path: JavaCV and FFmpeg are read from lib/ beside "
                    + "dinoseg.jar (mvn package copies them to target/lib; keep that folder next to the jar)");
        }
    }

    @Override public Integer call() throws Exception {
        PrintWriter o = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        Signals.cooperate(); // SIGINT/SIGTERM: stop between batches/images/frames, no partial output
        predict.validate(spec.commandLine()); // bad flags first (exit 2), then the files
        dinoseg.io.FileKinds.requireFile(input, "video file");
        OutputChecks.outputFile(spec.commandLine(), "--out", out);
        if (!out.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".mp4"))   // the writer makes H.264 in MP4 only
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "--out " + out + ": the output is an H.264 MP4 video; give a name ending in .mp4");
        OutputChecks.notTheInput(spec.commandLine(), "--input", input, "--out", out);
        requireVideoLibraries();
        PredictOptions.Ready r = predict.load(spec.commandLine());
        err.println(PredictOptions.names(r.classes()) + "; " + PredictOptions.describe(r.predictor().options()));
        err.flush();
        VideoSegmenter.Result res = new VideoSegmenter(r.predictor(), r.classes(), predict.alpha).run(input, out, err);
        o.printf(Locale.ROOT, "%s: %d frames at %.3f fps -> %s; average model FPS %.2f (%.1f s in all)%n",
                input, res.frames(), res.frameRate(), out, res.averageFps(), res.seconds());
        o.flush();
        return 0;
    }
}
