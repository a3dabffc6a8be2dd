/**
 * Datasets for semantic segmentation, independent of any backend: class sets and palettes, the three
 * dataset layouts, mask decoding, augmentation, and a parallel deterministic loader that yields
 * host-side {@link dinoseg.data.Batch}es.
 *
 * <pre>{@code
 * Datasets.Opened ds = Datasets.openValidated(spec, log);          // refuses bad pairs unless spec.skipBad()
 * Preprocess pre = Preprocess.of(644, backbone.patch(), log);      // multiple of the patch, with a notice
 * try (DataLoader train = new DataLoader(ds.train(), DataLoader.Options.train(8, seed, Augment.of(Augment.Mode.TUTORIAL), pre));
 *      DataLoader valid = new DataLoader(ds.valid(), DataLoader.Options.valid(8, pre))) {
 *     for (int epoch = 0; epoch < epochs; epoch++)
 *         for (Iterator<Batch> it = train.epoch(epoch); it.hasNext(); ) {
 *             Batch b = it.next();
 *             Tensor x = backend.fromFloats(b.images(), Shape.of(b.n(), 3, b.h(), b.w()));
 *             Tensor y = backend.fromInts(b.labels(), Shape.of(b.n(), b.h(), b.w()));  // ignore = ds.classes().ignoreIndex()
 *         }
 * }
 * }</pre>
 * Inference: {@link dinoseg.data.ImageIOUtil#readPicture} (the one image reader), {@link dinoseg.data.ImageNetNorm}
 * (the one normalisation), {@link dinoseg.data.ImageIOUtil#loadPlanar} / {@link dinoseg.data.ImageIOUtil#loadChw} and
 * {@link dinoseg.data.ImageIOUtil#resizeNormalise}; masks out through
 * {@link dinoseg.data.MaskIO#writeIndexPng} with {@link dinoseg.data.ClassSet#palette()}.
 *
 * <p>May use: {@code dinoseg.tensor} and, for every file it writes (masks, demo images, class files),
 * {@link dinoseg.io.AtomicFiles} — {@code io} itself knows only {@code tensor}, so the arrow still
 * points down and there is one atomic-write implementation (temporary file, fsync, rename) — and
 * {@link dinoseg.io.JsonText} for the errors of class files.
 */
package dinoseg.data;
