package dinoseg.data;

import dinoseg.cli.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class DemoDataTest {

    private static List<Path> files(Path root) throws Exception {
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(Files::isRegularFile).map(root::relativize).sorted().toList();
        }
    }

    @Test
    void sameSeedSameBytesOtherSeedOtherImages(@TempDir Path tmp) throws Exception {
        DemoData.generate(tmp.resolve("a"), 11, 6, 2);
        DemoData.generate(tmp.resolve("b"), 11, 6, 2);
        DemoData.generate(tmp.resolve("c"), 12, 6, 2);
        List<Path> fa = files(tmp.resolve("a"));
        assertEquals(fa, files(tmp.resolve("b")));
        assertEquals(2 * (6 + 2) + 1, fa.size());
        for (Path f : fa)
            assertArrayEquals(Files.readAllBytes(tmp.resolve("a").resolve(f)), Files.readAllBytes(tmp.resolve("b").resolve(f)), f.toString());
        assertFalse(Arrays.equals(Files.readAllBytes(tmp.resolve("a/train_images/train_000.jpg")),
                Files.readAllBytes(tmp.resolve("c/train_images/train_000.jpg"))));
    }

    @Test
    void layoutOneWithEveryClassInEveryMask(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("demo");
        CommandLine cl = Main.commandLine();
        StringWriter sw = new StringWriter();
        cl.setOut(new PrintWriter(sw, true));
        assertEquals(0, cl.execute("demo-data", "--out", out.toString(), "--seed", "3"));
        assertTrue(sw.toString().startsWith("demo data: 64 train / 16 valid images of 112x112"), sw.toString());
        Datasets.Opened o = Datasets.open(DatasetSpec.ofDir(out), null);
        assertEquals(Datasets.Layout.TUTORIAL, o.layout());
        assertEquals(DemoData.CLASS_NAMES, o.classes().names());
        assertEquals(Palette.vocColor(3), o.classes().color(3));
        assertEquals(64, o.train().size());
        assertEquals(16, o.valid().size());
        assertTrue(o.unpaired().isEmpty());
        for (SegDataset ds : List.of(o.train(), o.valid())) {
            for (int i = 0; i < ds.size(); i++) {
                SegDataset.Item item = ds.load(i);
                assertEquals(MaskFormat.RGB, item.mask().format());
                assertEquals(0, item.mask().unknownPixels());
                assertEquals(DemoData.SIZE, item.image().width);
                long[] count = new long[4];
                for (int l : item.mask().labels()) count[l]++;
                for (int c = 0; c < 4; c++) assertTrue(count[c] >= 60, ds.name() + " " + i + " class " + c + ": " + count[c]);
            }
        }
        DatasetCheck.Report r = DatasetCheck.run(DatasetSpec.ofDir(out), 2, null);
        assertTrue(r.trainable());
        assertEquals(0, r.problems().size(), r.problems().toString());
    }
}
