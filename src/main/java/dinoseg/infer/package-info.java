/**
 * Segmentation of images and videos with a trained model: {@link dinoseg.infer.Predictor} (resize/pad to
 * the patch size, test-time augmentation over scales and flips, sliding windows, logits upsampled to the
 * original size before the argmax), overlays with class names and a legend, palettized VOC-style masks,
 * and {@link dinoseg.infer.VideoSegmenter} (FFmpeg through JavaCV, H.264 yuv420p MP4 out).
 *
 * <p>May use: {@code model}, {@code data}, {@code autograd}, {@code backend}, {@code tensor}.
 */
package dinoseg.infer;
