package dinoseg.infer;

import dinoseg.tensor.Tensor;

/**
 * What inference needs from a segmentation network: normalised images in, class logits out. The
 * real DINOv2 model is adapted to it in {@link ModelAdapter}; tests use small deterministic
 * functions of the pixels, so padding, TTA, sliding windows, overlays and video can be checked
 * without weights.
 */
public interface SegModel {

    /** Number of classes K. */
    int numClasses();

    /**
     * The patch size in pixels that input sides must be multiples of ({@code BackboneConfig.patch()},
     * 14 for every DINOv2 preset); the predictor pads to it.
     */
    int patch();

    /**
     * Logits [B, K, outH, outW] for images [B, 3, H, W] (ImageNet-normalised, H and W multiples
     * of {@link #patch()}), both tensors on the predictor's backend. The caller owns (and may close) the result.
     */
    Tensor logits(Tensor images, int outH, int outW);
}
