package dinoseg.cli;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backends;
import dinoseg.data.ImageIOUtil;
import dinoseg.checkpoint.Weights;
import dinoseg.io.HostTensor;
import dinoseg.io.Safetensors;
import dinoseg.io.StateDict;
import dinoseg.model.BackboneConfig;
import dinoseg.model.DinoVisionTransformer;
import dinoseg.model.Golden;
import dinoseg.tensor.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** {@code dinoseg features} on a pixel_values batch (against the PyTorch fixture) and on an image file. */
class FeaturesCommandTest {
    @TempDir Path dir;

    Path tinyJson() throws Exception {
        Path j = dir.resolve("tiny.json");
        Files.writeString(j, "{\"embed_dim\": 36, \"depth\": 3, \"heads\": 3, \"registers\": 0, \"ffn\": \"mlp\"}");
        return j;
    }

    @Test void pixelValuesMatchThePyTorchLayers() throws Exception {
        StateDict fx = Golden.read("model_plain.safetensors");
        Path pv = dir.resolve("pv.safetensors");
        Safetensors.write(pv, Map.of("pixel_values", fx.get("input.pixel_values")));
        Path out = dir.resolve("out/feat.safetensors");
        var r = CliRun.run("features", "--backbone", tinyJson().toString(), "--weights", Golden.path("model_plain.safetensors").toString(),
                "--input", pv.toString(), "--layers", "2,0", "--out", out.toString(), "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        StateDict got = Safetensors.read(out);
        assertEquals(java.util.List.of("layer.0", "layer.2"), java.util.List.copyOf(got.tensors().keySet()));
        for (String k : got.tensors().keySet()) {
            HostTensor g = got.get(k);
            Golden.assertClose(fx.get("out." + k), g.shape().dims(), g.data(), 1e-4f, k);
        }
        assertTrue(got.metadata().get("backbone").contains("\"embed_dim\":36"), got.metadata().toString());
        assertTrue(r.out().contains("layer.2 [2, 36, 4, 5]"), r.out());
    }

    @Test void imageIsResizedNormalisedAndMatchesTheLibrary() throws Exception {
        BufferedImage img = new BufferedImage(50, 40, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 40; y++) for (int x = 0; x < 50; x++) img.setRGB(x, y, (x * 5) << 16 | (y * 6) << 8 | ((x + y) * 2));
        Path png = dir.resolve("img.png");
        ImageIO.write(img, "png", png.toFile());
        Path json = tinyJson();
        Path w = dir.resolve("w.safetensors");
        DinoVisionTransformer bb = new DinoVisionTransformer(Backends.cpu(), BackboneConfig.parse(json.toString()), 5);
        Weights.save(bb, w, Map.of());
        Path out = dir.resolve("f.safetensors");
        var r = CliRun.run("features", "--backbone", json.toString(), "--weights", w.toString(), "--input", png.toString(),
                "--imgsz", "40", "30", "--out", out.toString(), "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("rounded up to 42x42"), r.err());
        HostTensor f = Safetensors.read(out).get("layer.2");
        assertArrayEquals(new int[]{1, 36, 3, 3}, f.shape().dims());
        float[] chw = ImageIOUtil.resizeNormalise(ImageIOUtil.loadPlanar(png), 42, 42);
        Ops ops = new Ops(Backends.cpu());
        var expected = bb.getIntermediateLayers(ops, Var.constant(Backends.cpu().fromFloats(chw, Shape.of(1, 3, 42, 42))), new int[]{2}, true, true, false);
        assertArrayEquals(Backends.cpu().toFloats(expected.get(0).features().value()), f.data(), 0f);
    }

    @Test void badInputsFailWithOneLine() throws Exception {
        Path bad = dir.resolve("bad.safetensors");
        Safetensors.write(bad, Map.of("images", HostTensor.of(new float[3 * 14 * 14], 1, 3, 14, 14)));
        var r = CliRun.run("features", "--backbone", tinyJson().toString(), "--input", bad.toString(), "--out", dir.resolve("o.safetensors").toString(), "--device", "cpu");
        assertEquals(1, r.code());
        assertTrue(r.err().contains(bad + ": no tensor named pixel_values"), r.err());
        Path odd = dir.resolve("odd.safetensors");
        Safetensors.write(odd, Map.of("pixel_values", HostTensor.of(new float[3 * 15 * 14], 1, 3, 15, 14)));
        r = CliRun.run("features", "--backbone", tinyJson().toString(), "--input", odd.toString(), "--out", dir.resolve("o.safetensors").toString(), "--device", "cpu");
        assertTrue(r.err().contains("not a multiple of the patch size 14"), r.err());
        Safetensors.write(odd, Map.of("pixel_values", HostTensor.of(new float[3 * 14 * 14], 1, 3, 14, 14)));
        r = CliRun.run("features", "--backbone", tinyJson().toString(), "--input", odd.toString(), "--layers", "3", "--out", dir.resolve("o.safetensors").toString(), "--device", "cpu");
        assertTrue(r.err().contains("--layers: block 3 is outside 0..2"), r.err());
        assertFalse(Files.exists(dir.resolve("o.safetensors")));
    }
}
