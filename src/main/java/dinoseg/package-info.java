/**
 * dinoseg: DINOv2 semantic segmentation in Java. Packages, from the bottom: {@code tensor} → {@code backend}
 * ({@code cpu}, {@code cuda}) → {@code autograd} → {@code nn} → {@code model} → {@code io}, {@code data} →
 * {@code train}, {@code infer} → {@code cli}; arrows point one way and nothing below calls up.
 */
package dinoseg;
