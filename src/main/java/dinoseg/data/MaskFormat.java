package dinoseg.data;

import java.util.Locale;

/** How mask PNGs encode classes. */
public enum MaskFormat {
    /** Colour-coded: each pixel's RGB colour is looked up among the class colours. */
    RGB,
    /** The pixel value (grey or palettized PNG index) is the class id. */
    INDEX,
    /** Decide per file from the PNG type: palettized or grey means {@link #INDEX}, colour means {@link #RGB}. */
    AUTO;

    /** Parses {@code rgb|index|auto} (any case); a wrong value fails with one line. */
    public static MaskFormat parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--mask-format: '" + s + "' is not one of rgb, index, auto");
        }
    }

    /** Lower-case name, as flags spell it. */
    public String flag() {
        return name().toLowerCase(Locale.ROOT);
    }
}
