package dinoseg.infer;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Tape;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.data.ImageIOUtil;
import dinoseg.data.Preprocess;
import dinoseg.io.HostTensor;
import dinoseg.io.Safetensors;
import dinoseg.io.StateDict;
import dinoseg.model.DinoVisionTransformer;
import dinoseg.tensor.Shape;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Backbone features of an image or a batch (what {@code dinoseg features} writes): the outputs of
 * chosen blocks after the final LayerNorm, class and register tokens removed, as feature maps
 * {@code [B, C, H/p, W/p]} (C the embedding width, p the patch size) — DINOv2's
 * {@code get_intermediate_layers(x, n=blocks, reshape=True, norm=True)} in
 * {@code dinov2/models/vision_transformer.py}.
 *
 * <p>The input ({@link #pixelValues}) is either an image file, read by {@link ImageIOUtil} (upright,
 * 8-bit RGB as PIL decodes it), resized bilinearly (align_corners=False) to the requested size
 * rounded up to the patch size and ImageNet-normalised, or a safetensors file holding
 * {@code pixel_values} float32 {@code [B, 3, H, W]} already normalised (the Hugging Face
 * processor's output name). The result is written ({@link #write}) as safetensors, one float32
 * tensor {@code layer.<block>} per block, with metadata saying where it came from.
 *
 * <pre>{@code
 * HostTensor pixels = FeatureExtractor.pixelValues(file, cfg.patch(), 518, 518, err::println);
 * FeatureExtractor fx = new FeatureExtractor(backend, backbone);
 * Map<String, HostTensor> layers = fx.extract(pixels, cfg.defaultLayers());   // layer.8 ... layer.11
 * FeatureExtractor.write(out, layers, fx.metadata(file, pixels, "weights/dinov2_vits14.pth", cfg.defaultLayers()));
 * }</pre>
 */
public final class FeatureExtractor {
    private final Backend be;
    private final DinoVisionTransformer backbone;

    /** Extraction with {@code backbone} (its weights already loaded) on {@code be}, the backend it lives on. */
    public FeatureExtractor(Backend be, DinoVisionTransformer backbone) {
        this.be = be;
        this.backbone = backbone;
    }

    /** Whether {@code input} is read as a {@code pixel_values} batch: its name ends with {@code .safetensors} (any case). */
    public static boolean isPixelValuesFile(Path input) {
        return input.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors");
    }

    /**
     * The network input of a file: {@code [B, 3, H, W]} float32, ImageNet-normalised, H and W
     * multiples of {@code patch}.
     *
     * <p>A {@code .safetensors} file ({@link #isPixelValuesFile}) gives its {@code pixel_values}
     * tensor as stored ({@code width}, {@code height} unused). Any other file is read as an image
     * ({@link ImageIOUtil#loadPlanar}) and becomes {@code [1, 3, h, w]}: {@code width} x {@code height}
     * pixels each rounded up to a multiple of {@code patch} (a notice line to {@code log} when that
     * changes the size), resized and normalised by {@link ImageIOUtil#resizeNormalise}.
     *
     * @param patch  the backbone's patch size in pixels ({@code BackboneConfig.patch()})
     * @param width  target width in pixels (images only)
     * @param height target height in pixels (images only)
     * @param log    receives the rounding notice (may be null)
     * @throws IllegalArgumentException one line naming the file: it does not exist or is a directory; it has no tensor
     *         named {@code pixel_values}; that tensor is not {@code [B, 3, H, W]} with B &gt;= 1 or its
     *         sides are not positive multiples of {@code patch}; the image cannot be decoded; or (for an
     *         image) {@code width}/{@code height} are not positive
     * @throws IOException when the safetensors file cannot be read
     */
    public static HostTensor pixelValues(Path input, int patch, int width, int height, Consumer<String> log) throws IOException {
        dinoseg.io.FileKinds.requireFile(input, "input file");
        if (isPixelValuesFile(input)) {
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
        Preprocess size = Preprocess.of(width, height, patch, log);
        int w = size.width(), h = size.height();
        float[] chw = ImageIOUtil.resizeNormalise(ImageIOUtil.loadPlanar(input), w, h);
        return new HostTensor(Shape.of(1, 3, h, w), chw);
    }

    /**
     * The normed outputs of {@code blocks} for a batch, without a tape.
     *
     * @param pixelValues {@code [B, 3, H, W]}, ImageNet-normalised, H and W multiples of the patch size
     * @param blocks      block indices in {@code 0 .. depth-1} (any order; repeats count once)
     * @return {@code "layer.<block>"} to {@code [B, C, H/p, W/p]} float32, in ascending block order
     * @throws IllegalArgumentException (from the backbone) for a bad input shape, no blocks, or a
     *         block outside {@code 0 .. depth-1}
     */
    @SuppressWarnings("try") // the no-grad scope is used for its effect
    public Map<String, HostTensor> extract(HostTensor pixelValues, int[] blocks) {
        Map<String, HostTensor> result = new LinkedHashMap<>();
        try (Ops ops = new Ops(be); Tape.Scope ignored = ops.noGrad()) {
            Var x = ops.constant(be.fromFloats(pixelValues.data(), pixelValues.shape()));
            for (var o : backbone.getIntermediateLayers(ops, x, blocks, true, true, false)) {
                Var f = o.features();
                result.put("layer." + o.block(), new HostTensor(f.shape(), be.toFloats(f.value())));
            }
        }
        return result;
    }

    /**
     * The provenance written beside the features: {@code backbone} (the configuration as JSON),
     * {@code input} (the path as given), {@code pixel_values_shape}, {@code weights} (the caller's
     * description, e.g. the file or "random (seed 0)") and {@code layers} (the blocks as requested).
     */
    public Map<String, String> metadata(Path input, HostTensor pixelValues, String weights, int[] blocks) {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("backbone", backbone.cfg.toJson());
        meta.put("input", input.toString());
        meta.put("pixel_values_shape", pixelValues.shape().toString());
        meta.put("weights", weights);
        meta.put("layers", Arrays.toString(blocks));
        return meta;
    }

    /** Writes the features and metadata as one safetensors file, atomically ({@link Safetensors#write}). */
    public static void write(Path out, Map<String, HostTensor> features, Map<String, String> metadata) throws IOException {
        Safetensors.write(out, features, metadata);
    }
}
