package dinoseg.cli;

import dinoseg.data.ClassSet;
import dinoseg.data.DatasetSpec;
import dinoseg.data.MaskFormat;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * The dataset flags shared by {@code data check}, {@code train} and {@code eval}: use as a picocli
 * {@code @Mixin} and call {@link #toSpec()}.
 */
public final class DatasetOptions {
    @Option(names = "--data", paramLabel = "DIR",
            description = "Dataset root: the tutorial layout (train_images, train_labels, valid_images, valid_labels) or VOCdevkit / VOC2012.")
    Path data;

    @Option(names = "--train-images", paramLabel = "DIR", description = "Training images folder (explicit layout).")
    Path trainImages;

    @Option(names = "--train-masks", paramLabel = "DIR", description = "Training masks folder (explicit layout).")
    Path trainMasks;

    @Option(names = "--valid-images", paramLabel = "DIR", description = "Validation images folder (explicit layout).")
    Path validImages;

    @Option(names = "--valid-masks", paramLabel = "DIR", description = "Validation masks folder (explicit layout).")
    Path validMasks;

    @Option(names = "--classes", paramLabel = "FILE|voc",
            description = "Class file (JSON: {\"classes\": [{\"name\": ..., \"color\": [r,g,b]}, ...], \"ignore_index\": 255}) or 'voc'. "
                    + "Default: classes.json in the dataset root when present, else voc.")
    String classes;

    @Option(names = "--mask-format", paramLabel = "rgb|index|auto", defaultValue = "auto",
            description = "rgb: colours through the class palette; index: pixel value is the class id; auto: from the PNG type (default: ${DEFAULT-VALUE}).")
    String maskFormat;

    @Option(names = "--skip-bad", description = "Skip unreadable or mismatched image/mask pairs (listing them) instead of refusing the dataset.")
    boolean skipBad;

    /** The dataset these flags describe. */
    public DatasetSpec toSpec() {
        ClassSet cs = classes == null ? null : ClassSet.resolve(classes);
        return new DatasetSpec(data, trainImages, trainMasks, validImages, validMasks, cs, MaskFormat.parse(maskFormat), skipBad);
    }
}
