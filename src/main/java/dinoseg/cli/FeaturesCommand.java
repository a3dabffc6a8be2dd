package dinoseg.cli;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.checkpoint.Weights;
import dinoseg.infer.FeatureExtractor;
import dinoseg.io.HostTensor;
import dinoseg.model.BackboneConfig;
import dinoseg.model.DinoVisionTransformer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code dinoseg features}: the normed outputs of chosen backbone blocks for an image (resized to
 * --imgsz and ImageNet-normalised) or a safetensors batch of {@code pixel_values}, written as
 * safetensors with one float32 tensor {@code layer.<index>} [B, C, H/p, W/p] per block (p the patch
 * size, 14 for DINOv2). The pipeline is {@link FeatureExtractor}'s; this command parses the options,
 * builds the backbone, calls it and prints one line per tensor and the file written.
 */
@Command(name = "features", mixinStandardHelpOptions = true,
        description = "Extract DINOv2 features (after the final norm, class and register tokens removed) from chosen blocks into a safetensors file.")
public final class FeaturesCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--backbone", paramLabel = "B",
            description = "Preset (small, base, large, giant, or *_reg) or a JSON file; required unless --weights NAME implies it.")
    String backbone;

    @Option(names = "--weights", paramLabel = "FILE|NAME",
            description = "Backbone weights: a file (.pth, .safetensors; official or Hugging Face tensor names) or a name downloaded once into "
                    + "the cache (dinov2_vits14, facebook/dinov2-small, ...: dinoseg weights list), which implies --backbone. "
                    + "Without it the backbone is randomly initialised (a notice says so).")
    String weights;

    @Option(names = "--input", paramLabel = "FILE", required = true,
            description = "An image file (resized to --imgsz and normalised) or a .safetensors file holding pixel_values float32 [B,3,H,W], already normalised.")
    Path input;

    @Option(names = "--layers", paramLabel = "I[,J...]", hideParamSyntax = true, split = ",", description = "Block indices (default: the last four).")
    int[] layers;

    @Option(names = "--out", paramLabel = "FILE", required = true, description = "Output .safetensors file.")
    Path out;

    @Option(names = "--imgsz", arity = "1..2", paramLabel = "W [H]", hideParamSyntax = true, defaultValue = "518",
            description = "Width and height images are resized to (one value: square); rounded up to a multiple of the patch size, 14 for DINOv2 (default: ${DEFAULT-VALUE}).")
    int[] imgsz;

    @Option(names = "--device", paramLabel = "DEV", defaultValue = "auto", description = "cpu, cuda or auto (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "Seed of the random initialisation when no --weights are given.")
    long seed;

    @Override
    public Integer call() throws Exception {
        PrintWriter outw = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        picocli.CommandLine cl = spec.commandLine();
        // the flags first: a bad value is a usage error (exit 2); a bad backbone JSON file is a run-time one (exit 1)
        Flags.device(cl, device);
        int[] size = FeatureExtractor.isPixelValuesFile(input) ? imgsz : Flags.imageSize(cl, imgsz);
        OutputChecks.outputFile(cl, "--out", out);
        OutputChecks.notTheInput(cl, "--input", input, "--out", out);
        WeightsArg.Choice named = WeightsArg.parse(cl, weights);
        String bb = WeightsArg.backbone(cl, named, backbone, null);
        dinoseg.io.AtomicFiles.checkWritable(out);   // before the work: an unwritable folder is a one-line run-time error naming --out
        Flags.require(cl, bb != null, "--backbone is required unless --weights names pretrained weights (e.g. dinov2_vits14)");
        BackboneConfig cfg = Flags.backbone(cl, bb);
        int[] blocks = layers == null ? cfg.defaultLayers() : layers;
        for (int b : blocks)
            Flags.require(cl, b >= 0 && b < cfg.depth(),
                    "--layers: block " + b + " is outside 0.." + (cfg.depth() - 1) + " of the " + cfg.name() + " backbone");
        int w = size[0], h = size.length > 1 ? size[1] : size[0];
        HostTensor pixels = FeatureExtractor.pixelValues(input, cfg.patch(), w, h, err::println);

        Path weightsFile = named == null ? null : WeightsArg.local(named, err);   // a name: from the cache, downloaded once
        Backend be = Backends.create(device, err::println);
        DinoVisionTransformer model = new DinoVisionTransformer(be, cfg, seed);
        if (named != null) Weights.loadBackbone(model, weightsFile, line -> { err.println(line); err.flush(); });
        else err.println("note: no --weights given: the " + cfg.name() + " backbone is randomly initialised (seed " + seed + ")");
        FeatureExtractor fx = new FeatureExtractor(be, model);
        Map<String, HostTensor> result = fx.extract(pixels, blocks);
        String from = named == null ? "random (seed " + seed + ")" : named.label();
        FeatureExtractor.write(out, result, fx.metadata(input, pixels, from, blocks));

        for (var e : result.entrySet()) outw.println(e.getKey() + " " + e.getValue().shape());
        outw.println("wrote " + out);
        outw.flush();
        err.flush();
        return 0;
    }
}
