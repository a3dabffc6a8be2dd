package dinoseg.cli;

import dinoseg.checkpoint.HubSettings;
import dinoseg.checkpoint.WeightsHub;
import dinoseg.checkpoint.WeightsName;
import dinoseg.model.BackboneConfig;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * {@code --weights FILE|NAME}: a file that exists is taken as it is (as before names existed); else
 * a known name ({@link WeightsName}: {@code dinov2_vits14}, {@code facebook/dinov2-small@main}, ...)
 * stands for cached, downloaded-once weights ({@link WeightsHub}) and implies the backbone preset;
 * else the path goes on to the loader, which says it does not exist. Something that looks like a
 * name but is none is a usage error listing where the names are.
 */
final class WeightsArg {
    private WeightsArg() { }

    /**
     * What {@code --weights} said.
     *
     * @param given the flag's value
     * @param file  the file, when it is a path
     * @param name  the name, when it is one
     */
    record Choice(String given, Path file, WeightsName name) {
        /** What the weights are called in outputs: the name, or the path. */
        String label() { return file != null ? file.toString() : given; }
    }

    /** Reads the flag without touching the network; null for null. */
    static Choice parse(CommandLine cl, String weights) {
        if (weights == null) return null;
        Path p = null;
        try {
            p = Path.of(weights);
        } catch (InvalidPathException e) {
            // not a path on this system: only a name can it be
        }
        if (p != null && Files.exists(p)) return new Choice(weights, p, null);
        var name = WeightsName.parse(weights);
        if (name.isPresent()) return new Choice(weights, null, name.get());
        if (p == null || WeightsName.looksLikeName(weights))
            throw new CommandLine.ParameterException(cl, "--weights " + weights + ": no such file, and not a known weights name "
                    + "(dinov2_vit{s,b,l,g}14[_reg4], facebook/dinov2-[with-registers-]{small,base,large,giant}[@revision]; "
                    + "dinoseg weights list shows them)");
        return new Choice(weights, p, null);
    }

    /**
     * The backbone to build: {@code explicitBackbone} when given (it must fit a named weights'
     * backbone: a usage error otherwise), else the preset the name implies, else {@code fallback}.
     */
    static String backbone(CommandLine cl, Choice w, String explicitBackbone, String fallback) {
        if (w == null || w.name() == null) return explicitBackbone != null ? explicitBackbone : fallback;
        if (explicitBackbone == null) return w.name().preset();
        BackboneConfig given = Flags.backbone(cl, explicitBackbone), implied = BackboneConfig.preset(w.name().preset());
        if (given.embedDim() != implied.embedDim() || given.depth() != implied.depth() || given.heads() != implied.heads()
                || given.registers() != implied.registers() || given.swiglu() != implied.swiglu() || given.patch() != implied.patch())
            throw new CommandLine.ParameterException(cl, String.format(Locale.ROOT,
                    "--backbone %s does not fit --weights %s, which holds the %s backbone (embed_dim %d, depth %d, heads %d, registers %d); "
                            + "leave --backbone out or give weights that fit it",
                    explicitBackbone, w.given(), implied.name(), implied.embedDim(), implied.depth(), implied.heads(), implied.registers()));
        return explicitBackbone;
    }

    /** The local file: the path, or the named weights from the cache (downloaded with a bar on {@code err} if missing). */
    static Path local(Choice w, PrintWriter err) throws IOException {
        if (w.file() != null) return w.file();
        return new WeightsHub(HubSettings.current(), err).fetch(w.name());
    }
}
