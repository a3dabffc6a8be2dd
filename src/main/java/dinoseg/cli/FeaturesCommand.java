package dinoseg.cli;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Tape;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.data.ImageIOUtil;
import dinoseg.checkpoint.Weights;
import dinoseg.io.HostTensor;
import dinoseg.io.Safetensors;
import dinoseg.io.StateDict;
import dinoseg.model.BackboneConfig;
import dinoseg.model.DinoVisionTransformer;
import dinoseg.tensor.Shape;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code dinoseg features}: the normed outputs of chosen backbone blocks for an image (resized to
 * --imgsz and ImageNet-normalised) or a safetensors batch of {@code pixel_values}, written as
 * safetensors with one float32 tensor {@code layer.<index>} [B, C, H/14, W/14] per block.
 */
@Command(name = "features", mixinStandardHelpOptions = true,
        description = "Extract DINOv2 features (after the final norm, class and register tokens removed) from chosen blocks into a safetensors file.")
public final class FeaturesCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--backbone", paramLabel = "B", required = true,
            description = "Preset (small, base, large, giant, or *_reg) or a JSON file.")
    String backbone;

    @Option(names = "--weights", paramLabel = "FILE",
            description = "Backbone weights (.pth, .safetensors; official or Hugging Face names). Without it the backbone is randomly initialised (a notice says so).")
    Path weights;

    @Option(names = "--input", paramLabel = "FILE", required = true,
            description = "An image file (resized to --imgsz and normalised) or a .safetensors file holding pixel_values float32 [B,3,H,W], already normalised.")
    Path input;

    @Option(names = "--layers", paramLabel = "I,J,...", split = ",", description = "Block indices (default: the last four).")
    int[] layers;

    @Option(names = "--out", paramLabel = "FILE", required = true, description = "Output .safetensors file.")
    Path out;

    @Option(names = "--imgsz", arity = "1..2", paramLabel = "N", defaultValue = "518",
            description = "Width and height images are resized to (one value: square); rounded up to a multiple of 14 (default: ${DEFAULT-VALUE}).")
    int[] imgsz;

    @Option(names = "--device", paramLabel = "DEV", defaultValue = "auto", description = "cpu, cuda or auto (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "Seed of the random initialisation when no --weights are given.")
    long seed;

    @Override @SuppressWarnings("try")
    public Integer call() throws Exception {
        PrintWriter outw = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        BackboneConfig cfg = BackboneConfig.parse(backbone);
        if (!Files.isRegularFile(input)) throw new IllegalArgumentException(input + ": input file does not exist");
        Backend be = Backends.create(device, err::println);
        DinoVisionTransformer bb = new DinoVisionTransformer(be, cfg, seed);
        if (weights != null) Weights.loadBackbone(bb, weights, line -> { err.println(line); err.flush(); });
        else err.println("note: no --weights given: the " + cfg.name() + " backbone is randomly initialised (seed " + seed + ")");
        int[] blocks = layers == null ? cfg.defaultLayers() : layers;
        for (int b : blocks)
            if (b < 0 || b >= cfg.depth())
                throw new IllegalArgumentException("--layers: block " + b + " is outside 0.." + (cfg.depth() - 1) + " of the " + cfg.name() + " backbone");

        HostTensor pixels = loadInput(err, cfg.patch());
        Ops ops = new Ops(be);
        Map<String, HostTensor> result = new LinkedHashMap<>();
        try (Tape.Scope ignored = ops.noGrad()) {
            Var x = Var.constant(be.fromFloats(pixels.data(), pixels.shape()));
            for (var o : bb.getIntermediateLayers(ops, x, blocks, true, true, false)) {
                Var f = o.features();
                result.put("layer." + o.block(), new HostTensor(f.shape(), be.toFloats(f.value())));
            }
        }
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("backbone", cfg.toJson());
        meta.put("input", input.toString());
        meta.put("pixel_values_shape", pixels.shape().toString());
        meta.put("weights", weights == null ? "random (seed " + seed + ")" : weights.toString());
        meta.put("layers", Arrays.toString(blocks));
        Safetensors.write(out, result, meta);
        for (var e : result.entrySet()) outw.println(e.getKey() + " " + e.getValue().shape());
        outw.println("wrote " + out);
        outw.flush();
        err.flush();
        return 0;
    }

    private HostTensor loadInput(PrintWriter err, int patch) throws Exception {
        if (input.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors")) {
            StateDict sd = Safetensors.read(input);
            HostTensor pv = sd.get("pixel_values");
            if (pv == null) throw new IllegalArgumentException(input + ": no tensor named pixel_values (found " + sd.tensors().keySet() + ")");
            Shape s = pv.shape();
            if (s.rank() != 4 || s.dim(1) != 3 || s.dim(0) < 1)
                throw new IllegalArgumentException(input + ": pixel_values must be [B, 3, H, W], got " + s);
            if (s.dim(2) % patch != 0 || s.dim(3) % patch != 0 || s.dim(2) == 0 || s.dim(3) == 0)
                throw new IllegalArgumentException(input + ": pixel_values are " + s.dim(2) + "x" + s.dim(3) + ", not a multiple of the patch size " + patch);
            return pv;
        }
        int w = imgsz[0], h = imgsz.length > 1 ? imgsz[1] : imgsz[0];
        if (w < 1 || h < 1) throw new IllegalArgumentException("--imgsz must be positive, got " + w + "x" + h);
        int w14 = DinoVisionTransformer.roundUp(w, patch), h14 = DinoVisionTransformer.roundUp(h, patch);
        if (w14 != w || h14 != h) err.println("note: image size " + w + "x" + h + " rounded up to " + w14 + "x" + h14 + " (multiple of patch size " + patch + ")");
        float[] chw = ImageIOUtil.resizeNormalise(ImageIOUtil.loadPlanar(input), w14, h14);
        return new HostTensor(Shape.of(1, 3, h14, w14), chw);
    }
}
