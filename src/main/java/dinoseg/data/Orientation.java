package dinoseg.data;

/**
 * The EXIF orientation tag (TIFF tag 0x0112, values 1..8): how the stored pixels must be turned to
 * show the picture upright, as viewers, PIL's {@code ImageOps.exif_transpose} and OpenCV's
 * {@code imread} apply it.
 *
 * <pre>
 * 1 as stored       2 mirrored left-right      3 rotated 180°        4 mirrored top-bottom
 * 5 transposed      6 rotated 90° clockwise    7 transversed         8 rotated 90° counter-clockwise
 * </pre>
 * Values 5..8 swap width and height.
 */
public final class Orientation {
    private Orientation() {}

    /** Whether the orientation swaps width and height (5..8). */
    public static boolean swapsAxes(int orientation) {
        return orientation >= 5 && orientation <= 8;
    }

    /** What a viewer does to the stored picture, in words ("rotate 90° clockwise"). */
    public static String describe(int orientation) {
        return switch (orientation) {
            case 2 -> "mirror left-right";
            case 3 -> "rotate 180°";
            case 4 -> "mirror top-bottom";
            case 5 -> "transpose (mirror left-right, then rotate 90° counter-clockwise)";
            case 6 -> "rotate 90° clockwise";
            case 7 -> "transverse (mirror left-right, then rotate 90° clockwise)";
            case 8 -> "rotate 90° counter-clockwise";
            default -> "none";
        };
    }

    /**
     * The EXIF value of a javax ImageIO standard-metadata {@code ImageOrientation} name (the
     * transform named there is counter-clockwise: EXIF 6, shown after a clockwise quarter turn, is
     * "Rotate270"); 1 for an unknown name.
     */
    static int fromStandardName(String name) {
        return switch (name) {
            case "FlipH" -> 2;
            case "Rotate180" -> 3;
            case "FlipV" -> 4;
            case "FlipVRotate90" -> 5;
            case "Rotate270" -> 6;
            case "FlipHRotate90" -> 7;
            case "Rotate90" -> 8;
            default -> 1;
        };
    }

    /**
     * The upright picture of stored packed pixels: a new array of w*h pixels whose row length is h
     * for orientations 5..8 and w otherwise; the input itself for 1 (or any value outside 2..8).
     */
    public static int[] apply(int[] px, int w, int h, int orientation) {
        if (px.length != w * h) throw new IllegalArgumentException("orientation: " + px.length + " pixels for " + w + "x" + h);
        if (orientation < 2 || orientation > 8) return px;
        int[] out = new int[px.length];
        boolean swap = swapsAxes(orientation);
        int ow = swap ? h : w, oh = swap ? w : h;
        for (int y = 0; y < oh; y++) {
            int o = y * ow;
            for (int x = 0; x < ow; x++) {
                int sx, sy;
                switch (orientation) {
                    case 2 -> { sx = w - 1 - x; sy = y; }
                    case 3 -> { sx = w - 1 - x; sy = h - 1 - y; }
                    case 4 -> { sx = x; sy = h - 1 - y; }
                    case 5 -> { sx = y; sy = x; }
                    case 6 -> { sx = y; sy = h - 1 - x; }
                    case 7 -> { sx = w - 1 - y; sy = h - 1 - x; }
                    default -> { sx = w - 1 - y; sy = x; } // 8
                }
                out[o + x] = px[sy * w + sx];
            }
        }
        return out;
    }
}
