package dinoseg.data;

/**
 * A decoded mask: one class id per pixel, row-major, with every ignored pixel (ignore index, VOC
 * boundary colour, unknown colour, out-of-range id) set to the class set's ignore index.
 *
 * @param labels        width*height class ids
 * @param width         mask width
 * @param height        mask height
 * @param format        the format the mask was decoded as ({@link MaskFormat#RGB} or {@link MaskFormat#INDEX})
 * @param unknownPixels pixels whose colour or id matched no class (counted, then ignored)
 * @param firstUnknown  the first unknown value seen: a packed RGB colour (rgb) or an id (index); -1 when none
 * @param note          how {@code --mask-format auto} read a palettized mask when that needs saying (its palette
 *                      is not in class order, so its colours were mapped through the class colours), else null
 */
public record LabelMap(int[] labels, int width, int height, MaskFormat format, long unknownPixels, int firstUnknown, String note) {
    /** The unknown value in words: "(r,g,b)" or "id N". */
    public String describeUnknown() {
        if (firstUnknown < 0) return "none";
        return format == MaskFormat.RGB ? "colour " + Palette.format(firstUnknown) : "id " + firstUnknown;
    }
}
