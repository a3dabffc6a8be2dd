/**
 * Weights meet models: strict loading of host tensors into modules and copying them out
 * ({@link dinoseg.checkpoint.StateDicts}), backbone and full-model weight files of any supported
 * format and naming loaded into a {@link dinoseg.model.Dinov2Segmentation} or written from a module
 * ({@link dinoseg.checkpoint.Weights}), and our self-describing checkpoints — model, classes, image
 * size and training settings in one safetensors file ({@link dinoseg.checkpoint.ModelCheckpoint}),
 * and pretrained weights by name ({@link dinoseg.checkpoint.WeightsName}) through the weights cache
 * ({@link dinoseg.checkpoint.WeightsHub}, {@link dinoseg.checkpoint.WeightsCache}): downloads over the
 * JDK's HTTP client, resumable, checked and atomic, configured by {@link dinoseg.checkpoint.HubSettings}.
 *
 * <p>May use: {@code model} and what it stands on ({@code nn}, {@code backend}, {@code tensor}),
 * {@code io} (file formats, name mapping, atomic writes) and {@code data} (the class set a
 * checkpoint stores; {@code data} knows only {@code tensor}, so the arrow still points down).
 * Used by {@code train} and {@code cli}; nothing below them uses it.
 */
package dinoseg.checkpoint;
