package dinoseg.cli;

import dinoseg.data.ClassSet;
import dinoseg.data.DatasetSpec;
import dinoseg.data.MaskFormat;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * The dataset flags shared by {@code data check}, {@code train} and {@code eval}: use as a picocli
 * {@code @Mixin} and call {@link #toSpec(CommandLine)}.
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

    @Option(names = "--classes", paramLabel = "FILE|voc|ade20k",
            description = "Class file (JSON: {\"classes\": [{\"name\": ..., \"color\": [r,g,b]}, ...], \"ignore_index\": 255}), 'voc' or 'ade20k'. "
                    + "Default: classes.json in the dataset root when present, else voc.")
    String classes;

    @Option(names = "--mask-format", paramLabel = "rgb|index|auto", defaultValue = "auto",
            description = "rgb: colours through the class palette; index: pixel value is the class id; auto: from the PNG type (default: ${DEFAULT-VALUE}).")
    String maskFormat;

    @Option(names = "--skip-bad", description = "Skip unreadable or mismatched image/mask pairs (listing them) instead of refusing the dataset.")
    boolean skipBad;

    /**
     * The dataset these flags describe. A bad --mask-format is a usage error of {@code cl} (exit
     * status 2); a class file that cannot be read is a run-time error naming it (exit status 1).
     */
    public DatasetSpec toSpec(CommandLine cl) {
        MaskFormat format = Flags.check(cl, () -> MaskFormat.parse(maskFormat));
        ClassSet cs = classes == null ? null : ClassSet.resolve(classes);
        return new DatasetSpec(data, trainImages, trainMasks, validImages, validMasks, cs, format, skipBad);
    }

    /**
     * Requires the flags to name a dataset: --data, or all four explicit folders, not both (the rule
     * {@link dinoseg.data.Datasets#open} applies); otherwise a usage error of {@code cl}.
     */
    void requireDataset(CommandLine cl) {
        Path[] folders = {trainImages, trainMasks, validImages, validMasks};
        String[] flags = {"--train-images", "--train-masks", "--valid-images", "--valid-masks"};
        boolean anyExplicit = java.util.Arrays.stream(folders).anyMatch(java.util.Objects::nonNull);
        Flags.require(cl, data == null || !anyExplicit,
                "give either --data or the four --train-images/--train-masks/--valid-images/--valid-masks folders, not both");
        if (data != null) return;
        for (int i = 0; i < 4; i++)
            Flags.require(cl, folders[i] != null, "no dataset: give --data DIR or all of --train-images, --train-masks, --valid-images, "
                    + "--valid-masks (" + flags[i] + " missing)");
    }
}
