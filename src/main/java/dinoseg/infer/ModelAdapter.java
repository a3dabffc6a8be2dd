package dinoseg.infer;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Tape;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.model.Dinov2Segmentation;
import dinoseg.tensor.Tensor;

/**
 * The DINOv2 segmentation model as a {@link SegModel}: evaluation mode (BatchNorm heads use their
 * running statistics), no tape, logits upsampled by the model to the requested size.
 */
public final class ModelAdapter implements SegModel {
    private final Dinov2Segmentation model;
    private final Ops ops;

    public ModelAdapter(Backend be, Dinov2Segmentation model) {
        this(new Ops(be), model);
    }

    /** Runs the model through {@code ops} (whose tape must stay empty: inference records nothing). */
    ModelAdapter(Ops ops, Dinov2Segmentation model) {
        this.model = model;
        this.ops = ops;
        model.train(false);
    }

    @Override public int numClasses() { return model.numClasses(); }

    /** The backbone's patch size ({@code BackboneConfig.patch()}). */
    @Override public int patch() { return model.backbone.patch(); }

    /** The logits, owned by the caller (who closes them); everything else the forward made is freed here. */
    @Override
    @SuppressWarnings("try")
    public Tensor logits(Tensor images, int outH, int outW) {
        try (Ops scope = new Ops(ops.be); Tape.Scope s = scope.noGrad()) {
            return scope.keep(model.forward(scope, Var.constant(images), outH, outW)).value();
        }
    }
}
