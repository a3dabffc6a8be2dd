package dinoseg.bench;

import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.Precision;
import dinoseg.backend.meta.MetaBackend;
import dinoseg.model.BackboneConfig;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.model.SegmentationHead;
import dinoseg.tensor.DType;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;
import dinoseg.train.AdamW;
import dinoseg.train.ParamGroups;
import dinoseg.train.PeakMemory;
import dinoseg.train.TrainConfig;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Times whole steps of the segmentation model on random data, the same work as
 * {@code tools/torch_peer.py} so the two can be compared in one shell command:
 * <ul>
 *   <li>{@code infer}: forward without a tape, upsampled logits, argmax;</li>
 *   <li>{@code linear}: backbone without a tape, head, upsampling, cross-entropy, backward, AdamW on the head;</li>
 *   <li>{@code finetune}: the same through the whole model, AdamW on every parameter.</li>
 * </ul>
 * A step includes uploading the batch and waiting for the device. The model is DINOv2 with the
 * linear (1×1 conv) head on the last four blocks, 21 classes, random weights (speed does not depend
 * on them). The result is one JSON object with the peer's keys.
 */
public final class Bench {
    private Bench() { }

    public enum Mode { INFER, LINEAR, FINETUNE, GEMM, ATTENTION;
        public static Mode parse(String s) {
            try { return valueOf(s.toUpperCase(Locale.ROOT)); }
            catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--mode: '" + s + "' is not one of infer, linear, finetune, gemm, attention");
            }
        }

