package dinoseg.train;

import dinoseg.io.JsonText;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.annotations.SerializedName;
import dinoseg.backend.Precision;
import dinoseg.data.Augment;
import dinoseg.model.Lora;
import dinoseg.model.SegmentationHead;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * Every setting of a training run, immutable. Built with {@link #builder()} (library defaults),
 * {@link #toBuilder()} (a copy to change) or {@link #fromJson} (a preset, {@code config.json}, the
 * resume state); the CLI starts from the defaults or the demo preset and applies only the flags the
 * user gave ({@link Builder#overriddenBy}). Every instance is valid: the canonical constructor checks
 * every setting and fails with one line naming its flag ({@link InvalidSettingException}).
 *
 * <p>It is written as {@code config.json} in the run folder, into the resume state and into each
 * checkpoint's {@code train_config}, so a run can be repeated or continued from what it left. JSON
 * names are the flag names with underscores ({@code --weight-decay} is {@code weight_decay});
 * enums are written as their lower-case flag values ({@code "cosine"}); absent keys take the
 * defaults below, so older files keep loading.
 *
 * @param backbone        a preset name (small, base, large, giant, their _reg variants) or a JSON backbone config file
 * @param backboneConfig  the backbone config JSON resolved at the start of a run (so a run does not depend on the file
 *                        staying put), or null until then
 * @param weights         backbone weights (.pth or .safetensors), or null for a random backbone
 * @param head            the segmentation head
 * @param fineTune        train the backbone too (otherwise it is frozen: no tape, no gradients)
 * @param epochs          epochs to train, at least 1
 * @param imgWidth        training width in pixels, at least 14 (a run rounds it up to a multiple of the patch)
 * @param imgHeight       training height in pixels, at least 14
 * @param batch           images per step, at least 1
 * @param lr              base learning rate of the head, positive and finite
 * @param weightDecay     decoupled weight decay of AdamW (PyTorch's default 0.01), not applied to norms, biases, tokens,
 *                        LayerScale; at least 0
 * @param scheduler       learning-rate schedule ({@link LrSchedule})
 * @param schedulerEpochs multistep milestones in epochs (each at least 1): the lr is multiplied by {@code schedulerGamma}
 *                        at each
 * @param schedulerGamma  multistep factor, positive
 * @param warmup          linear warmup in epochs (fractions allowed, counted in steps), at least 0
 * @param backboneLrScale fine-tune: the backbone's lr is lr times this; at least 0
 * @param augment         augmentation recipe ({@link Augment.Mode})
 * @param device          auto, cpu or cuda
 * @param workers         data loader threads (0: all cores)
 * @param seed            seed of initialisation, data order and augmentation
 * @param outDir          the run folder, or null (the CLI picks {@code outputs/<timestamp>}; a run needs one)
 * @param cacheFeatures   frozen backbone only, no augmentation: run the backbone once per image and train the head on
 *                        the cached maps
 * @param cacheBudget     largest share of the maximum heap the feature cache may take, in (0, 1]
 * @param dataset         the dataset settings (as the dataset flags gave them; a run adds the resolved classes)
 * @param saveEveryMin    minutes between resume states written within an epoch (at a step boundary), so a long epoch is
 *                        not lost to a reboot or a kill; 0: only at epoch ends (and when a signal stops the run)
 * @param previewIndex    index of the validation image whose prediction is drawn every epoch
 * @param demo            set by the demo
 * @param precision       operands of matrix products ({@link Precision}: fp32, or tf32/bf16 rounded with fp32
 *                        accumulation, as PyTorch's allow_tf32 / autocast(bfloat16) matmuls); weights, gradients,
 *                        optimizer state and checkpoints stay fp32. Written to JSON only when not fp32.
 * @param clipGrad        largest total L2 norm of the gradients before each optimizer step, as
 *                        {@code torch.nn.utils.clip_grad_norm_} ({@link AdamW#clipGradNorm}); 0: no clipping
 *                        (and left out of the JSON)
 * @param loraRank        LoRA rank r ({@link Lora}): 0 = no LoRA; otherwise the backbone's base weights are frozen and
 *                        low-rank adapters on {@code loraTargets} train with the head (at {@code lr}); excludes
 *                        {@code fineTune} and {@code cacheFeatures}. Left out of the JSON when 0.
 * @param loraAlpha       LoRA alpha (PEFT's lora_alpha; default 8): the adapters' outputs are scaled by alpha / r
 * @param loraTargets     the Linears to adapt by name: qkv, proj, fc1, fc2 (w12, w3 for SwiGLU backbones); default qkv
 * @param layerDecay      fine-tune: layer-wise lr decay D in (0, 1] (BEiT/MAE): backbone block i (0-based) of depth L
 *                        trains at lr·S·D^(L−i), the embeddings at lr·S·D^(L+1), the final norm at lr·S, the head at lr
 *                        (S: {@code backboneLrScale}; see {@link ParamGroups}); 1: off (and left out of the JSON)
 * @param unfreezeLast    fine-tune: train only the last N blocks and the final norm; the embeddings and the earlier
 *                        blocks stay frozen and run without a tape. 0: the whole backbone (and left out of the JSON)
 * @param dropPath        fine-tune: stochastic depth rate in [0, 1), linear over the blocks (block i of L: rate·i/(L−1)),
 *                        per sample, training only; masks keyed by (seed, epoch, step, block) so a resumed run repeats
 *                        them. 0: off (and left out of the JSON)
 * @param accumSteps      batches whose gradients are accumulated before each optimizer step, at least 1. Each batch's
 *                        pixel-mean loss is weighted by its share of the counted pixels of the K batches, so K batches of
 *                        b images make the same step as one batch of K·b (with a batch-independent head: linear, conv);
 *                        the schedule counts optimizer steps. 1: every batch (and left out of the JSON)
 * @param checkpointBlocks fine-tune: activation checkpointing per backbone block (each block keeps only its input and
 *                        is recomputed in backward: less memory, a second forward of the blocks; same gradients).
 *                        Left out of the JSON when off
 */
public record TrainConfig(String backbone, JsonObject backboneConfig, String weights, SegmentationHead.Kind head, boolean fineTune,
                          int epochs, int imgWidth, int imgHeight, int batch, double lr, double weightDecay,
                          LrSchedule.Kind scheduler, List<Integer> schedulerEpochs, double schedulerGamma, double warmup,
                          double backboneLrScale, Augment.Mode augment, String device, int workers, long seed, String outDir,
                          boolean cacheFeatures, double cacheBudget, JsonObject dataset, double saveEveryMin, int previewIndex,
                          boolean demo, Precision precision, double clipGrad,
                          int loraRank, double loraAlpha, List<String> loraTargets,
                          double layerDecay, int unfreezeLast, double dropPath, int accumSteps, boolean checkpointBlocks) {

    /** A setting out of its range or not one of its values; the message is one line naming the flag. */
    public static final class InvalidSettingException extends IllegalArgumentException {
        InvalidSettingException(String message) { super(message); }
    }

    /** The JSON names of all settings (= the flag names with underscores, for those that have a flag). */
    public static final Set<String> KEYS = Set.of("backbone", "backbone_config", "weights", "head", "fine_tune", "epochs", "img_width",
            "img_height", "batch", "lr", "weight_decay", "scheduler", "scheduler_epochs", "scheduler_gamma", "warmup",
            "backbone_lr_scale", "augment", "device", "workers", "seed", "out_dir", "cache_features", "cache_budget", "dataset",
            "save_every_min", "preview_index", "demo", "precision", "clip_grad", "lora_rank", "lora_alpha", "lora_targets",
            "layer_decay", "unfreeze_last", "drop_path", "accum_steps", "checkpoint_blocks");

    /**
     * The settings a resumed run may change (JSON names); everything else comes from its state, so
     * the continued run is the run that stopped. A new {@code epochs} total changes poly and cosine
     * schedules from the resumed epoch on.
     */
    public static final Set<String> RESUMABLE = Set.of("epochs", "workers", "save_every_min");

    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues()
            .disableHtmlEscaping().create();
    private static final Set<String> DEVICES = Set.of("auto", "cpu", "cuda");

    /** Checks every setting (the one place that does); copies the mutable parts so the record stays immutable. */
    public TrainConfig {
        Objects.requireNonNull(head, "head");
        Objects.requireNonNull(scheduler, "scheduler");
        Objects.requireNonNull(augment, "augment");
        Objects.requireNonNull(precision, "precision");
        if (epochs < 1) throw new InvalidSettingException("--epochs must be at least 1, got " + epochs);
        if (imgWidth < 14 || imgHeight < 14)
            throw new InvalidSettingException("--imgsz must be at least 14 14, got " + imgWidth + " " + imgHeight);
        if (batch < 1) throw new InvalidSettingException("--batch must be at least 1, got " + batch);
        if (!(lr > 0) || Double.isInfinite(lr)) throw new InvalidSettingException("--lr must be a positive number, got " + lr);
        if (!(weightDecay >= 0)) throw new InvalidSettingException("--weight-decay must be >= 0, got " + weightDecay);
        schedulerEpochs = schedulerEpochs == null ? List.of() : List.copyOf(schedulerEpochs);
        for (int m : schedulerEpochs)
            if (m < 1) throw new InvalidSettingException("--scheduler-epochs: milestones are epochs >= 1, got " + m);
        if (!(schedulerGamma > 0)) throw new InvalidSettingException("--scheduler-gamma must be positive, got " + schedulerGamma);
        if (!(warmup >= 0)) throw new InvalidSettingException("--warmup must be >= 0 epochs, got " + warmup);
        if (!(backboneLrScale >= 0)) throw new InvalidSettingException("--backbone-lr-scale must be >= 0, got " + backboneLrScale);
        if (device == null || !DEVICES.contains(device))
            throw new InvalidSettingException("--device: '" + device + "' is not one of auto, cpu, cuda");
        if (workers < 0) throw new InvalidSettingException("--workers must be >= 0, got " + workers);
        if (cacheFeatures && unfreezeLast > 0)
            throw new InvalidSettingException("--cache-features needs a frozen backbone: it cannot be combined with --unfreeze-last");
        if (cacheFeatures && fineTune)
            throw new InvalidSettingException("--cache-features needs a frozen backbone: it cannot be combined with --fine-tune");
        if (cacheFeatures && augment != Augment.Mode.NONE)
            throw new InvalidSettingException("--cache-features runs the backbone once per image, so it cannot be combined with --augment "
                    + id(augment));
        if (!(saveEveryMin >= 0) || Double.isInfinite(saveEveryMin))
            throw new InvalidSettingException("--save-every-min must be a number of minutes >= 0 (0: only at epoch ends), got " + saveEveryMin);
        if (!(clipGrad >= 0) || Double.isInfinite(clipGrad))
            throw new InvalidSettingException("--clip-grad must be a norm > 0 (or 0: no clipping), got " + clipGrad);
        if (loraRank < 0) throw new InvalidSettingException("--lora-rank must be a positive integer (or 0: no LoRA), got " + loraRank);
        loraTargets = loraTargets == null || loraTargets.isEmpty() ? List.of("qkv") : List.copyOf(loraTargets);
        if (loraRank > 0) {
            try {
                new Lora(loraRank, loraAlpha, loraTargets);
            } catch (IllegalArgumentException e) {
                throw new InvalidSettingException(e.getMessage());
            }
            if (fineTune) throw new InvalidSettingException("--lora-rank trains adapters on a frozen backbone: it cannot be combined with --fine-tune");
            if (cacheFeatures) throw new InvalidSettingException("--lora-rank changes the backbone's features as it trains: it cannot be combined with --cache-features");
        }
        if (!(layerDecay > 0 && layerDecay <= 1))
            throw new InvalidSettingException("--layer-decay must be in (0, 1] (1: off), got " + layerDecay);
        if (layerDecay != 1 && !fineTune)
            throw new InvalidSettingException("--layer-decay scales the backbone's learning rates, so it needs --fine-tune (or --unfreeze-last)");
        if (unfreezeLast < 0) throw new InvalidSettingException("--unfreeze-last must be a number of blocks >= 1 (0: all), got " + unfreezeLast);
        if (unfreezeLast > 0 && !fineTune)
            throw new InvalidSettingException("--unfreeze-last trains part of the backbone, so it cannot be combined with a frozen one (--fine-tune false or --cache-features)");
        if (!(dropPath >= 0 && dropPath < 1)) throw new InvalidSettingException("--drop-path must be in [0, 1) (0: off), got " + dropPath);
        if (dropPath > 0 && !fineTune)
            throw new InvalidSettingException("--drop-path regularises a backbone being trained, so it needs --fine-tune (or --unfreeze-last)");
        if (accumSteps < 1) throw new InvalidSettingException("--accum-steps must be a number of batches >= 1, got " + accumSteps);
        if (checkpointBlocks && !fineTune && loraRank == 0)
            throw new InvalidSettingException("--checkpoint-blocks saves the memory of a backbone's backward, so it needs --fine-tune (or --unfreeze-last, --lora-rank)");
        if (!(cacheBudget > 0 && cacheBudget <= 1)) throw new InvalidSettingException("cache budget must be in (0, 1], got " + cacheBudget);
        backboneConfig = backboneConfig == null ? null : backboneConfig.deepCopy();
        dataset = dataset == null ? new JsonObject() : dataset.deepCopy();
    }

    /** The resolved backbone config, or null (a copy: the record stays immutable). */
    @Override public JsonObject backboneConfig() { return backboneConfig == null ? null : backboneConfig.deepCopy(); }

    /** The dataset settings (a copy: the record stays immutable). */
    @Override public JsonObject dataset() { return dataset.deepCopy(); }

    /** The LoRA recipe, or null when {@code loraRank} is 0. */
    public Lora lora() { return loraRank == 0 ? null : new Lora(loraRank, loraAlpha, loraTargets); }

    /** {@link #schedulerEpochs} as the array {@link LrSchedule} takes. */
    public int[] milestones() { return schedulerEpochs.stream().mapToInt(Integer::intValue).toArray(); }

    /** A builder with the library defaults (those of the {@code dinoseg train} flags). */
    public static Builder builder() { return new Builder(); }

    /** A builder holding these settings, to derive a changed config. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.backbone = backbone;
        b.backboneConfig = backboneConfig();
        b.weights = weights;
        b.head = id(head);
        b.fineTune = fineTune;
        b.epochs = epochs;
        b.imgWidth = imgWidth;
        b.imgHeight = imgHeight;
        b.batch = batch;
        b.lr = lr;
        b.weightDecay = weightDecay;
        b.scheduler = id(scheduler);
        b.schedulerEpochs = milestones();
        b.schedulerGamma = schedulerGamma;
        b.warmup = warmup;
        b.backboneLrScale = backboneLrScale;
        b.augment = id(augment);
        b.device = device;
        b.workers = workers;
        b.seed = seed;
        b.outDir = outDir;
        b.cacheFeatures = cacheFeatures;
        b.cacheBudget = cacheBudget;
        b.dataset = dataset();
        b.saveEveryMin = saveEveryMin;
        b.previewIndex = previewIndex;
        b.demo = demo;
        b.precision(precision);
        b.clipGrad(clipGrad);
        b.loraRank = loraRank == 0 ? null : loraRank;
        b.loraAlpha = loraRank == 0 ? null : loraAlpha;
        b.loraTargets = loraRank == 0 ? null : loraTargets.toArray(new String[0]);
        b.layerDecay(layerDecay);
        b.unfreezeLast(unfreezeLast);
        b.dropPath(dropPath);
        b.accumSteps(accumSteps);
        b.checkpointBlocks(checkpointBlocks);
        return b;
    }

    /** The pretty-printed JSON form ({@code config.json}): keys in the order of the components, nulls left out. */
    public String toJson() { return GSON.toJson(toBuilder()); }

    public JsonObject toJsonObject() { return GSON.toJsonTree(toBuilder()).getAsJsonObject(); }

    /**
     * Reads a config written by {@link #toJson} (or a preset: absent keys take the defaults, unknown
     * keys such as {@code _comment} are skipped); {@code where} names the source in errors, which
     * are {@link IllegalArgumentException}s of one line.
     */
    public static TrainConfig fromJson(String text, String where) {
        Builder b;
        try {
            JsonElement e = JsonText.parse(text, where);
            if (!e.isJsonObject()) throw new IllegalArgumentException(where + ": training config is not a JSON object");
            b = GSON.fromJson(e, Builder.class);
        } catch (JsonParseException | IllegalStateException | NumberFormatException e) {
            throw new IllegalArgumentException(where + ": bad training config (" + JsonText.clean(e.getMessage()) + ")");
        }
        try {
            return b.build();
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new IllegalArgumentException(where + ": bad training config (" + firstLine(e.getMessage()) + ")");
        }
    }

    private static String id(Enum<?> e) { return e.name().toLowerCase(Locale.ROOT); }

    static String firstLine(String s) {
        if (s == null) return "";
        int i = s.indexOf('\n');
        return i < 0 ? s : s.substring(0, i);
    }

    /**
     * Collects settings for a {@link TrainConfig}; {@link #build} checks them. It is also the JSON
     * form: its fields, in this order and with these names, are what {@code config.json} holds, and
     * their initial values are the defaults. Enum-valued settings are held as their flag strings
     * (any case) until {@link #build} parses them.
     */
    public static final class Builder {
        private String backbone = "small";
        @SerializedName("backbone_config") private JsonObject backboneConfig;
        private String weights;
        private String head = "linear";
        @SerializedName("fine_tune") private boolean fineTune;
        private int epochs = 20;
        @SerializedName("img_width") private int imgWidth = 644;
        @SerializedName("img_height") private int imgHeight = 644;
        private int batch = 4;
        private double lr = 1e-4;
        @SerializedName("weight_decay") private double weightDecay = 0.01;
        private String scheduler = "none";
        @SerializedName("scheduler_epochs") private int[] schedulerEpochs = {30};
        @SerializedName("scheduler_gamma") private double schedulerGamma = 0.1;
        private double warmup = 0;
        @SerializedName("backbone_lr_scale") private double backboneLrScale = 0.1;
        private String augment = "none";
        private String device = "auto";
        private int workers = 0;
        private long seed = 42;
        @SerializedName("out_dir") private String outDir;
        @SerializedName("cache_features") private boolean cacheFeatures;
        @SerializedName("cache_budget") private double cacheBudget = 0.5;
        private JsonObject dataset = new JsonObject();
        @SerializedName("save_every_min") private double saveEveryMin = 10;
        @SerializedName("preview_index") private int previewIndex = 0;
        private boolean demo;
        private String precision;   // null: fp32 (left out of the JSON, so fp32 runs write what they always wrote)
        @SerializedName("clip_grad") private Double clipGrad;   // null: no clipping (left out of the JSON)
        @SerializedName("lora_rank") private Integer loraRank;          // null: no LoRA (the three are left out of the JSON)
        @SerializedName("lora_alpha") private Double loraAlpha;         // null: 8, PEFT's default
        @SerializedName("lora_targets") private String[] loraTargets;   // null: qkv
        @SerializedName("layer_decay") private Double layerDecay;   // null: 1, off (left out of the JSON)
        @SerializedName("unfreeze_last") private Integer unfreezeLast;   // null: 0, the whole backbone (left out of the JSON)
        @SerializedName("drop_path") private Double dropPath;   // null: 0, off (left out of the JSON)
        @SerializedName("accum_steps") private Integer accumSteps;   // null: 1, a step per batch (left out of the JSON)
        @SerializedName("checkpoint_blocks") private Boolean checkpointBlocks;   // null: off (left out of the JSON)

        private Builder() { }

        public Builder backbone(String v) { backbone = v; return this; }
        public Builder backboneConfig(JsonObject v) { backboneConfig = v == null ? null : v.deepCopy(); return this; }
        public Builder weights(String v) { weights = v; return this; }
        public Builder head(SegmentationHead.Kind v) { head = id(v); return this; }
        public Builder fineTune(boolean v) { fineTune = v; return this; }
        public Builder epochs(int v) { epochs = v; return this; }
        /** Training width and height in pixels. */
        public Builder imgSize(int width, int height) { imgWidth = width; imgHeight = height; return this; }
        public Builder batch(int v) { batch = v; return this; }
        public Builder lr(double v) { lr = v; return this; }
        public Builder weightDecay(double v) { weightDecay = v; return this; }
        public Builder scheduler(LrSchedule.Kind v) { scheduler = id(v); return this; }
        public Builder schedulerEpochs(int... v) { schedulerEpochs = v == null ? null : v.clone(); return this; }
        public Builder schedulerGamma(double v) { schedulerGamma = v; return this; }
        public Builder warmup(double v) { warmup = v; return this; }
        public Builder backboneLrScale(double v) { backboneLrScale = v; return this; }
        public Builder augment(Augment.Mode v) { augment = id(v); return this; }
        /** auto, cpu or cuda (any case). */
        public Builder device(String v) { device = v; return this; }
        public Builder workers(int v) { workers = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder outDir(String v) { outDir = v; return this; }
        public Builder cacheFeatures(boolean v) { cacheFeatures = v; return this; }
        public Builder cacheBudget(double v) { cacheBudget = v; return this; }
        public Builder dataset(JsonObject v) { dataset = v == null ? new JsonObject() : v.deepCopy(); return this; }
        public Builder saveEveryMin(double v) { saveEveryMin = v; return this; }
        public Builder previewIndex(int v) { previewIndex = v; return this; }
        public Builder demo(boolean v) { demo = v; return this; }
        public Builder precision(Precision v) { precision = v == null || v == Precision.FP32 ? null : v.flag(); return this; }
        /** Gradient clipping's max norm; 0 turns it off. */
        public Builder clipGrad(double v) { clipGrad = v == 0 ? null : v; return this; }
        /** LoRA rank (0: off), alpha and target Linears ({@link Lora}). */
        public Builder lora(int rank, double alpha, List<String> targets) {
            loraRank = rank == 0 ? null : rank;
            loraAlpha = alpha;
            loraTargets = targets == null ? null : targets.toArray(new String[0]);
            return this;
        }
        /** Layer-wise lr decay of the fine-tuned backbone; 1 turns it off. */
        public Builder layerDecay(double v) { layerDecay = v == 1 ? null : v; return this; }
        /** Train only the last N backbone blocks and the final norm; 0: the whole backbone. */
        public Builder unfreezeLast(int v) { unfreezeLast = v == 0 ? null : v; return this; }
        /** Stochastic depth rate of the backbone's blocks; 0 turns it off. */
        public Builder dropPath(double v) { dropPath = v == 0 ? null : v; return this; }
        /** Batches accumulated per optimizer step; 1: every batch. */
        public Builder accumSteps(int v) { accumSteps = v == 1 ? null : v; return this; }
        /** Activation checkpointing per backbone block (fine-tuning). */
        public Builder checkpointBlocks(boolean v) { checkpointBlocks = v ? Boolean.TRUE : null; return this; }

        /**
         * A new builder: the settings held here with those given explicitly (by their JSON names,
         * with JSON values as in {@code config.json}) applied over them, as flags the user typed
         * override a preset. Three settings depend on others and follow them: a new {@code backbone}
         * without its own {@code backbone_config} drops the held one (it resolved the old backbone),
         * {@code cache_features} without {@code fine_tune} freezes the backbone (the cache needs
         * a frozen one), and a positive {@code unfreeze_last} without {@code fine_tune} turns
         * fine-tuning on (it trains part of the backbone). Values are checked by {@link #build}.
         *
         * @throws IllegalArgumentException for a name that is not one of {@link #KEYS}, or a value of the wrong JSON type
         */
        public Builder overriddenBy(JsonObject explicit) {
            for (String k : explicit.keySet())
                if (!KEYS.contains(k))
                    throw new IllegalArgumentException("unknown training setting '" + k + "' (known: " + new java.util.TreeSet<>(KEYS) + ")");
            JsonObject merged = GSON.toJsonTree(this).getAsJsonObject();
            for (var e : explicit.entrySet()) merged.add(e.getKey(), e.getValue().deepCopy());
            if (explicit.has("backbone") && !explicit.has("backbone_config")) merged.remove("backbone_config");
            if (explicit.has("cache_features") && !explicit.has("fine_tune")) merged.addProperty("fine_tune", false);
            if (explicit.has("unfreeze_last") && !explicit.has("fine_tune") && positive(explicit.get("unfreeze_last")))
                merged.addProperty("fine_tune", true);
            try {
                return GSON.fromJson(merged, Builder.class);
            } catch (JsonParseException | IllegalStateException | NumberFormatException e) {
                throw new IllegalArgumentException("bad training setting (" + JsonText.clean(e.getMessage()) + ")");
            }
        }

        /**
         * The config. Parses the enum-valued settings (any case) and checks every value.
         *
         * @throws InvalidSettingException naming the flag of the first bad setting
         */
        public TrainConfig build() {
            String h = lower(head);
            if (!List.of("linear", "bn", "conv").contains(h))
                throw new InvalidSettingException("--head: '" + h + "' is not one of linear, bn, conv");
            LrSchedule.Kind sk;
            try {
                sk = LrSchedule.Kind.parse(String.valueOf(scheduler));
            } catch (IllegalArgumentException e) {
                throw new InvalidSettingException(e.getMessage());
            }
            String a = lower(augment);
            if (!List.of("none", "tutorial", "official").contains(a))
                throw new InvalidSettingException("--augment: '" + a + "' is not one of none, tutorial, official");
            Precision p;
            try {
                p = precision == null ? Precision.FP32 : Precision.parse(precision);
            } catch (IllegalArgumentException e) {
                throw new InvalidSettingException("--" + e.getMessage());
            }
            List<Integer> milestones = new ArrayList<>();
            if (schedulerEpochs != null) for (int m : schedulerEpochs) milestones.add(m);
            return new TrainConfig(backbone, backboneConfig, weights, SegmentationHead.Kind.parse(h), fineTune, epochs, imgWidth, imgHeight,
                    batch, lr, weightDecay, sk, milestones, schedulerGamma, warmup, backboneLrScale, Augment.Mode.parse(a), lower(device),
                    workers, seed, outDir, cacheFeatures, cacheBudget, dataset, saveEveryMin, previewIndex, demo, p,
                    clipGrad == null ? 0 : clipGrad, loraRank == null ? 0 : loraRank, loraAlpha == null ? 8 : loraAlpha,
                    loraTargets == null ? null : Lora.parseTargets(String.join(",", loraTargets)),
                    layerDecay == null ? 1 : layerDecay, unfreezeLast == null ? 0 : unfreezeLast,
                    dropPath == null ? 0 : dropPath, accumSteps == null ? 1 : accumSteps, checkpointBlocks != null && checkpointBlocks);
        }

        private static boolean positive(JsonElement e) {
            return e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber() && e.getAsDouble() > 0;
        }

        private static String lower(String s) { return s == null ? null : s.toLowerCase(Locale.ROOT); }
    }
}
