package dinoseg.cli;

import dinoseg.backend.Backends;
import dinoseg.checkpoint.LocalHub;
import dinoseg.checkpoint.Weights;
import dinoseg.io.Safetensors;
import dinoseg.model.BackboneConfig;
import dinoseg.model.DinoVisionTransformer;
import dinoseg.train.TrainConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --weights NAME} and {@code dinoseg weights list|download|path|verify} against a local server
 * in the official layout; the settings go in as system properties named like the environment variables.
 */
class WeightsByNameCommandTest {
    private static final String VITS = "/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth";
    private static final List<String> PROPS = List.of("DINOSEG_CACHE", "DINOSEG_DINOV2_URL", "HF_ENDPOINT", "DINOSEG_OFFLINE", "HF_HUB_OFFLINE");
    @TempDir Path dir;
    LocalHub server;

    /** A ViT-S/14 with official names, random values (what dinov2_vits14_pretrain.pth holds, as safetensors: read by content). */
    private byte[] vits() throws Exception {
        Path f = dir.resolve("vits14.safetensors");
        Weights.save(new DinoVisionTransformer(Backends.cpu(), BackboneConfig.preset("small"), 7), f, Map.of());
        return Files.readAllBytes(f);
    }

    @BeforeEach void start() throws Exception {
        server = new LocalHub();
        System.setProperty("DINOSEG_CACHE", dir.resolve("cache").toString());
        System.setProperty("DINOSEG_DINOV2_URL", server.base() + "/dinov2");
        System.setProperty("HF_ENDPOINT", server.base());
        System.setProperty("HF_HUB_OFFLINE", "0");   // whatever the machine's environment says
        System.setProperty("DINOSEG_OFFLINE", "0");
    }

    @AfterEach void stop() {
        server.close();
        PROPS.forEach(System::clearProperty);
    }

    @Test void downloadPathListVerify() throws Exception {
        byte[] body = new byte[3 << 20];
        new Random(3).nextBytes(body);
        server.file(VITS, body, 0, Map.of());
        CliRun.Run r = CliRun.run("weights", "path", "dinov2_vits14");
        assertEquals(1, r.code());
        assertEquals("error: dinov2_vits14: not in the cache " + dir.resolve("cache") + "; dinoseg weights download dinov2_vits14 fetches it",
                r.err().strip());

        r = CliRun.run("weights", "download", "dinov2_vits14", "dinov2_vits14/dinov2_vits14_voc2012_linear_head.pth");
        assertEquals(1, r.code(), "the head is not on the server");
        Path cached = dir.resolve("cache/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth");
        assertEquals("dinov2_vits14 " + cached, r.out().strip());
        assertTrue(r.err().contains("error: " + server.base() + "/dinov2/dinov2_vits14/dinov2_vits14_voc2012_linear_head.pth: not found (HTTP 404)"), r.err());
        assertTrue(r.err().contains("download   100%"), r.err());

        r = CliRun.run("weights", "path", "dinov2_vits14");
        assertEquals(0, r.code(), r.err());
        assertEquals(cached.toString(), r.out().strip());

        server.file("/dinov2/dinov2_vits14/dinov2_vits14_voc2012_linear_head.pth", new byte[] {1, 2, 3}, 0, Map.of());
        assertEquals(0, CliRun.run("weights", "download", "dinov2_vits14/dinov2_vits14_voc2012_linear_head.pth").code());
        r = CliRun.run("weights", "list");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().matches("(?s).*\ndinov2_vits14 +small +" + java.util.regex.Pattern.quote(cached.toString()) + " \\(3\\.0 MiB\\)\n.*"), r.out());
        assertTrue(r.out().matches("(?s).*\ndinov2_vitb14_reg4 +base_reg +-\n.*"), r.out());
        assertTrue(r.out().matches("(?s).*\nfacebook/dinov2-with-registers-giant +giant_reg +-\n.*"), r.out());
        assertTrue(r.out().contains("other cached files:\n  " + dir.resolve("cache/dinov2/dinov2_vits14/dinov2_vits14_voc2012_linear_head.pth")), r.out());
        assertTrue(r.out().contains("cache: " + dir.resolve("cache") + " (2 files, 3.0 MiB)"), r.out());