        /** gemm and attention time single ops ({@link OpBench}), the others whole steps. */
        public boolean isOp() { return this == GEMM || this == ATTENTION; }
    }

    /** Bench settings. */
    public record Config(String device, Mode mode, String backbone, int imgsz, int batch, Precision precision, int warmup, int iters, int classes,
                         boolean checkpointBlocks, dinoseg.model.Lora lora, int unfreezeLast, boolean cudaGraphs) {
        /** Settings without activation checkpointing. */
        public Config(String device, Mode mode, String backbone, int imgsz, int batch, Precision precision, int warmup, int iters, int classes) {
            this(device, mode, backbone, imgsz, batch, precision, warmup, iters, classes, false);
        }

        /** Settings of a whole-backbone recipe (no LoRA, every block). */
        public Config(String device, Mode mode, String backbone, int imgsz, int batch, Precision precision, int warmup, int iters, int classes,
                      boolean checkpointBlocks) {
            this(device, mode, backbone, imgsz, batch, precision, warmup, iters, classes, checkpointBlocks, null, 0);
        }

        /** Settings of a recipe, op by op (no CUDA graph). */
        public Config(String device, Mode mode, String backbone, int imgsz, int batch, Precision precision, int warmup, int iters, int classes,
                      boolean checkpointBlocks, dinoseg.model.Lora lora, int unfreezeLast) {
            this(device, mode, backbone, imgsz, batch, precision, warmup, iters, classes, checkpointBlocks, lora, unfreezeLast, false);
        }

        public Config {
            java.util.Objects.requireNonNull(precision, "precision");
            BackboneConfig bcfg = BackboneConfig.parse(backbone);
            int patch = bcfg.patch();
            if (imgsz < patch || imgsz % patch != 0)
                throw new IllegalArgumentException("--imgsz must be a positive multiple of " + patch + " (the patch size of " + backbone + "), got " + imgsz);
            if (batch < 1) throw new IllegalArgumentException("--batch must be at least 1, got " + batch);
            if (warmup < 0) throw new IllegalArgumentException("--warmup must be >= 0, got " + warmup);
            if (iters < 1) throw new IllegalArgumentException("--iters must be at least 1, got " + iters);
            if (classes < 1) throw new IllegalArgumentException("--classes must be at least 1, got " + classes);
            if ((lora != null || unfreezeLast != 0) && mode != Mode.FINETUNE)
                throw new IllegalArgumentException((lora != null ? "--lora-rank" : "--unfreeze-last") + " is a fine-tuning recipe: use --mode finetune");
            if (lora != null && unfreezeLast != 0)
                throw new IllegalArgumentException("--lora-rank trains adapters on a frozen backbone: it cannot be combined with --unfreeze-last");
            long largest = largestTensor(bcfg, imgsz, batch);
            if (largest > Integer.MAX_VALUE)
                throw new IllegalArgumentException("--imgsz " + imgsz + " with --batch " + batch + ": the largest tensor would hold "
                        + largest + " values, over the " + Integer.MAX_VALUE + " a tensor can index; use a smaller --imgsz or --batch");
            int depth = bcfg.depth();
            if (unfreezeLast < 0 || unfreezeLast > depth)
                throw new IllegalArgumentException("--unfreeze-last must be in 1.." + depth + " for " + backbone + ", got " + unfreezeLast);
            if (checkpointBlocks && mode != Mode.FINETUNE)   // as train, which refuses it without backbone training
                throw new IllegalArgumentException("--checkpoint-blocks saves the memory of a backbone's backward: use --mode finetune");
            if (cudaGraphs && mode != Mode.LINEAR && mode != Mode.FINETUNE)
                throw new IllegalArgumentException("--cuda-graphs replays training steps: use --mode linear or finetune");
        }

        /**
         * Elements of the larger of the input [batch, 3, s, s] and a block's widest activation
         * [batch, tokens, max(3·embed_dim, ffn hidden)]: tensors are indexed with ints (see
         * {@link Shape}), and the bench makes its input as one Java array.
         */
        static long largestTensor(BackboneConfig bc, int imgsz, int batch) {
            long side = imgsz / bc.patch(), tokens = 1 + bc.registers() + side * side;
            long widest = (long) batch * tokens * Math.max(3L * bc.embedDim(), bc.ffnHidden());
            return Math.max(3L * batch * imgsz * imgsz, widest);
        }

        /** The model's trainable part as train sets it (--lora-rank, --unfreeze-last, or the mode) and the optimizer's settings. */
        TrainConfig prepare(Dinov2Segmentation model) {
            TrainConfig.Builder b = TrainConfig.builder().lr(1e-4).weightDecay(1e-4).backboneLrScale(1);
            if (lora != null) {
                model.enableLora(lora, 1);
                return b.lora(lora.rank(), lora.alpha(), lora.targets()).build();
            }
            boolean ft = mode == Mode.FINETUNE;
            model.setFineTune(ft, unfreezeLast);
            return b.fineTune(ft).unfreezeLast(unfreezeLast).build();
        }
    }

    /** The JSON lines of a run: one for a step mode, one per case for an op mode ({@link OpBench}). */
    public static java.util.List<JsonObject> runAll(Config c, Backend be) {
        return c.mode().isOp() ? OpBench.run(c, be, c.mode().name().toLowerCase(Locale.ROOT)) : java.util.List.of(run(c, be));
    }

    /** Runs warmup and timed steps; returns the JSON line's object. */
    public static JsonObject run(Config c, Backend be) { return run(c, be, null); }

    /**
     * Why --cuda-graphs cannot run with {@code c} on {@code be} (null: not opened yet, only an
     * explicit {@code --device cpu} is refused for the device) and {@code profile}, or null when it
     * can or is off.
     */
    public static String whyNoGraphs(Config c, Backend be, boolean profile) {
        if (!c.cudaGraphs()) return null;
        if (be == null ? c.device().equals("cpu") : !be.capturesGraphs())
            return "--cuda-graphs needs a CUDA device (the " + (be == null ? "cpu" : be.device()) + " backend runs op by op)";
        if (profile) return "--profile times each op on its own: it cannot be combined with --cuda-graphs";
        return null;
    }

    /**
     * Runs warmup and timed steps; returns the JSON line's object. With a {@code profile} writer,
     * {@code iters} more steps then run through {@link OpProfile} (each op waited for) and the time
     * per op family is printed there; the timed figures do not include them.
     */
    public static JsonObject run(Config c, Backend be, java.io.PrintWriter profile) {
        if (c.mode().isOp()) throw new IllegalArgumentException("bench: mode " + c.mode() + " times ops: use runAll");
        String noGraphs = whyNoGraphs(c, be, profile != null);
        if (noGraphs != null) throw new IllegalArgumentException(noGraphs);
        BackboneConfig bc = BackboneConfig.parse(c.backbone());
        // with --profile every call goes through the profiler (model and optimizer too); it times only the extra steps
        OpProfile prof = profile == null ? null : new OpProfile(be);
        Backend outer = be;
        if (prof != null) be = prof.backend();
        be.setMatmulPrecision(c.precision());
        Dinov2Segmentation model = Dinov2Segmentation.create(be, bc, SegmentationHead.Kind.LINEAR, c.classes(), null, 0);
        TrainConfig tc = c.prepare(model);
        model.train(c.mode() != Mode.INFER);
        model.backbone.setCheckpointBlocks(c.checkpointBlocks());
        AdamW opt = c.mode() == Mode.INFER ? null : new AdamW(be, ParamGroups.of(model, tc));
        if (c.cudaGraphs()) opt.capturable();
        SplittableRandom rng = new SplittableRandom(0);
        int n = c.batch(), s = c.imgsz();
        float[] img = new float[n * 3 * s * s];
        for (int i = 0; i < img.length; i++) img[i] = (float) gaussian(rng);
        int[] lbl = new int[n * s * s];
        for (int i = 0; i < lbl.length; i++) lbl[i] = rng.nextInt(c.classes());

        // --cuda-graphs: at least one step before the capture (the optimizer makes its moments there)
        for (int i = 0; i < Math.max(c.warmup(), c.cudaGraphs() ? 1 : 0); i++) step(c.mode(), model, be, opt, img, lbl, n, s);
        // --cuda-graphs: the step recorded once on fixed input tensors; each timed step writes the batch and replays it
        Tensor gx = null, gl = null;
        Backend.Graph graph = null;
        if (c.cudaGraphs()) {
            Tensor x = gx = be.empty(Shape.of(n, 3, s, s)), l = gl = be.empty(Shape.of(n, s, s), DType.I32);
            Dinov2Segmentation m = model;
            Backend b = be;
            graph = be.capture(() -> {
                try (Ops ops = new Ops(b)) {
                    trainingWork(m, ops, Var.constant(x), l, s);
                    opt.captureUpdate();
                    opt.zeroGrad();
                }
            });
        }
        be.synchronize();
        // peak_heap_mib is the timed steps' peak: collect the warm-up's garbage first (on JDK 17 the
        // Vector API allocates on every operation until C2 has compiled a kernel, hundreds of MB in
        // the first steps), else the figure depends on whether a young collection happened to run
        // after the last warm-up step. Garbage the timed steps make still counts in full.
        System.gc();
        PeakMemory.reset();
        be.resetPeakDeviceBytes();   // the figure is the timed steps' peak, from the allocator
        long gpuPeak = gpuBytes(be);
        double[] times = new double[c.iters()];
        for (int i = 0; i < c.iters(); i++) {
            long t = System.nanoTime();
            if (graph != null) {
                be.writeFloats(img, 0, gx, 0, img.length);
                be.writeInts(lbl, 0, gl, 0, lbl.length);
                opt.advance();
                graph.replay();
            } else {
                step(c.mode(), model, be, opt, img, lbl, n, s);
            }
            be.synchronize();
            times[i] = (System.nanoTime() - t) / 1e9;
            gpuPeak = Math.max(gpuPeak, gpuBytes(be));
        }
        long graphBytes = graph == null ? 0 : graph.bytes();
        if (graph != null) {
            graph.close();
            gx.close();
            gl.close();
        }
        double med = median(times);
        if (prof != null) {
            prof.enable(true);
            for (int i = 0; i < c.iters(); i++) step(c.mode(), model, be, opt, img, lbl, n, s);
            prof.enable(false);
            prof.print(profile, c.iters());
        }
        be = outer;
        JsonObject o = new JsonObject();
        o.addProperty("engine", "dinoseg 0.1.0 (" + be.name() + ", java " + System.getProperty("java.version") + ")");
        o.addProperty("device", be.device().kind().name().toLowerCase(Locale.ROOT));   // what auto picked: cpu, cuda
        o.addProperty("mode", c.mode().name().toLowerCase(Locale.ROOT));
        o.addProperty("backbone", c.backbone());
        o.addProperty("imgsz", c.imgsz());
        o.addProperty("batch", c.batch());
        o.addProperty("precision", c.precision().flag());
        if (c.lora() != null) {
            o.addProperty("lora_rank", c.lora().rank());
            o.addProperty("lora_targets", String.join(",", c.lora().targets()));
        }
        if (c.unfreezeLast() > 0) o.addProperty("unfreeze_last", c.unfreezeLast());
        if (c.cudaGraphs()) o.addProperty("cuda_graphs", true);
        if (c.checkpointBlocks()) o.addProperty("checkpoint_blocks", true);
        o.addProperty("trainable_params", model.parameterCount(true));
        o.addProperty("threads", Runtime.getRuntime().availableProcessors());
        o.addProperty("images_per_s", round(n / med, 3));
        o.addProperty("step_s_median", round(med, 4));
        o.addProperty("peak_heap_mib", round(PeakMemory.mib(PeakMemory.peakBytes()), 1));
        if (gpuPeak < 0) o.add("peak_gpu_mib", JsonNull.INSTANCE);
        else o.addProperty("peak_gpu_mib", round(PeakMemory.mib(gpuPeak + graphBytes), 1));   // a graph's intermediates stay reserved
        return o;
    }

    /**
     * Estimates the device memory of a step of {@code c} without computing: the same model, steps and
     * tensor lifetimes run on the {@link MetaBackend} (shapes only), which counts the bytes of live
     * tensors. Two steps run, so the optimizer's moments (made by the first) are in the figure.
     * The JSON has {@code peak_gpu_mib} (the most bytes live at once, what the caching allocator's
     * peak would be before its bucket rounding of at most 1/8 per block), {@code params_mib},
     * {@code grads_mib}, {@code optimizer_mib} (AdamW's two moments) and {@code activations_mib}
     * (the most bytes the step's scope held at once: activations saved for backward, gradients of
     * intermediates, temporaries). cuBLAS workspaces and the CUDA context are not included.
     */
    public static JsonObject estimateMemory(Config c) {
        if (c.mode().isOp()) throw new IllegalArgumentException("--estimate-memory: mode " + c.mode() + " times ops; use infer, linear or finetune");
        BackboneConfig bc = BackboneConfig.parse(c.backbone());
        MetaBackend be = new MetaBackend();
        be.setMatmulPrecision(c.precision());
        Dinov2Segmentation model = Dinov2Segmentation.create(be, bc, SegmentationHead.Kind.LINEAR, c.classes(), null, 0);
        TrainConfig tc = c.prepare(model);
        model.train(c.mode() != Mode.INFER);
        model.backbone.setCheckpointBlocks(c.checkpointBlocks());
        long params = be.liveBytes();
        AdamW opt = c.mode() == Mode.INFER ? null : new AdamW(be, ParamGroups.of(model, tc));
        int n = c.batch(), s = c.imgsz();
        float[] img = new float[n * 3 * s * s];
        int[] lbl = new int[n * s * s];
        long trainable = 0;
        for (var p : model.namedParameters().values()) if (p.requiresGrad()) trainable += p.value().numel() * p.value().dtype().bytes();
        long activations = 0;
        for (int i = 0; i < 2; i++) activations = Math.max(activations, step(c.mode(), model, be, opt, img, lbl, n, s));
        JsonObject o = new JsonObject();
        o.addProperty("estimate", "meta backend: the step's allocations and frees, nothing computed");
        o.addProperty("mode", c.mode().name().toLowerCase(Locale.ROOT));
        o.addProperty("backbone", c.backbone());
        o.addProperty("imgsz", c.imgsz());
        o.addProperty("batch", c.batch());
        o.addProperty("precision", c.precision().flag());
        o.addProperty("checkpoint_blocks", c.checkpointBlocks());
        if (c.lora() != null) {
            o.addProperty("lora_rank", c.lora().rank());
            o.addProperty("lora_targets", String.join(",", c.lora().targets()));
        }
        if (c.unfreezeLast() > 0) o.addProperty("unfreeze_last", c.unfreezeLast());
        o.addProperty("peak_gpu_mib", round(PeakMemory.mib(be.peakDeviceBytes()), 1));
        o.addProperty("params_mib", round(PeakMemory.mib(params), 1));
        o.addProperty("grads_mib", round(PeakMemory.mib(opt == null ? 0 : trainable), 1));
        o.addProperty("optimizer_mib", round(PeakMemory.mib(opt == null ? 0 : 2 * trainable), 1));
        o.addProperty("activations_mib", round(PeakMemory.mib(activations), 1));
        return o;
    }

    /**
     * One step of {@code mode} on images [n, 3, s, s] and labels [n, s, s] in its own {@link Ops}
     * scope (infer: forward and argmax; linear, finetune: forward, cross-entropy, backward, AdamW
     * step, zeroGrad); everything it made is freed when it returns. Returns the most bytes the
     * scope owned at once (activations and temporaries).
     */
    @SuppressWarnings("try") // the no-grad scope is used for its effect, not referenced
    public static long step(Mode mode, Dinov2Segmentation model, Backend be, AdamW opt, float[] img, int[] lbl, int n, int s) {
        try (Ops ops = new Ops(be)) {
            Var x = ops.constant(be.fromFloats(img, Shape.of(n, 3, s, s)));
            if (mode == Mode.INFER) {
                try (var sc = ops.noGrad(); Tensor pred = be.empty(Shape.of(n, s, s), DType.I32)) {
                    Var logits = model.forward(ops, x);
                    ops.release(x);
                    be.argmax(logits.value(), pred);
                }
                return ops.tape.ownedBytesPeak();
            }
            try (Tensor labels = be.fromInts(lbl, Shape.of(n, s, s))) {
                trainingWork(model, ops, x, labels, s);
            }
            opt.step();
            opt.zeroGrad();   // frees the gradients before the next forward
            return ops.tape.ownedBytesPeak();
        }
    }

    /** Forward (the backbone without a tape unless fine-tuning), cross-entropy on labels [n, s, s] as the trainer, backward. */
    private static void trainingWork(Dinov2Segmentation model, Ops ops, Var x, Tensor labels, int s) {
        Var grid = model.forwardGrid(ops, x);
        ops.release(x);
        Var loss = ops.crossEntropyUpsampled(grid, s, s, labels, null, 255, null);
        ops.release(grid);
        ops.backward(loss);
    }

    /** Peak device memory of live tensors since the last reset (CUDA allocator), -1 on the CPU. */
    static long gpuBytes(Backend be) { return be.peakDeviceBytes(); }

    static double median(double[] t) {
        double[] s = t.clone();
        Arrays.sort(s);
        int m = s.length / 2;
        return s.length % 2 == 1 ? s[m] : 0.5 * (s[m - 1] + s[m]);
    }

    private static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }

    private static double gaussian(SplittableRandom r) {
        double u1;
        do { u1 = r.nextDouble(); } while (u1 <= 1e-300);
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * r.nextDouble());
    }
}
