package dinoseg.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Presets with the official hyper-parameters, and JSON configurations with clear errors. */
class BackboneConfigTest {
    @TempDir Path dir;

    @Test void presets() {
        BackboneConfig s = BackboneConfig.parse("small"), b = BackboneConfig.parse("base"), l = BackboneConfig.parse("large"), g = BackboneConfig.parse("giant");
        assertEquals(java.util.List.of(384, 12, 6), java.util.List.of(s.embedDim(), s.depth(), s.heads()));
        assertEquals(java.util.List.of(768, 12, 12), java.util.List.of(b.embedDim(), b.depth(), b.heads()));
        assertEquals(java.util.List.of(1024, 24, 16), java.util.List.of(l.embedDim(), l.depth(), l.heads()));
        assertEquals(java.util.List.of(1536, 40, 24), java.util.List.of(g.embedDim(), g.depth(), g.heads()));
        assertTrue(g.swiglu() && !l.swiglu());
        assertEquals(4096, g.ffnHidden());
        assertEquals(1536, s.ffnHidden());
        assertArrayEquals(new int[]{8, 9, 10, 11}, b.defaultLayers());
        assertArrayEquals(new int[]{20, 21, 22, 23}, l.defaultLayers());
        assertArrayEquals(new int[]{36, 37, 38, 39}, g.defaultLayers());
        BackboneConfig r = BackboneConfig.parse("large_reg");
        assertEquals(4, r.registers());
        assertTrue(r.interpolateAntialias());
        assertEquals(0.0, r.interpolateOffset());
        assertFalse(l.interpolateAntialias());
        assertEquals(0.1, l.interpolateOffset());
        for (String p : BackboneConfig.PRESETS) {
            assertEquals(14, BackboneConfig.parse(p).patch());
            assertEquals(37, BackboneConfig.parse(p).posGrid());
        }
    }

    @Test void builderDefaultsAreTheOfficialValues() {
        // every component, positionally, once: the builder's defaults and the presets' sizes
        assertEquals(new BackboneConfig("small", 384, 12, 6, 0, false, 14, 4.0, 37, 1f), BackboneConfig.preset("small"));
        assertEquals(new BackboneConfig("giant_reg", 1536, 40, 24, 4, true, 14, 4.0, 37, 1f), BackboneConfig.preset("giant_reg"));
        assertThrows(IllegalArgumentException.class, () -> BackboneConfig.builder("x").depth(1).heads(1).build(), "embedDim has no default");
        // no NaN stands for "no LayerScale": every backbone has it, with a finite initial value
        var e = assertThrows(IllegalArgumentException.class,
                () -> BackboneConfig.builder("x").embedDim(8).depth(1).heads(1).layerScaleInit(Float.NaN).build());
        assertTrue(e.getMessage().contains("layerscale_init must be a finite number"), e.getMessage());
    }

    @Test void jsonFilesAndTheirErrors() throws Exception {
        Path f = dir.resolve("tiny.json");
        Files.writeString(f, "{\"embed_dim\": 48, \"depth\": 3, \"heads\": 3, \"registers\": 4, \"ffn\": \"swiglu\", \"mlp_ratio\": 2}");
        BackboneConfig c = BackboneConfig.parse(f.toString());
        assertEquals(BackboneConfig.builder("tiny.json").embedDim(48).depth(3).heads(3).registers(4).swiglu(true).mlpRatio(2.0).build(), c);
        assertEquals(c, BackboneConfig.fromJson("tiny.json", c.toJson(), "x"));
        String[][] bad = {
                {"{\"embed_dim\": 48, \"depth\": 3}", "lacks \"heads\""},
                {"{\"embed_dim\": 50, \"depth\": 3, \"heads\": 3}", "not divisible"},
                {"{\"embed_dim\": 48, \"depth\": 3, \"heads\": 3, \"ffn\": \"relu\"}", "ffn must be"},
                {"{\"embed_dim\": 48.5, \"depth\": 3, \"heads\": 3}", "non-negative integer"},
                {"{\"embed_dim\": 48, \"depth\": 3, \"heads\": 3, \"dept\": 2}", "unknown backbone key 'dept'"},
                {"{\"embed_dim\": 48, \"depth\": 3, \"heads\": 3, \"layerscale_init\": NaN}", "layerscale_init must be a number"},
                {"[1]", "must be an object"},
                {"{\"embed_dim\": ", "not valid JSON"},
        };
        for (String[] b : bad) {
            Files.writeString(f, b[0]);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BackboneConfig.parse(f.toString()), b[0]);
            assertTrue(e.getMessage().startsWith(f.toString()) && e.getMessage().contains(b[1]), e.getMessage());
            assertEquals(e.getMessage().indexOf(f.getFileName().toString()), e.getMessage().lastIndexOf(f.getFileName().toString()),
                    "the file is named once: " + e.getMessage());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BackboneConfig.parse(dir.resolve("none.json").toString()));
        assertTrue(e.getMessage().contains("cannot read"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> BackboneConfig.parse("tiny"));
        assertTrue(e.getMessage().contains("unknown backbone 'tiny'"), e.getMessage());
    }

    /** The official configs spell SwiGLUFFNFused "swiglufused" (ffn_layer in their YAML); both spellings build it. */
    @Test void officialFfnSpellings() {
        String base = "{\"embed_dim\": 48, \"depth\": 3, \"heads\": 3, ";
        for (String ffn : new String[]{"\"ffn\": \"swiglufused\"", "\"ffn\": \"SwiGLU\"", "\"ffn_layer\": \"swiglufused\""})
            assertTrue(BackboneConfig.fromJson("t", base + ffn + "}", "t").swiglu(), ffn);
        assertFalse(BackboneConfig.fromJson("t", base + "\"ffn_layer\": \"mlp\"}", "t").swiglu());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BackboneConfig.fromJson("t", base + "\"ffn\": \"mlp\", \"ffn_layer\": \"mlp\"}", "t.json"));
        assertTrue(e.getMessage().startsWith("t.json: give"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> BackboneConfig.fromJson("t", base + "\"ffn\": \"identity\"}", "t.json"));
        assertTrue(e.getMessage().contains("\"swiglufused\""), e.getMessage());
    }
}
