package dinoseg.data;

import java.nio.file.Path;

/**
 * Where a dataset is and how to read it: either {@code data} (layout 1, the tutorial's folders, or
 * layout 2, VOCdevkit/VOC2012) or the four explicit folders (layout 3).
 *
 * @param data         dataset root for layouts 1 and 2, or null
 * @param trainImages  layout 3: training images folder (null otherwise)
 * @param trainMasks   layout 3: training masks folder
 * @param validImages  layout 3: validation images folder
 * @param validMasks   layout 3: validation masks folder
 * @param classes      the class set, or null for the default: {@code classes.json} in the dataset root
 *                     (or beside the explicit folders) when there is one, else VOC
 * @param maskFormat   how masks encode classes
 * @param skipBad      drop unreadable pairs (listing them) instead of refusing the dataset
 */
public record DatasetSpec(Path data, Path trainImages, Path trainMasks, Path validImages, Path validMasks,
                          ClassSet classes, MaskFormat maskFormat, boolean skipBad) {

    public DatasetSpec {
        if (maskFormat == null) maskFormat = MaskFormat.AUTO;
    }

    /** Layout 1 or 2 under {@code dir}, default classes, auto mask format. */
    public static DatasetSpec ofDir(Path dir) {
        return new DatasetSpec(dir, null, null, null, null, null, MaskFormat.AUTO, false);
    }

    /** Layout 3 from four folders, default classes, auto mask format. */
    public static DatasetSpec explicit(Path trainImages, Path trainMasks, Path validImages, Path validMasks) {
        return new DatasetSpec(null, trainImages, trainMasks, validImages, validMasks, null, MaskFormat.AUTO, false);
    }

    /** A copy with another class set. */
    public DatasetSpec withClasses(ClassSet c) {
        return new DatasetSpec(data, trainImages, trainMasks, validImages, validMasks, c, maskFormat, skipBad);
    }

    /** A copy with another mask format. */
    public DatasetSpec withMaskFormat(MaskFormat f) {
        return new DatasetSpec(data, trainImages, trainMasks, validImages, validMasks, classes, f, skipBad);
    }

    /** A copy with the skip-bad choice. */
    public DatasetSpec withSkipBad(boolean skip) {
        return new DatasetSpec(data, trainImages, trainMasks, validImages, validMasks, classes, maskFormat, skip);
    }
}
