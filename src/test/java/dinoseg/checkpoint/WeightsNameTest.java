package dinoseg.checkpoint;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Names to presets and URLs, and the settings the environment gives. */
class WeightsNameTest {
    private static final HubSettings DEFAULTS = HubSettings.from(n -> null, Path.of("/home/u"));

    @Test void officialNamesFollowTheDinov2Layout() {
        WeightsName n = WeightsName.parse("dinov2_vitl14_reg4").orElseThrow();
        assertEquals("large_reg", n.preset());
        assertTrue(n.official());
        assertEquals(List.of(new WeightsName.RemoteFile("https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_reg4_pretrain.pth",
                "dinov2/dinov2_vitl14/dinov2_vitl14_reg4_pretrain.pth", false)), n.files(DEFAULTS));
        assertEquals("small", WeightsName.parse("dinov2_vits14").orElseThrow().preset());
        assertEquals("base", WeightsName.parse("dinov2_vitb14").orElseThrow().preset());
        assertEquals("giant_reg", WeightsName.parse("dinov2_vitg14_reg4").orElseThrow().preset());
        for (String no : new String[] {"dinov2_vits16", "dinov2_vits14_reg2", "DINOV2_VITS14", "weights/dinov2_vits14.pth", "dinov2_vits14 "})
            assertTrue(WeightsName.parse(no).isEmpty(), no);
    }

    @Test void huggingFaceIdsWithRevisions() {
        WeightsName n = WeightsName.parse("facebook/dinov2-giant").orElseThrow();
        assertEquals("giant", n.preset());
        assertEquals("main", n.revision());
        assertEquals(List.of("https://huggingface.co/facebook/dinov2-giant/resolve/main/model.safetensors",
                "https://huggingface.co/facebook/dinov2-giant/resolve/main/config.json"), n.files(DEFAULTS).stream().map(WeightsName.RemoteFile::url).toList());
        WeightsName r = WeightsName.parse("facebook/dinov2-with-registers-small@v1.0").orElseThrow();
        assertEquals("small_reg", r.preset());
        assertEquals("facebook/dinov2-with-registers-small", r.repo());
        assertEquals("huggingface/facebook/dinov2-with-registers-small/v1.0/model.safetensors", r.files(DEFAULTS).get(0).key());
        for (String no : new String[] {"facebook/dinov2-tiny", "facebook/dinov2-small@", "facebook/dinov2-small@../x", "facebook/dinov2-small@a b",
                "other/dinov2-small"})
            assertTrue(WeightsName.parse(no).isEmpty(), no);
        assertEquals(16, WeightsName.all().size());
        assertTrue(WeightsName.looksLikeName("dinov2_vits16"));
        assertFalse(WeightsName.looksLikeName("dinov2_vits14.pth"));
    }

    @Test void settingsFromTheEnvironment() {
        assertEquals(Path.of("/home/u/.cache/dinoseg"), DEFAULTS.cache());
        assertEquals(Path.of("/x/dinoseg"), HubSettings.from(Map.of("XDG_CACHE_HOME", "/x")::get, Path.of("/h")).cache());
        assertEquals(Path.of("/c"), HubSettings.from(Map.of("XDG_CACHE_HOME", "/x", "DINOSEG_CACHE", "/c")::get, Path.of("/h")).cache());
        HubSettings s = HubSettings.from(Map.of("DINOSEG_DINOV2_URL", "http://mirror/d//", "HF_ENDPOINT", "https://hf-mirror.com/",
                "HF_TOKEN", "t", "HF_HUB_OFFLINE", "ON")::get, Path.of("/h"));
        assertEquals("http://mirror/d", s.dinov2Url());
        assertEquals("https://hf-mirror.com", s.hfEndpoint());
        assertEquals("t", s.hfToken());
        assertEquals("HF_HUB_OFFLINE=ON", s.offlineBy());
        assertFalse(DEFAULTS.offline());
        assertNull(DEFAULTS.hfToken());
        assertThrows(IllegalArgumentException.class, () -> HubSettings.from(Map.of("HF_ENDPOINT", "huggingface.co")::get, Path.of("/h")));
    }
}
