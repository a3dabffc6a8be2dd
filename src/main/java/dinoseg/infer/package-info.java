/**
 * Segmentation of images and videos with a trained model: {@link dinoseg.infer.Predictor} (resize/pad to
 * the patch size, test-time augmentation over scales and flips, sliding windows, logits upsampled to the
 * original size before the argmax), overlays with class names and a legend, palettized VOC-style masks,
 * {@link dinoseg.infer.VideoSegmenter} (FFmpeg through JavaCV, H.264 yuv420p MP4 out), and
 * {@link dinoseg.infer.FeatureExtractor} (normed backbone block outputs of an image or a
 * {@code pixel_values} batch, written as safetensors).
 *
 * <p>May use: {@code model}, {@code data}, {@code io}, {@code autograd}, {@code backend}, {@code tensor}.
 */
package dinoseg.infer;
