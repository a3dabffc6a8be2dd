package dinoseg.train;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dinoseg.checkpoint.StateDicts;
import dinoseg.io.HostTensor;
import dinoseg.io.Safetensors;
import dinoseg.io.StateDict;
import dinoseg.nn.Module;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Everything a run needs to continue exactly where it stopped, written after every epoch, every
 * {@code --save-every-min} minutes within an epoch and when a signal stops the run, as
 * {@code last_state.safetensors} (atomically: a temporary file renamed over the old one, so a kill
 * at any moment leaves the previous state or the new one, whole): the model's parameters and
 * buffers ({@code model/<state-dict name>}), AdamW's moments ({@code optim/<group>/<index>/m} and
 * {@code /v}) as tensors, and in the {@code dinoseg_state} metadata JSON the training config, the
 * completed epochs, the optimizer's step counts and learning rates, the best scores, the history
 * rows (exact doubles) and, for a state taken within an epoch, {@link Partial}.
 *
 * <p>No random generator state needs saving: every random draw of a run is a pure function of the
 * seed and the epoch (data order, augmentation: see the DataLoader) or of the seed alone (model
 * initialisation), so "RNG state" is the seed in the config plus the next epoch's number and, within
 * an epoch, the number of its batches already trained ({@link Partial#steps}): the loader starts
 * there, with the same order and the same per-sample augmentation.
 *
 * <p>Version 2 adds {@code partial}; version 1 files (epoch boundaries only) still load.
 *
 * @param epoch   epochs completed
 * @param partial the epoch {@code epoch + 1} in progress, or null at an epoch boundary
 */
public record ResumeState(TrainConfig config, int epoch, long globalStep, AdamW.State optimizer,
                          Map<String, HostTensor> model, Best best, List<History.Row> history, Partial partial) {
    public static final String FILE = "last_state.safetensors";
    static final String KEY = dinoseg.checkpoint.ModelCheckpoint.RESUME_STATE_KEY;
    static final int VERSION = 2;

    /**
     * The part of an epoch already trained: its first {@code steps} batches, the pixel-weighted loss
     * sum and the pixels counted so far, the training confusion matrix's counts (row-major,
     * truth × prediction) and the seconds spent on it; a run resumed from here ends the epoch with
     * the metrics of an uninterrupted one. {@code steps} equal to the epoch's batches: training done,
     * validation not yet.
     */
    public record Partial(int steps, double lossSum, long pixels, long[] confusion, double seconds) { }

    /** Best validation scores so far and the epochs they came from (0: none yet). */
    public record Best(double loss, int lossEpoch, double miou, int miouEpoch) {
        public static Best none() { return new Best(Double.POSITIVE_INFINITY, 0, Double.NEGATIVE_INFINITY, 0); }
    }

    /** Captures the state of a run after {@code epoch}. */
    public static ResumeState capture(TrainConfig cfg, int epoch, long globalStep, AdamW opt, Module model, Best best, History h) {
        return capture(cfg, epoch, globalStep, opt, model, best, h, null);
    }

    /** Captures the state of a run after {@code epoch} epochs and {@code partial} of the next (null: none). */
    public static ResumeState capture(TrainConfig cfg, int epoch, long globalStep, AdamW opt, Module model, Best best, History h,
                                      Partial partial) {
        return new ResumeState(cfg, epoch, globalStep, opt.state(), StateDicts.of(model), best, h.rows(), partial);
    }

    public void write(Path file) throws IOException {
        Map<String, HostTensor> tensors = new LinkedHashMap<>();
        for (var e : model.entrySet()) tensors.put("model/" + e.getKey(), e.getValue());
        JsonObject steps = new JsonObject();
        for (var e : optimizer.params().entrySet()) {
            AdamW.ParamState ps = e.getValue();
            tensors.put("optim/" + e.getKey() + "/m", HostTensor.of(ps.m(), ps.m().length));
            tensors.put("optim/" + e.getKey() + "/v", HostTensor.of(ps.v(), ps.v().length));
            steps.addProperty(e.getKey(), ps.step());
        }
        JsonObject meta = new JsonObject();
        meta.addProperty("version", VERSION);
        meta.addProperty("epoch", epoch);
        meta.addProperty("global_step", globalStep);
        meta.add("config", config.toJsonObject());
        JsonObject opt = new JsonObject();
        opt.addProperty("step", optimizer.step());
        JsonArray lrs = new JsonArray();
        for (double lr : optimizer.lrs()) lrs.add(lr);
        opt.add("lrs", lrs);
        opt.add("param_steps", steps);
        meta.add("optimizer", opt);
        JsonObject b = new JsonObject();
        b.addProperty("loss", best.loss());
        b.addProperty("loss_epoch", best.lossEpoch());
        b.addProperty("miou", best.miou());
        b.addProperty("miou_epoch", best.miouEpoch());
        meta.add("best", b);
        JsonArray hist = new JsonArray();
        for (History.Row r : history) {
            JsonArray a = new JsonArray();
            for (double v : new double[]{r.epoch(), r.trainLoss(), r.trainPixAcc(), r.trainMiou(), r.validLoss(),
                    r.validPixAcc(), r.validMiou(), r.lr(), r.seconds()}) a.add(v);
            hist.add(a);
        }
        meta.add("history", hist);
        if (partial != null) {
            JsonObject p = new JsonObject();
            p.addProperty("steps", partial.steps());
            p.addProperty("loss_sum", partial.lossSum());
            p.addProperty("pixels", partial.pixels());
            JsonArray cm = new JsonArray();
            for (long c : partial.confusion()) cm.add(c);
            p.add("confusion", cm);
            p.addProperty("seconds", partial.seconds());
            meta.add("partial", p);
        }
        Safetensors.write(file, tensors, Map.of(KEY, meta.toString()));
    }

    /** Reads a state file, or {@code last_state.safetensors} inside a run directory. */
    public static ResumeState read(Path fileOrDir) {
        Path file = Files.isDirectory(fileOrDir) ? fileOrDir.resolve(FILE) : fileOrDir;
        StateDict sd;
        try {
            sd = Safetensors.read(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": resume state does not exist");
        } catch (IOException e) {
            throw new IllegalArgumentException(oneLine(e.getMessage(), file));
        }
        String text = sd.metadata().get(KEY);
        if (text == null) throw new IllegalArgumentException(file + ": not a dinoseg resume state (no " + KEY + " metadata; give last_state.safetensors or its run folder)");
        try {
            JsonObject meta = JsonParser.parseString(text).getAsJsonObject();
            int version = meta.get("version").getAsInt();
            if (version < 1 || version > VERSION)
                throw new IllegalArgumentException(file + ": resume state version " + version + ", this build reads 1 to " + VERSION);
            TrainConfig cfg = TrainConfig.fromJson(meta.getAsJsonObject("config").toString(), file.toString());
            JsonObject opt = meta.getAsJsonObject("optimizer");
            JsonArray lrsJ = opt.getAsJsonArray("lrs");
            double[] lrs = new double[lrsJ.size()];
            for (int i = 0; i < lrs.length; i++) lrs[i] = lrsJ.get(i).getAsDouble();
            Map<String, AdamW.ParamState> params = new LinkedHashMap<>();
            for (var e : opt.getAsJsonObject("param_steps").entrySet()) {
                HostTensor m = sd.get("optim/" + e.getKey() + "/m"), v = sd.get("optim/" + e.getKey() + "/v");
                if (m == null || v == null) throw new IllegalArgumentException(file + ": optimizer moments of " + e.getKey() + " are missing");
                params.put(e.getKey(), new AdamW.ParamState(e.getValue().getAsInt(), m.data(), v.data()));
            }
            Map<String, HostTensor> model = new LinkedHashMap<>();
            for (var e : sd.tensors().entrySet())
                if (e.getKey().startsWith("model/")) model.put(e.getKey().substring(6), e.getValue());
            JsonObject b = meta.getAsJsonObject("best");
            Best best = new Best(b.get("loss").getAsDouble(), b.get("loss_epoch").getAsInt(), b.get("miou").getAsDouble(), b.get("miou_epoch").getAsInt());
            List<History.Row> rows = new ArrayList<>();
            for (JsonElement el : meta.getAsJsonArray("history")) {
                JsonArray a = el.getAsJsonArray();
                rows.add(new History.Row(a.get(0).getAsInt(), a.get(1).getAsDouble(), a.get(2).getAsDouble(), a.get(3).getAsDouble(),
                        a.get(4).getAsDouble(), a.get(5).getAsDouble(), a.get(6).getAsDouble(), a.get(7).getAsDouble(), a.get(8).getAsDouble()));
            }
            Partial partial = null;
            if (meta.has("partial") && !meta.get("partial").isJsonNull()) {
                JsonObject p = meta.getAsJsonObject("partial");
                JsonArray cmJ = p.getAsJsonArray("confusion");
                long[] cm = new long[cmJ.size()];
                for (int i = 0; i < cm.length; i++) cm[i] = cmJ.get(i).getAsLong();
                partial = new Partial(p.get("steps").getAsInt(), p.get("loss_sum").getAsDouble(), p.get("pixels").getAsLong(), cm,
                        p.get("seconds").getAsDouble());
                if (partial.steps() < 0 || partial.pixels() < 0)
                    throw new IllegalArgumentException(file + ": malformed resume state (negative partial-epoch counts)");
            }
            return new ResumeState(cfg, meta.get("epoch").getAsInt(), meta.get("global_step").getAsLong(),
                    new AdamW.State(opt.get("step").getAsInt(), lrs, params), model, best, rows, partial);
        } catch (com.google.gson.JsonParseException e) {
            throw new IllegalArgumentException(file + ": malformed resume state (its " + KEY + " metadata is "
                    + dinoseg.io.JsonText.describe(e) + ")");
        } catch (NullPointerException e) {
            throw new IllegalArgumentException(file + ": malformed resume state (a field of its " + KEY + " metadata is missing)");
        } catch (IllegalStateException | UnsupportedOperationException | NumberFormatException e) {
            throw new IllegalArgumentException(file + ": malformed resume state (" + dinoseg.io.JsonText.clean(e.getMessage()) + ")");
        }
    }

    private static String oneLine(String msg, Path file) {
        String m = msg == null ? "cannot read" : msg.replaceAll("\\s+", " ");
        return m.contains(file.toString()) ? m : file + ": " + m;
    }
}
