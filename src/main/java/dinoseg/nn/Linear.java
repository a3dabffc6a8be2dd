package dinoseg.nn;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.tensor.Shape;

import java.util.SplittableRandom;

/**
 * y = x W^T + b with PyTorch's names and layout: weight [out, in], bias [out].
 *
 * <p>Optionally with a LoRA adapter ({@link #addLora}), following Hugging Face PEFT's
 * {@code peft.tuners.lora.Linear}: y = x W^T + b + scaling · (x A^T) B^T with {@code lora_A} [r, in]
 * (kaiming-uniform, a = sqrt(5), as {@code nn.init.kaiming_uniform_}: U(-1/sqrt(in), 1/sqrt(in))),
 * {@code lora_B} [out, r] initialised to zero (so the adapted layer starts equal to the base one) and
 * scaling = alpha / r. The adapter's parameters are the children {@code lora_A.weight} and
 * {@code lora_B.weight}, so their state-dict names are PEFT's without its {@code base_model.model.}
 * prefix (e.g. {@code blocks.3.attn.qkv.lora_A.weight}).
 */
public final class Linear extends Module implements Layer {
    public final Parameter weight, bias;
    public final int in, out;
    private Linear loraA, loraB;
    private float loraScaling;

    public Linear(Backend be, int in, int out, boolean bias, SplittableRandom rng) {
        super(be);
        this.in = in;
        this.out = out;
        this.weight = param("weight", new Parameter(Init.truncNormal(be, rng, Shape.of(out, in), 0.02)));
        this.bias = bias ? param("bias", new Parameter(be.zeros(Shape.of(out)))) : null;
    }

    /** A bias-free Linear with the given initial weight [out, in] (owned by the new module from now on). */
    private Linear(Backend be, dinoseg.tensor.Tensor w) {
        super(be);
        this.out = w.shape().dim(0);
        this.in = w.shape().dim(1);
        this.weight = param("weight", new Parameter(w));
        this.bias = null;
    }

    /**
     * Adds a LoRA adapter of rank {@code rank} and scaling {@code alpha / rank} (PEFT's
     * {@code LoraLayer.update_layer}, without dropout). The new parameters require gradients; the
     * base weight and bias are left as they are (the caller freezes them).
     *
     * @throws IllegalArgumentException when rank is not positive or alpha not a positive finite number
     * @throws IllegalStateException    when this Linear already has an adapter
     */
    public void addLora(int rank, double alpha, SplittableRandom rng) {
        if (rank <= 0) throw new IllegalArgumentException("LoRA rank must be positive, got " + rank);
        if (!(alpha > 0) || Double.isInfinite(alpha)) throw new IllegalArgumentException("LoRA alpha must be a positive number, got " + alpha);
        if (loraA != null) throw new IllegalStateException("this Linear already has a LoRA adapter");
        loraA = child("lora_A", new Linear(be, Init.uniform(be, rng, Shape.of(rank, in), 1.0 / Math.sqrt(in))));
        loraB = child("lora_B", new Linear(be, be.zeros(Shape.of(out, rank))));
        loraScaling = (float) (alpha / rank);
    }

    public boolean hasLora() { return loraA != null; }

    /** lora_A's weight [r, in]; null without an adapter. */
    public Parameter loraA() { return loraA == null ? null : loraA.weight; }

    /** lora_B's weight [out, r]; null without an adapter. */
    public Parameter loraB() { return loraB == null ? null : loraB.weight; }

    /** alpha / r; 0 without an adapter. */
    public float loraScaling() { return loraScaling; }

    @Override public Var forward(Ops ops, Var x) {
        Var y = ops.linear(x, weight, bias);
        if (loraA == null) return y;
        Var t = ops.linear(x, loraA.weight, null);
        Var u = ops.linear(t, loraB.weight, null);
        ops.release(t);
        Var s = ops.scale(u, loraScaling);
        ops.release(u);
        Var r = ops.add(y, s);
        ops.release(y, s);
        return r;
    }
}
