package dinoseg.nn;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.tensor.Shape;

import java.util.SplittableRandom;

/** Non-overlapping p×p patches to tokens: {@code proj} is a [dim, 3, p, p] conv with bias. */
public final class PatchEmbed extends Module implements Layer {
    public final Parameter weight, bias;
    public final int patch, dim, inChans;

    public PatchEmbed(Backend be, int inChans, int dim, int patch, SplittableRandom rng) {
        super(be);
        this.patch = patch;
        this.dim = dim;
        this.inChans = inChans;
        Module proj = child("proj", new Module(be) { });
        int fanIn = inChans * patch * patch;
        this.weight = proj.param("weight", new Parameter(Init.uniform(be, rng, Shape.of(dim, inChans, patch, patch), 1 / Math.sqrt(fanIn))));
        this.bias = proj.param("bias", new Parameter(Init.uniform(be, rng, Shape.of(dim), 1 / Math.sqrt(fanIn))));
    }

    /** x [B, 3, H, W] -> tokens [B, (H/p)(W/p), dim]. */
    @Override public Var forward(Ops ops, Var x) { return ops.patchEmbed(x, weight, bias, patch); }
}
