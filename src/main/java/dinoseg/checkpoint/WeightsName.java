package dinoseg.checkpoint;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A pretrained backbone named instead of given as a file, and the remote files behind it.
 *
 * <ul>
 *   <li>Official (facebookresearch/dinov2 README, "Pretrained models"): {@code dinov2_vit{s,b,l,g}14[_reg4]}, the
 *       file {@code <DINOSEG_DINOV2_URL>/<base>/<name>_pretrain.pth} where {@code <base>} is the name without
 *       {@code _reg4}.</li>
 *   <li>Hugging Face: {@code facebook/dinov2-{small,base,large,giant}} and
 *       {@code facebook/dinov2-with-registers-{small,base,large,giant}}, optionally {@code @revision} (a branch, tag
 *       or commit; default {@code main}); the files {@code <HF_ENDPOINT>/<id>/resolve/<revision>/model.safetensors}
 *       and {@code config.json}, as huggingface_hub's {@code hf_hub_url} builds them.</li>
 * </ul>
 *
 * @param name     the name as given (revision included)
 * @param official an official name (else a Hugging Face id)
 * @param preset   the backbone preset the weights are for: small, base, large, giant, or one of them with {@code _reg}
 * @param repo     the Hugging Face repository ({@code facebook/dinov2-small}), or null for an official name
 * @param revision the Hugging Face revision ({@code main} when none was given), or null for an official name
 */
public record WeightsName(String name, boolean official, String preset, String repo, String revision) {
    private static final Pattern OFFICIAL = Pattern.compile("dinov2_vit([sblg])14(_reg4)?");
    private static final Pattern HF = Pattern.compile("facebook/dinov2-(with-registers-)?(small|base|large|giant)(?:@([A-Za-z0-9._/-]{1,200}))?");
    private static final String[] SIZES = {"small", "base", "large", "giant"};

    /**
     * The name {@code s} stands for, or empty when it is none of the known names. Names are matched
     * as written (lower case); a revision may hold letters, digits, {@code . _ - /} but no {@code ..}.
     */
    public static Optional<WeightsName> parse(String s) {
        if (s == null) return Optional.empty();
        Matcher m = OFFICIAL.matcher(s);
        if (m.matches()) {
            String size = switch (m.group(1)) { case "s" -> "small"; case "b" -> "base"; case "l" -> "large"; default -> "giant"; };
            return Optional.of(new WeightsName(s, true, size + (m.group(2) != null ? "_reg" : ""), null, null));
        }
        m = HF.matcher(s);
        if (m.matches()) {
            String rev = m.group(3) == null ? "main" : m.group(3);
            if (rev.contains("..") || rev.startsWith("/") || rev.endsWith("/")) return Optional.empty();
            String repo = s.contains("@") ? s.substring(0, s.indexOf('@')) : s;
            return Optional.of(new WeightsName(s, false, m.group(2) + (m.group(1) != null ? "_reg" : ""), repo, rev));
        }
        return Optional.empty();
    }

    /** Every known name (official ones first, Hugging Face ids without a revision), in a stable order. */
    public static List<WeightsName> all() {
        List<WeightsName> l = new ArrayList<>();
        for (String reg : new String[] {"", "_reg4"})
            for (String size : SIZES) l.add(parse("dinov2_vit" + size.charAt(0) + "14" + reg).orElseThrow());
        for (String reg : new String[] {"", "with-registers-"})
            for (String size : SIZES) l.add(parse("facebook/dinov2-" + reg + size).orElseThrow());
        return l;
    }

    /**
     * Whether {@code s} looks meant as a weights name rather than a file (it has no file extension and
     * starts like one of the names): for a clearer error when it is neither a file nor a known name.
     */
    public static boolean looksLikeName(String s) {
        String l = s.toLowerCase(Locale.ROOT);
        return (l.startsWith("dinov2") || l.startsWith("facebook/")) && !l.matches(".*\\.(pth|pt|bin|safetensors)$");
    }

    /** The official file's path below {@code DINOSEG_DINOV2_URL}: {@code dinov2_vits14/dinov2_vits14_reg4_pretrain.pth}. */
    public String officialPath() {
        if (!official) throw new IllegalStateException(name + " is not an official name");
        return name.replace("_reg4", "") + "/" + name + "_pretrain.pth";
    }

    /** The files this name stands for, the weights first (Hugging Face: model.safetensors, then config.json). */
    public List<RemoteFile> files(HubSettings s) {
        if (official) return List.of(RemoteFile.official(s, officialPath()));
        return List.of(RemoteFile.huggingFace(s, repo, revision, "model.safetensors"),
                RemoteFile.huggingFace(s, repo, revision, "config.json"));
    }

    /**
     * A file to download and where it goes in the cache.
     *
     * @param url         where it is fetched from
     * @param key         its path below the cache folder ({@code dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth},
     *                    {@code huggingface/facebook/dinov2-small/main/model.safetensors}); also its manifest key
     * @param huggingFace a Hub file: the token goes with it, and the Hub's ETag/X-Linked-Etag is its known checksum
     */
    public record RemoteFile(String url, String key, boolean huggingFace) {
        private static final Pattern SAFE_PATH = Pattern.compile("[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*");

        /**
         * An official file by its path below {@code DINOSEG_DINOV2_URL}.
         *
         * @throws IllegalArgumentException for a path that is empty, absolute, has {@code .} or {@code ..} parts or other
         *                                  characters than letters, digits, {@code . _ - /}
         */
        public static RemoteFile official(HubSettings s, String relativePath) {
            if (relativePath == null || !SAFE_PATH.matcher(relativePath).matches()
                    || List.of(relativePath.split("/")).stream().anyMatch(p -> p.equals(".") || p.equals("..")))
                throw new IllegalArgumentException("'" + relativePath + "': not a file path below " + s.dinov2Url()
                        + " (letters, digits, . _ - and / only, no . or .. parts)");
            return new RemoteFile(s.dinov2Url() + "/" + relativePath, "dinov2/" + relativePath, false);
        }

        /** A file of a Hub repository at a revision; the revision's slashes become {@code --} in the cache. */
        public static RemoteFile huggingFace(HubSettings s, String repo, String revision, String file) {
            String rev = java.net.URLEncoder.encode(revision, java.nio.charset.StandardCharsets.UTF_8);
            return new RemoteFile(s.hfEndpoint() + "/" + repo + "/resolve/" + rev + "/" + file,
                    "huggingface/" + repo + "/" + revision.replace("/", "--") + "/" + file, true);
        }
    }
}
