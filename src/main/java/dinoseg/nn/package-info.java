/**
 * Layers named like the DINOv2 state dict ({@code blocks.3.attn.qkv.weight}), so weight loading is a
 * lookup: {@link dinoseg.nn.Module}, {@link dinoseg.nn.Parameter}, Linear, LayerNorm, Attention, Mlp,
 * SwiGluFfn, LayerScale, PatchEmbed, Block, Conv2d, BatchNorm2d, and their initialisation
 * ({@link dinoseg.nn.Init}, following timm/DINOv2). One small class per layer, as in
 * facebookresearch/dinov2 {@code dinov2/layers/}.
 *
 * <p>May use: {@code autograd}, {@code backend}, {@code tensor}.
 */
package dinoseg.nn;
