/**
 * The models: {@link dinoseg.model.BackboneConfig} (presets small/base/large/giant, with registers, and
 * custom sizes), {@link dinoseg.model.DinoVisionTransformer} (the DINOv2 ViT with position-embedding
 * interpolation as the official code does it), {@link dinoseg.model.SegmentationHead} (linear, bn, conv)
 * and {@link dinoseg.model.Dinov2Segmentation} (backbone + head, the last blocks normed patch maps).
 *
 * <p>May use: {@code nn}, {@code autograd}, {@code backend}, {@code tensor}, and {@link dinoseg.io.JsonText}
 * for the errors of backbone JSON files ({@code io} knows only {@code tensor}, so the arrow still points down).
 */
package dinoseg.model;
