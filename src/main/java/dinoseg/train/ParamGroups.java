package dinoseg.train;

import dinoseg.model.Dinov2Segmentation;
import dinoseg.nn.Module;
import dinoseg.nn.Parameter;

import java.util.ArrayList;
import java.util.List;

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
 * {@code lora}; empty groups are left out.
 */
public final class ParamGroups {
    private ParamGroups() { }

    public static List<AdamW.ParamGroup> of(Dinov2Segmentation model, TrainConfig cfg) {
        List<AdamW.ParamGroup> out = new ArrayList<>();
        add(out, "head", model.head, cfg.lr(), cfg.weightDecay());
        if (cfg.fineTune()) add(out, "backbone", model.backbone, cfg.lr() * cfg.backboneLrScale(), cfg.weightDecay());
        if (cfg.loraRank() > 0) add(out, "lora", model.backbone, cfg.lr(), cfg.weightDecay());   // only the adapters require gradients there
        return out;
    }

    private static void add(List<AdamW.ParamGroup> out, String name, Module m, double lr, double wd) {
        List<Parameter> decay = new ArrayList<>(), noDecay = new ArrayList<>();
        for (var e : m.namedParameters().entrySet()) {
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
