package dinoseg.cli;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.bench.Bench;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/** {@code dinoseg bench}: times whole steps (one JSON line, the keys of tools/torch_peer.py) or single ops (a line per case, tools/torch_ops.py). */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Time whole inference or training steps of a DINOv2 segmentation model on random data, or its GEMMs and attention alone.",
                "Steps: one JSON line: images_per_s, step_s_median (median of --iters steps after --warmup), the settings, "
                        + "peak_heap_mib and peak_gpu_mib; the keys match tools/torch_peer.py for side-by-side runs.",
                "--mode gemm|attention: one JSON line per case (the block's GEMMs, attention forward and backward) with ms_median, "
                        + "tflops and max_rel_err against the CPU backend (each case warms up for --warmup runs and at least 1 s; --warmup 0: not at all); "
                        + "tools/torch_ops.py prints PyTorch's."})
public final class BenchCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--device", paramLabel = "auto|cpu|cuda", defaultValue = "cpu", description = "Backend (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--mode", paramLabel = "infer|linear|finetune|gemm|attention", defaultValue = "infer",
            description = "infer: forward + argmax; linear: frozen backbone, head trained; finetune: everything trained; "
                    + "gemm, attention: the ops alone on the model's shapes (default: ${DEFAULT-VALUE}).")
    String mode;

    @Option(names = "--backbone", paramLabel = "NAME|FILE", defaultValue = "small", description = "Backbone preset or JSON config (default: ${DEFAULT-VALUE}).")
    String backbone;

    @Option(names = "--imgsz", paramLabel = "N", defaultValue = "644", description = "Square image side, a multiple of the backbone's patch size (14 for the DINOv2 presets; default: ${DEFAULT-VALUE}).")
    int imgsz;

    @Option(names = "--batch", paramLabel = "N", defaultValue = "1", description = "Batch size (default: ${DEFAULT-VALUE}).")
    int batch;

    @picocli.CommandLine.Mixin PrecisionOption precision;

    @Option(names = "--classes", paramLabel = "K", defaultValue = "21", description = "Classes of the head (default: ${DEFAULT-VALUE}).")
    int classes;

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "2", description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--iters", paramLabel = "N", defaultValue = "5", description = "Timed steps (default: ${DEFAULT-VALUE}).")
    int iters;

    @Option(names = "--profile", description = "After the timed steps, run --iters more with each op waited for and print the time "
            + "per op family (gemm, attention, norm, elementwise, ...) on stderr; the JSON figures do not include them.")
    boolean profile;

    @Option(names = "--estimate-memory", description = "Compute nothing: run two steps of --mode on the shape-only (meta) backend with "
            + "the same tensor lifetimes and print the device memory they would need as JSON (peak_gpu_mib, params_mib, grads_mib, "
            + "optimizer_mib, activations_mib). --device, --warmup, --iters and --profile are ignored.")
    boolean estimateMemory;

    @Option(names = "--checkpoint-blocks", description = "Activation checkpointing per backbone block (finetune): keep each block's "
            + "input only and recompute the block in backward; less memory for a second forward of the blocks.")
    boolean checkpointBlocks;

    @Option(names = "--lora-rank", paramLabel = "R", defaultValue = "0",
            description = "Finetune: LoRA adapters of rank R on --lora-targets train instead of the backbone, as train --lora-rank (alpha 8; default: off).")
    int loraRank;

    @Option(names = "--lora-targets", paramLabel = "L", defaultValue = "qkv",
            description = "LoRA: the adapted Linears of every block, qkv,proj,fc1,fc2 (default: ${DEFAULT-VALUE}).")
    String loraTargets;

    @Option(names = "--unfreeze-last", paramLabel = "N", defaultValue = "0",
            description = "Finetune: only the last N blocks and the final norm train, as train --unfreeze-last (default: all).")
    int unfreezeLast;

    @Option(names = "--cuda-graphs", description = "Linear, finetune: record the step as a CUDA graph after --warmup and time its "
            + "replays (as train --cuda-graphs; one warmup step at least; peak_gpu_mib includes the memory the graph keeps).")
    boolean cudaGraphs;

    @Option(names = "--verbose", description = "Print stack traces of errors.")
    boolean verbose;

    @Override public Integer call() {
        CommandLine cl = spec.commandLine();
        Flags.device(cl, device);
        // as summary and train: an unknown preset is a usage error (exit 2), a bad JSON file a run-time one (exit 1)
        Flags.backbone(cl, backbone);
        Bench.Config c;
        try {
            Flags.require(cl, loraRank >= 0, "--lora-rank must be a positive integer (or 0: off), got " + loraRank);
            dinoseg.model.Lora lora = loraRank == 0 ? null : new dinoseg.model.Lora(loraRank, 8, dinoseg.model.Lora.parseTargets(loraTargets));
            c = new Bench.Config(device.toLowerCase(java.util.Locale.ROOT), Bench.Mode.parse(mode), backbone, imgsz, batch,
                    precision.parse(cl), warmup, iters, classes, checkpointBlocks, lora, unfreezeLast, cudaGraphs);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, e.getMessage());
        }
        if (profile && c.mode().isOp() && !estimateMemory)
            throw new CommandLine.ParameterException(cl, "--profile times the ops of a step: use --mode infer, linear or finetune");
        if (estimateMemory) {
            try {
                cl.getOut().println(Bench.estimateMemory(c).toString());
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(cl, e.getMessage());
            }
            cl.getOut().flush();
            return 0;
        }
        String noGraphs = Bench.whyNoGraphs(c, null, profile);   // before the device opens where it can
        if (noGraphs != null) throw new CommandLine.ParameterException(cl, noGraphs);
        try (Backend be = Backends.create(c.device(), cl.getErr()::println)) {
            noGraphs = Bench.whyNoGraphs(c, be, profile);
            if (noGraphs != null) throw new CommandLine.ParameterException(cl, noGraphs);
            if (profile && !c.mode().isOp()) cl.getOut().println(Bench.run(c, be, cl.getErr()).toString());
            else for (var line : Bench.runAll(c, be)) cl.getOut().println(line.toString());
            cl.getOut().flush();
        }
        return 0;
    }
}