        r = CliRun.run("weights", "verify");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().endsWith(": 2 ok, 0 bad\n"), r.out());
        // one flipped byte, same size and time: verify finds it, removes it, and the next use fetches it again
        FileTime t = Files.getLastModifiedTime(cached);
        byte[] bad = Files.readAllBytes(cached);
        bad[bad.length / 2] ^= 0x40;
        Files.write(cached, bad);
        Files.setLastModifiedTime(cached, t);
        r = CliRun.run("weights", "verify", "dinov2_vits14");
        assertEquals(1, r.code());
        assertTrue(r.out().startsWith("BAD " + cached + ": corrupted (sha256 "), r.out());
        assertTrue(r.out().endsWith("verified 1 cached file in " + dir.resolve("cache") + ": 0 ok, 1 bad\n"), r.out());
        assertEquals(1, CliRun.run("weights", "path", "dinov2_vits14").code());
        assertEquals(0, CliRun.run("weights", "download", "dinov2_vits14").code());
        assertEquals(2, server.requests(VITS).size());
        assertEquals(2, CliRun.run("weights", "path", "dinov2_vits16").code(), "an unknown name is a usage error");
    }

    @Test void featuresTakeANameAndItsBackbone() throws Exception {
        Path png = dir.resolve("img.png");
        BufferedImage img = new BufferedImage(30, 20, BufferedImage.TYPE_INT_RGB);
        Random rnd = new Random(1);
        for (int y = 0; y < 20; y++) for (int x = 0; x < 30; x++) img.setRGB(x, y, rnd.nextInt(1 << 24));
        ImageIO.write(img, "png", png.toFile());
        Path out = dir.resolve("f.safetensors");
        server.file(VITS, vits(), 0, Map.of());

        CliRun.Run r = CliRun.run("features", "--backbone", "base", "--weights", "dinov2_vits14", "--input", png.toString(),
                "--imgsz", "28", "--out", out.toString(), "--device", "cpu");
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("error: --backbone base does not fit --weights dinov2_vits14, which holds the small backbone "
                + "(embed_dim 384, depth 12, heads 6, registers 0); leave --backbone out or give weights that fit it"), r.err());
        assertEquals(0, server.log.size(), "a flag mistake downloads nothing");

        System.setProperty("DINOSEG_OFFLINE", "1");
        r = CliRun.run("features", "--weights", "dinov2_vits14", "--input", png.toString(), "--imgsz", "28", "--out", out.toString(), "--device", "cpu");
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("error: dinov2_vits14: " + dir.resolve("cache") + "/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth is not in "
                + "the cache and DINOSEG_OFFLINE=1 forbids downloading"), r.err());
        assertEquals(1, r.err().strip().split("\n").length, r.err());
        assertEquals(0, server.log.size());
        System.setProperty("DINOSEG_OFFLINE", "0");

        r = CliRun.run("features", "--weights", "dinov2_vits14", "--input", png.toString(), "--imgsz", "28", "--layers", "11",
                "--out", out.toString(), "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("layer.11 [1, 384, 2, 2]"), r.out());
        assertTrue(Safetensors.read(out).metadata().values().stream().anyMatch(v -> v.contains("dinov2_vits14")));
        r = CliRun.run("features", "--backbone", "small", "--weights", "dinov2_vits14", "--input", png.toString(), "--imgsz", "28", "--layers", "12",
                "--out", out.toString(), "--device", "cpu");
        assertEquals(2, r.code(), "a --backbone that fits is taken: its 12 blocks are 0..11");
        assertTrue(r.err().startsWith("error: --layers: block 12 is outside 0..11 of the small backbone"), r.err());
        assertEquals(1, server.log.size());

        r = CliRun.run("features", "--weights", "dinov2_vits16", "--input", png.toString(), "--out", out.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("error: --weights dinov2_vits16: no such file, and not a known weights name"), r.err());
        r = CliRun.run("features", "--input", png.toString(), "--out", out.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("error: --backbone is required unless --weights names pretrained weights"), r.err());
    }

    @Test void trainResolvesTheNameToTheCachedFileAndItsPreset() throws Exception {
        Path data = dir.resolve("data");
        dinoseg.data.DemoData.generate(data, 2);
        CommandLine cl = Main.commandLine();
        CommandLine train = cl.getSubcommands().get("train");
        cl.parseArgs("train", "--data", data.toString(), "--weights", "dinov2_vits14_reg4", "--out-dir", dir.resolve("run").toString());
        server.file("/dinov2/dinov2_vits14/dinov2_vits14_reg4_pretrain.pth", new byte[] {42}, 0, Map.of());
        TrainConfig cfg = ((TrainCommand) train.getCommand()).config(train.getParseResult());
        assertEquals("small_reg", cfg.backbone());
        assertEquals(dir.resolve("cache/dinov2/dinov2_vits14/dinov2_vits14_reg4_pretrain.pth").toString(), cfg.weights());
        assertEquals(1, server.log.size());

        CliRun.Run r = CliRun.run("train", "--data", data.toString(), "--backbone", "small", "--weights", "dinov2_vits14_reg4", "--epochs", "1");
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("error: --backbone small does not fit --weights dinov2_vits14_reg4, which holds the small_reg backbone"), r.err());
        // a file path is taken as before names existed (no request, the default backbone)
        Path local = Files.write(dir.resolve("dinov2_vits14"), new byte[] {1});
        cl = Main.commandLine();
        train = cl.getSubcommands().get("train");
        cl.parseArgs("train", "--data", data.toString(), "--weights", local.toString(), "--out-dir", dir.resolve("run2").toString());
        cfg = ((TrainCommand) train.getCommand()).config(train.getParseResult());
        assertEquals(local.toString(), cfg.weights());
        assertEquals("small", cfg.backbone());
        assertEquals(1, server.log.size());
    }
}
