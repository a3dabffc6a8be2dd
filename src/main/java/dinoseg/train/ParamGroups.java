package dinoseg.train;

import dinoseg.model.Dinov2Segmentation;
import dinoseg.nn.Parameter;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdamW parameter groups of a segmentation model. The head trains at {@code lr}; when fine-tuning,
 * the backbone trains at {@code lr * backboneLrScale}. Weight decay applies to weight matrices and
 * conv kernels only: biases, norm weights (LayerNorm, BatchNorm), LayerScale gammas (all 1-D) and
 * the token parameters {@code pos_embed}, {@code cls_token}, {@code register_tokens},
 * {@code mask_token} are not decayed — the usual choice for ViTs (timm, DINOv2's own recipe),
 * since shrinking those towards 0 only fights normalisation and position information.
 * With LoRA ({@link TrainConfig#loraRank}) the backbone's trainable parameters are the adapters
 * alone ({@code lora_A}, {@code lora_B}, both 2-D, so decayed as PEFT's AdamW decays them); they train
 * at {@code lr}, in the group {@code lora}.
 * Group names: {@code head}, {@code head_no_decay}, {@code backbone}, {@code backbone_no_decay},
 * {@code lora}; empty groups are left out. Only parameters that require a gradient are grouped, so the frozen
 * part of an {@code --unfreeze-last} backbone is in no group.
 *
 * <p>Layer-wise lr decay ({@code --layer-decay D}, {@link TrainConfig#layerDecay} below 1) follows
 * BEiT/MAE's {@code param_groups_lrd}: with depth L, the embeddings ({@code patch_embed},
 * {@code cls_token}, {@code pos_embed}, {@code register_tokens}, {@code mask_token}) have layer id 0,
 * block i (0-based, state-dict {@code blocks.i}) id i+1 and the final {@code norm} id L+1; a
 * parameter of id n trains at {@code lr * backboneLrScale * D^(L+1-n)}: block i at
 * {@code D^(L-i)}, the embeddings at {@code D^(L+1)}, the final norm at {@code D^0 = 1}. The head
 * is not scaled (its lr stays {@code lr}). The backbone is then split into groups
 * {@code backbone.embed}, {@code backbone.blocks.i}, {@code backbone.norm}, each with its
 * {@code _no_decay} twin. Schedules multiply every group's base lr by one factor
 * ({@link AdamW#scaleBaseLrs}), so these ratios hold at every step.
 */
public final class ParamGroups {
    private ParamGroups() { }

    public static List<AdamW.ParamGroup> of(Dinov2Segmentation model, TrainConfig cfg) {
        List<AdamW.ParamGroup> out = new ArrayList<>();
        add(out, "head", model.head.namedParameters(), cfg.lr(), cfg.weightDecay());
        if (cfg.loraRank() > 0) add(out, "lora", model.backbone.namedParameters(), cfg.lr(), cfg.weightDecay());   // only the adapters require gradients there
        if (!cfg.fineTune()) return out;
        double base = cfg.lr() * cfg.backboneLrScale();
        if (cfg.layerDecay() == 1) {
            add(out, "backbone", model.backbone.namedParameters(), base, cfg.weightDecay());
            return out;
        }
        int depth = model.backbone.depth();
        Map<Integer, Map<String, Parameter>> byLayer = new java.util.TreeMap<>();
        for (var e : model.backbone.namedParameters().entrySet())
            byLayer.computeIfAbsent(layerId(e.getKey(), depth), k -> new LinkedHashMap<>()).put(e.getKey(), e.getValue());
        for (var e : byLayer.entrySet())
            add(out, groupName(e.getKey(), depth), e.getValue(), base * layerScale(e.getKey(), depth, cfg.layerDecay()), cfg.weightDecay());
        return out;
    }

    /**
     * The layer id of a backbone parameter (by its name inside the backbone): 0 for the embeddings,
     * i+1 for {@code blocks.i.*}, depth+1 for the final {@code norm.*}.
     */
    public static int layerId(String name, int depth) {
        if (name.startsWith("blocks.")) {
            int end = name.indexOf('.', 7);
            return Integer.parseInt(name.substring(7, end < 0 ? name.length() : end)) + 1;
        }
        if (name.startsWith("norm.")) return depth + 1;
        return 0;
    }

    /** {@code decay^(depth + 1 - layerId)}: the lr multiplier of a layer id (before the backbone lr scale). */
    public static double layerScale(int layerId, int depth, double decay) {
        return Math.pow(decay, depth + 1 - layerId);
    }

    private static String groupName(int layerId, int depth) {
        return layerId == 0 ? "backbone.embed" : layerId == depth + 1 ? "backbone.norm" : "backbone.blocks." + (layerId - 1);
    }

    private static void add(List<AdamW.ParamGroup> out, String name, Map<String, Parameter> params, double lr, double wd) {
        List<Parameter> decay = new ArrayList<>(), noDecay = new ArrayList<>();
        for (var e : params.entrySet()) {
            Parameter p = e.getValue();
            if (p.isBuffer() || !p.requiresGrad()) continue;
            (decays(e.getKey(), p) ? decay : noDecay).add(p);
        }
        if (!decay.isEmpty()) out.add(new AdamW.ParamGroup(name, decay, lr, wd));
        if (!noDecay.isEmpty()) out.add(new AdamW.ParamGroup(name + "_no_decay", noDecay, lr, 0));
    }

    /**
     * Trainable parameters (elements) per group name, with a group and its {@code _no_decay} twin
     * counted together, in group order ({@code head 32,277, lora 147,456}).
     */
    public static String describe(List<AdamW.ParamGroup> groups) {
        java.util.Map<String, Long> by = new java.util.LinkedHashMap<>();
        for (AdamW.ParamGroup g : groups) {
            long n = 0;
            for (Parameter p : g.params()) n += p.value().numel();
            by.merge(g.name().replaceFirst("_no_decay$", ""), n, Long::sum);
        }
        StringBuilder sb = new StringBuilder();
        for (var e : by.entrySet()) sb.append(sb.length() == 0 ? "" : ", ").append(e.getKey()).append(' ').append(String.format(java.util.Locale.ROOT, "%,d", e.getValue()));
        return sb.toString();
    }

    /** Whether weight decay applies to a parameter (by its state-dict name and rank). */
    public static boolean decays(String name, Parameter p) {
        if (p.rank() <= 1) return false;
        String last = name.substring(name.lastIndexOf('.') + 1);
        return !(last.equals("pos_embed") || last.equals("cls_token") || last.equals("register_tokens") || last.equals("mask_token"));
    }
}
