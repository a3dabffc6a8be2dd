/**
 * Training and evaluation: {@link dinoseg.train.Trainer} (epochs of forward, cross-entropy, backward and
 * {@link dinoseg.train.AdamW} with parameter groups and {@link dinoseg.train.LrSchedule}),
 * {@link dinoseg.train.Evaluator} and {@link dinoseg.train.ConfusionMatrix} (pixel accuracy, mIoU and
 * per-class IoU from one confusion matrix over the whole split), the history CSV and plots, resumable
 * state ({@link dinoseg.train.ResumeState}). Benchmarks of whole steps are in {@code dinoseg.bench}.
 *
 * <p>May use: {@code infer} (evaluation at the annotations' resolution runs the predictor;
 * {@code infer} never uses {@code train}), {@code checkpoint}, {@code model}, {@code data}, {@code io},
 * {@code nn}, {@code autograd}, {@code backend}, {@code tensor}. Never calls {@code System.exit}.
 */
package dinoseg.train;
