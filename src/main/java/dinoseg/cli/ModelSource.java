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
                    + "(dinov2_vit{s,b,l,g}14_{voc2012,ade20k}_{linear,ms}) nor an existing checkpoint file");
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
            String m = String.valueOf(e.getMessage());
            if (m.startsWith(file + ": ")) m = m.substring(file.toString().length() + 2);
            throw new IllegalArgumentException(file + ": not a readable dinoseg checkpoint (" + m + ")");
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
