package dinoseg.cli;

import com.google.gson.JsonObject;
import dinoseg.backend.Backend;
import dinoseg.checkpoint.ModelCheckpoint;
import dinoseg.checkpoint.OfficialModels;
import dinoseg.infer.Predictor;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where {@code infer}, {@code infer-video} and {@code eval} take their model from: exactly one of
 * {@code --checkpoint FILE} (a checkpoint written by dinoseg) and {@code --model NAME|FILE} (an
 * official DINOv2 segmentation model by name, {@link OfficialModels}, its files obtained through
 * {@link OfficialModels#fetcher}; or a checkpoint file, the same as {@code --checkpoint}).
 */
final class ModelSource {
    private ModelSource() { }

    /**
     * A loaded model: our checkpoint ({@code official} null, {@code file} set) or an official one
     * ({@code official} set, {@code file} null). {@code loaded.imgW/imgH} is the default size (an
     * official model's short side, both ways).
     */
    record Resolved(ModelCheckpoint.Loaded loaded, OfficialModels.Spec official, Path file) {
        /** What the model is called in messages and output names: the file or the official name. */
        String label() { return official != null ? official.name() : file.toString(); }
    }

    /** The usage check: exactly one of the two flags, a named model known or a file. */
    static void check(CommandLine cl, Path checkpoint, String model) {
        if (checkpoint == null && model == null)
            throw new CommandLine.ParameterException(cl, "give the model: --model NAME (e.g. dinov2_vits14_voc2012_linear) or --checkpoint FILE");
        if (checkpoint != null && model != null)
            throw new CommandLine.ParameterException(cl, "give --model or --checkpoint, not both");
        if (model != null && !OfficialModels.isName(model) && !Files.exists(Path.of(model)))
            throw new CommandLine.ParameterException(cl, "--model " + model + ": neither an official model name "
                    + "(dinov2_vit{s,b,l,g}14_{voc2012,ade20k}_{linear,ms}) nor an existing checkpoint file" + hint(model));
    }

    /**
     * What to add to the message for an unknown --model value: that the register backbones have no
     * published heads, or the nearest official name ("; did you mean X?", Levenshtein distance at
     * most a third of the name's length), or nothing.
     */
    static String hint(String model) {
        String m = model.toLowerCase(java.util.Locale.ROOT);
        if (m.startsWith("dinov2_") && m.contains("_reg")) return "; no segmentation heads were published for the register backbones";
        org.apache.commons.text.similarity.LevenshteinDistance d = new org.apache.commons.text.similarity.LevenshteinDistance(m.length() / 3 + 1);
        String best = null;
        int bestD = Integer.MAX_VALUE;
        for (String n : OfficialModels.names()) {
            int k = d.apply(m, n);   // -1 when above the threshold
            if (k >= 0 && k < bestD) { best = n; bestD = k; }
        }
        return best == null ? "" : "; did you mean " + best + "?";
    }

    /** Loads the model {@link #check} accepted, on {@code be}; problems are one line naming the file or model. */
    static Resolved load(Path checkpoint, String model, Backend be, PrintWriter err) throws IOException {
        if (model != null && OfficialModels.isName(model)) {
            OfficialModels.Spec s = OfficialModels.spec(model);
            OfficialModels.Loaded l = OfficialModels.load(s.name(), OfficialModels.fetcher, be, line -> { err.println(line); err.flush(); });
            JsonObject cfg = new JsonObject();
            cfg.addProperty("official_model", s.name());
            int side = s.test().shortSide();
            return new Resolved(new ModelCheckpoint.Loaded(l.model(), l.classes(), side, side, cfg), s, null);
        }
        Path file = checkpoint != null ? checkpoint : Path.of(model);
        try {
            return new Resolved(ModelCheckpoint.load(file, be), null, file);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new IllegalArgumentException(e.getMessage() != null && e.getMessage().contains(file.toString())
                    ? e.getMessage() : file + ": checkpoint does not exist");
        } catch (IOException e) {
            if (isTorchSave(file))   // a .pth: the safetensors reader's "header length ..." would say nothing useful
                throw new IllegalArgumentException(file + ": a PyTorch (torch.save) file, not a dinoseg checkpoint: "
                        + "backbone weights go to train --weights; an official model is named, e.g. --model dinov2_vits14_voc2012_linear");
            String m = String.valueOf(e.getMessage());
            if (m.startsWith(file + ": ")) m = m.substring(file.toString().length() + 2);
            throw new IllegalArgumentException(file + ": not a readable dinoseg checkpoint (" + m + ")");
        }
    }

    /**
     * Whether {@code file} starts as torch.save writes: a zip archive (bytes 'P', 'K', 3, 4; PyTorch >= 1.6)
     * or the legacy pickle format (PROTO 2..5, then FRAME 0x95 or the LONG1 0x8a of its magic number).
     */
    static boolean isTorchSave(Path file) {
        try (java.io.InputStream in = Files.newInputStream(file)) {
            byte[] h = in.readNBytes(4);
            if (h.length < 4) return false;
            return (h[0] == 'P' && h[1] == 'K' && h[2] == 3 && h[3] == 4)
                    || ((h[0] & 0xff) == 0x80 && h[1] >= 2 && h[1] <= 5 && ((h[2] & 0xff) == 0x8a || (h[2] & 0xff) == 0x95));
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * The predictor settings of an official model: its published test settings, each overridden by
     * the flag the user gave ({@code size} a fixed W x H instead of the short-side rule, {@code tta}
     * the scales, {@code flip}, {@code slide} CROP STRIDE); null means "not given".
     */
    static Predictor.Options officialOptions(OfficialModels.TestSettings t, int[] size, double[] tta, Boolean flip, int[] slide) {
        double[] ratios = t.ratios().length == 1 && t.ratios()[0] == 1.0 ? null : t.ratios();
        return new Predictor.Options(size != null ? size[0] : t.shortSide(), size != null ? size[1] : t.shortSide(),
                tta != null ? tta : ratios, flip != null ? flip : t.flip(),
                slide != null ? slide[0] : t.slideCrop(), slide != null ? slide[1] : t.slideStride(),
                size != null ? 0 : t.shortSide());
    }
}
