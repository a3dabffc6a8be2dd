package dinoseg.model;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.nn.BatchNorm2d;
import dinoseg.nn.Conv2d;
import dinoseg.nn.Init;
import dinoseg.nn.Layer;
import dinoseg.nn.Module;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Segmentation heads over the concatenated feature maps [B, inChannels, h, w] -> logits
 * [B, classes, h, w]. State-dict names (below the model's {@code head.} prefix):
 * <ul>
 *   <li>{@code linear}: {@code conv.weight} [K, Cin, 1, 1], {@code conv.bias} — the tutorial's 1×1 conv.</li>
 *   <li>{@code bn}: {@code bn.{weight,bias,running_mean,running_var}}, then {@code conv.*} —
 *       BatchNorm + 1×1 conv, the official linear head (mmseg's BNHead).</li>
 *   <li>{@code conv}: {@code conv1.*} (3×3, pad 1, to 256 channels), ReLU, {@code conv2.*} (1×1 to K).</li>
 * </ul>
 * The classifier convs start from normal(0, 0.01) weights (truncated) and zero bias, as mmseg's heads.
 */
public abstract class SegmentationHead extends Module implements Layer {
    public enum Kind {
        LINEAR, BN, CONV;

        public static Kind parse(String s) {
            try {
                return valueOf(s.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown head '" + s + "' (use linear, bn or conv)");
            }
        }

        public String id() { return name().toLowerCase(Locale.ROOT); }
    }

    /** Hidden channels of the conv head. */
    public static final int CONV_HIDDEN = 256;

    public final Kind kind;
    public final int inChannels, numClasses;

    protected SegmentationHead(Backend be, Kind kind, int inChannels, int numClasses) {
        super(be);
        if (inChannels <= 0 || numClasses <= 0)
            throw new IllegalArgumentException("head: channels and classes must be positive, got " + inChannels + " and " + numClasses);
        this.kind = kind;
        this.inChannels = inChannels;
        this.numClasses = numClasses;
    }

    public static SegmentationHead create(Backend be, Kind kind, int inChannels, int numClasses, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        return switch (kind) {
            case LINEAR -> new Linear(be, inChannels, numClasses, rng);
            case BN -> new Bn(be, inChannels, numClasses, rng);
            case CONV -> new Conv(be, inChannels, numClasses, rng);
        };
    }

    /** A row of {@link #describe}: sub-layer name (relative), type, output channels, parameters, kernel. */
    public record Part(String name, String type, int outChannels, long params, int kernel) { }

    /** The head's layers in order, for summaries. */
    public abstract List<Part> describe();

    static Conv2d classifier(Backend be, int in, int classes, SplittableRandom rng) {
        Conv2d c = new Conv2d(be, in, classes, 1, 1, 0, true, rng);
        Tensor w = c.weight.value(), b = c.bias.value();
        c.weight.setValue(Init.truncNormal(be, rng, Shape.of(classes, in, 1, 1), 0.01));
        c.bias.setValue(be.zeros(Shape.of(classes)));
        w.close();
        b.close();
        return c;
    }

    static long count(Module m) { return m.parameterCount(false); }

    /** 1×1 conv over the concatenated maps. */
    public static final class Linear extends SegmentationHead {
        public final Conv2d conv;

        Linear(Backend be, int in, int classes, SplittableRandom rng) {
            super(be, Kind.LINEAR, in, classes);
            this.conv = child("conv", classifier(be, in, classes, rng));
        }

        @Override public Var forward(Ops ops, Var x) { return conv.forward(ops, x); }

        @Override public List<Part> describe() { return List.of(new Part("conv", "Conv2d", numClasses, count(conv), 1)); }
    }

    /** BatchNorm2d then a 1×1 conv (the official DINOv2 linear head). */
    public static final class Bn extends SegmentationHead {
        public final BatchNorm2d bn;
        public final Conv2d conv;

        Bn(Backend be, int in, int classes, SplittableRandom rng) {
            super(be, Kind.BN, in, classes);
            this.bn = child("bn", new BatchNorm2d(be, in));
            this.conv = child("conv", classifier(be, in, classes, rng));
        }

        @Override public Var forward(Ops ops, Var x) {
            Var n = bn.forward(ops, x);
            Var y = conv.forward(ops, n);
            ops.release(n);
            return y;
        }

        @Override public List<Part> describe() {
            List<Part> p = new ArrayList<>();
            p.add(new Part("bn", "BatchNorm2d", inChannels, bn.parameterCount(false), 0));
            p.add(new Part("conv", "Conv2d", numClasses, count(conv), 1));
            return p;
        }
    }

    /** 3×3 conv to 256, ReLU, 1×1 conv. */
    public static final class Conv extends SegmentationHead {
        public final Conv2d conv1, conv2;

        Conv(Backend be, int in, int classes, SplittableRandom rng) {
            super(be, Kind.CONV, in, classes);
            this.conv1 = child("conv1", new Conv2d(be, in, CONV_HIDDEN, 3, 1, 1, true, rng));
            this.conv2 = child("conv2", classifier(be, CONV_HIDDEN, classes, rng));
        }

        @Override public Var forward(Ops ops, Var x) {
            Var h = conv1.forward(ops, x);
            Var r = ops.relu(h);
            ops.release(h);
            Var y = conv2.forward(ops, r);
            ops.release(r);
            return y;
        }

        @Override public List<Part> describe() {
            return List.of(new Part("conv1", "Conv2d", CONV_HIDDEN, count(conv1), 3),
                    new Part("relu", "ReLU", CONV_HIDDEN, 0, 0),
                    new Part("conv2", "Conv2d", numClasses, count(conv2), 1));
        }
    }
}
