package dinoseg.train;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.annotations.SerializedName;

import java.util.Arrays;
import java.util.Locale;
import java.util.Set;

/**
 * Every setting of a training run. The CLI fills it from flags (or the demo preset), the trainer
 * reads it, and it is written as {@code config.json} in the run directory and into the resume state,
 * so a run can be repeated or continued from what it left. JSON names are the flag names with
 * underscores.
 */
public final class TrainConfig {
    /** Backbone: a preset name (small, base, large, giant, ...) or a JSON config file. */
    public String backbone = "small";
    /** The backbone config JSON resolved at start (so a run does not depend on the file staying put). */
    @SerializedName("backbone_config") public JsonObject backboneConfig;
    /** Backbone weights (.pth or .safetensors), or null for a random backbone. */
    public String weights;
    /** Head: linear, bn or conv. */
    public String head = "linear";
    /** Train the backbone too (otherwise it is frozen: no tape, no gradients). */
    @SerializedName("fine_tune") public boolean fineTune;
    public int epochs = 20;
    @SerializedName("img_width") public int imgWidth = 644;
    @SerializedName("img_height") public int imgHeight = 644;
    public int batch = 4;
    public double lr = 1e-4;
    /** Decoupled weight decay of AdamW (PyTorch's default 0.01); not applied to norms, biases, tokens, LayerScale. */
    @SerializedName("weight_decay") public double weightDecay = 0.01;
    /** none, multistep, poly or cosine. */
    public String scheduler = "none";
    /** Multistep milestones in epochs (the lr is multiplied by {@link #schedulerGamma} at each). */
    @SerializedName("scheduler_epochs") public int[] schedulerEpochs = {30};
    @SerializedName("scheduler_gamma") public double schedulerGamma = 0.1;
    /** Linear warmup in epochs (fractions allowed, counted in steps). */
    public double warmup = 0;
    /** Fine-tune: the backbone's lr is lr times this. */
    @SerializedName("backbone_lr_scale") public double backboneLrScale = 0.1;
    /** Augmentation recipe: none, tutorial or official. */
    public String augment = "none";
    /** auto, cpu or cuda. */
    public String device = "auto";
    /** Data loader threads (0: all cores). */
    public int workers = 0;
    public long seed = 42;
    @SerializedName("out_dir") public String outDir;
    /** Frozen backbone only: run it once per image and train the head on the cached maps. */
    @SerializedName("cache_features") public boolean cacheFeatures;
    /** Largest share of the maximum heap the feature cache may take. */
    @SerializedName("cache_budget") public double cacheBudget = 0.5;
    /** The dataset settings (as the dataset flags gave them). */
    public JsonObject dataset = new JsonObject();
    /**
     * Minutes between resume states written within an epoch (at a step boundary), so a long epoch
     * is not lost to a reboot or a kill; 0: only at epoch ends (and when a signal stops the run).
     */
    @SerializedName("save_every_min") public double saveEveryMin = 10;
    /** Index of the validation image whose prediction is drawn every epoch. */
    @SerializedName("preview_index") public int previewIndex = 0;
    /** Set by the demo. */
    public boolean demo;

    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues()
            .disableHtmlEscaping().create();
    private static final Set<String> HEADS = Set.of("linear", "bn", "conv");
    private static final Set<String> DEVICES = Set.of("auto", "cpu", "cuda");

    /** Checks every setting; a bad one fails with one line naming the flag. */
    public TrainConfig validate() {
        head = head.toLowerCase(Locale.ROOT);
        if (!HEADS.contains(head)) throw new IllegalArgumentException("--head: '" + head + "' is not one of linear, bn, conv");
        if (epochs < 1) throw new IllegalArgumentException("--epochs must be at least 1, got " + epochs);
        if (imgWidth < 14 || imgHeight < 14)
            throw new IllegalArgumentException("--imgsz must be at least 14 14, got " + imgWidth + " " + imgHeight);
        if (batch < 1) throw new IllegalArgumentException("--batch must be at least 1, got " + batch);
        if (!(lr > 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("--lr must be a positive number, got " + lr);
        if (!(weightDecay >= 0)) throw new IllegalArgumentException("--weight-decay must be >= 0, got " + weightDecay);
        LrSchedule.Kind.parse(scheduler);
        scheduler = scheduler.toLowerCase(Locale.ROOT);
        if (schedulerEpochs == null) schedulerEpochs = new int[0];
        for (int m : schedulerEpochs)
            if (m < 1) throw new IllegalArgumentException("--scheduler-epochs: milestones are epochs >= 1, got " + m);
        if (!(schedulerGamma > 0)) throw new IllegalArgumentException("--scheduler-gamma must be positive, got " + schedulerGamma);
        if (!(warmup >= 0)) throw new IllegalArgumentException("--warmup must be >= 0 epochs, got " + warmup);
        if (!(backboneLrScale >= 0)) throw new IllegalArgumentException("--backbone-lr-scale must be >= 0, got " + backboneLrScale);
        augment = augment.toLowerCase(Locale.ROOT);
        if (!Set.of("none", "tutorial", "official").contains(augment))
            throw new IllegalArgumentException("--augment: '" + augment + "' is not one of none, tutorial, official");
        device = device.toLowerCase(Locale.ROOT);
        if (!DEVICES.contains(device)) throw new IllegalArgumentException("--device: '" + device + "' is not one of auto, cpu, cuda");
        if (workers < 0) throw new IllegalArgumentException("--workers must be >= 0, got " + workers);
        if (cacheFeatures && fineTune)
            throw new IllegalArgumentException("--cache-features needs a frozen backbone: it cannot be combined with --fine-tune");
        if (cacheFeatures && !augment.equals("none"))
            throw new IllegalArgumentException("--cache-features runs the backbone once per image, so it cannot be combined with --augment " + augment);
        if (!(saveEveryMin >= 0) || Double.isInfinite(saveEveryMin))
            throw new IllegalArgumentException("--save-every-min must be a number of minutes >= 0 (0: only at epoch ends), got " + saveEveryMin);
        if (!(cacheBudget > 0 && cacheBudget <= 1)) throw new IllegalArgumentException("cache budget must be in (0, 1], got " + cacheBudget);
        return this;
    }

    public String toJson() { return GSON.toJson(this); }

    public JsonObject toJsonObject() { return GSON.toJsonTree(this).getAsJsonObject(); }

    /** Reads a config written by {@link #toJson}; {@code where} names the source in errors. */
    public static TrainConfig fromJson(String text, String where) {
        try {
            JsonElement e = JsonParser.parseString(text);
            if (!e.isJsonObject()) throw new IllegalArgumentException(where + ": training config is not a JSON object");
            TrainConfig c = GSON.fromJson(e, TrainConfig.class);
            if (c.dataset == null) c.dataset = new JsonObject();
            return c;
        } catch (JsonParseException | IllegalStateException | NumberFormatException e) {
            throw new IllegalArgumentException(where + ": bad training config (" + firstLine(e.getMessage()) + ")");
        }
    }

    public TrainConfig copy() { return fromJson(toJson(), "copy"); }

    static String firstLine(String s) {
        if (s == null) return "";
        int i = s.indexOf('\n');
        return i < 0 ? s : s.substring(0, i);
    }

    @Override public String toString() {
        return "TrainConfig" + toJsonObject() + " milestones=" + Arrays.toString(schedulerEpochs);
    }
}
