package dinoseg.infer;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.data.ImageIOUtil;
import dinoseg.io.HostTensor;
import dinoseg.io.Safetensors;
import dinoseg.model.BackboneConfig;
import dinoseg.model.DinoVisionTransformer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The feature-extraction library: input rules, shapes and block order, what is written. */
class FeatureExtractorTest {
    @TempDir Path dir;

    /** A tiny backbone with patch 7, so nothing depends on DINOv2's 14. */
    static final BackboneConfig TINY = new BackboneConfig("t", 16, 3, 2, 1, false, 7, 2.0, 4, 1f);

    @Test void imagesAreRoundedUpToThePatchResizedAndNormalised() throws Exception {
        BufferedImage img = new BufferedImage(30, 20, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 20; y++) for (int x = 0; x < 30; x++) img.setRGB(x, y, (x * 8) << 16 | (y * 12) << 8 | 77);
        Path png = dir.resolve("a.png");
        ImageIO.write(img, "png", png.toFile());
        List<String> log = new ArrayList<>();
        HostTensor pv = FeatureExtractor.pixelValues(png, 7, 20, 12, log::add);
        assertArrayEquals(new int[] {1, 3, 14, 21}, pv.shape().dims());
        assertEquals(List.of("note: image size 20x12 rounded up to 21x14 (multiple of patch size 7)"), log);
        assertArrayEquals(ImageIOUtil.resizeNormalise(ImageIOUtil.loadPlanar(png), 21, 14), pv.data(), 0f);
        log.clear();
        FeatureExtractor.pixelValues(png, 7, 21, 14, log::add);
        assertTrue(log.isEmpty(), log.toString());
    }

    @Test void pixelValueFilesAreCheckedAndNamed() throws Exception {
        Path missing = dir.resolve("none.png");
        var e = assertThrows(IllegalArgumentException.class, () -> FeatureExtractor.pixelValues(missing, 7, 14, 14, null));
        assertEquals(missing + ": input file does not exist", e.getMessage());
        Path three = dir.resolve("three.SafeTensors");
        Safetensors.write(three, Map.of("pixel_values", HostTensor.of(new float[3 * 7 * 14], 3, 7, 14)));
        e = assertThrows(IllegalArgumentException.class, () -> FeatureExtractor.pixelValues(three, 7, 14, 14, null));
        assertEquals(three + ": pixel_values must be [B, 3, H, W], got [3, 7, 14]", e.getMessage());
        Path odd = dir.resolve("odd.safetensors");
        Safetensors.write(odd, Map.of("pixel_values", HostTensor.of(new float[3 * 7 * 15], 1, 3, 7, 15)));
        e = assertThrows(IllegalArgumentException.class, () -> FeatureExtractor.pixelValues(odd, 7, 14, 14, null));
        assertEquals(odd + ": pixel_values are 7x15, not a multiple of the patch size 7", e.getMessage());
        Path ok = dir.resolve("ok.safetensors");
        HostTensor batch = HostTensor.of(new float[2 * 3 * 7 * 14], 2, 3, 7, 14);
        Safetensors.write(ok, Map.of("pixel_values", batch));
        assertEquals(batch, FeatureExtractor.pixelValues(ok, 7, -1, -1, null)); // the size is not used for batches
    }

    @Test void featuresAreNormedPatchMapsInBlockOrder() throws Exception {
        Backend be = Backends.cpu();
        DinoVisionTransformer bb = new DinoVisionTransformer(be, TINY, 3);
        FeatureExtractor fx = new FeatureExtractor(be, bb);
        float[] x = new float[2 * 3 * 14 * 21];
        for (int i = 0; i < x.length; i++) x[i] = (float) Math.sin(i * 0.37);
        HostTensor pv = HostTensor.of(x, 2, 3, 14, 21);
        Map<String, HostTensor> f = fx.extract(pv, new int[] {2, 0, 2});
        assertEquals(List.of("layer.0", "layer.2"), List.copyOf(f.keySet()));
        for (HostTensor t : f.values()) assertArrayEquals(new int[] {2, 16, 2, 3}, t.shape().dims());
        // after the final LayerNorm (weight 1, bias 0 at init): every token's channels have mean ~0
        float[] d = f.get("layer.2").data();
        for (int tok = 0; tok < 6; tok++) {
            double s = 0;
            for (int c = 0; c < 16; c++) s += d[c * 6 + tok];
            assertEquals(0, s / 16, 1e-4, "token " + tok);
        }
        assertThrows(IllegalArgumentException.class, () -> fx.extract(pv, new int[] {3}));
        Path out = dir.resolve("o/f.safetensors");
        Map<String, String> meta = fx.metadata(Path.of("in.png"), pv, "random (seed 3)", new int[] {2, 0});
        FeatureExtractor.write(out, f, meta);
        var back = Safetensors.read(out);
        assertArrayEquals(f.get("layer.0").data(), back.get("layer.0").data(), 0f);
        assertEquals("[2, 0]", back.metadata().get("layers"));
        assertEquals("[2, 3, 14, 21]", back.metadata().get("pixel_values_shape"));
        assertEquals("random (seed 3)", back.metadata().get("weights"));
        assertTrue(back.metadata().get("backbone").contains("\"patch\":7"), back.metadata().toString());
    }
}
