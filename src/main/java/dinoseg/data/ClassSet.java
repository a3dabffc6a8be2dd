package dinoseg.data;

import dinoseg.io.JsonText;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dinoseg.io.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The classes of a segmentation task: names, display/mask colours and the ignore index.
 *
 * <p>Class ids are 0..size()-1. Pixels labelled {@link #ignoreIndex()} (and VOC's boundary colour,
 * unknown colours, out-of-range ids) take no part in the loss or the metrics. A JSON class file looks
 * like {@code {"classes": [{"name": "background", "color": [0,0,0]}, ...], "ignore_index": 255}};
 * colours are optional (index masks), missing ones come from the VOC palette. Two classes may share
 * a colour only when the file says {@code "shared_colors": true} (ADE20K's standard palette gives
 * "road" and "skyscraper" the same grey): such a set colours masks for display, but a colour mask
 * cannot be decoded with it ({@link #classOfColor} answers -1 for a shared colour).
 */
public final class ClassSet {
    /** The 21 Pascal VOC class names, background first. */
    public static final List<String> VOC_NAMES = List.of("background", "aeroplane", "bicycle", "bird", "boat",
            "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
            "pottedplant", "sheep", "sofa", "train", "tvmonitor");

    private final List<String> names;
    private final int[] colors;          // packed RGB per class
    private final boolean colorsGiven;
    private final int ignoreIndex;
    private final boolean sharedColors;
    private boolean reduceZeroLabel;
    private final Map<Integer, Integer> byColor = new HashMap<>();

    /**
     * @param names       class names, id order
     * @param colors      packed RGB per class, or null to take the VOC palette's colours
     * @param ignoreIndex label value that marks pixels to ignore (commonly 255)
     */
    public ClassSet(List<String> names, int[] colors, int ignoreIndex) {
        this(names, colors, ignoreIndex, false);
    }

    /**
     * As above; with {@code sharedColors} several classes may have one colour (a display-only
     * palette: colour masks cannot be decoded with it, {@link #classOfColor} gives -1 for them).
     */
    public ClassSet(List<String> names, int[] colors, int ignoreIndex, boolean sharedColors) {
        if (names.isEmpty()) throw new IllegalArgumentException("class set: no classes");
        if (colors != null && colors.length != names.size())
            throw new IllegalArgumentException("class set: " + names.size() + " names but " + colors.length + " colours");
        this.names = List.copyOf(names);
        this.colorsGiven = colors != null;
        this.colors = new int[names.size()];
        for (int i = 0; i < names.size(); i++)
            this.colors[i] = colors != null ? colors[i] & 0xFFFFFF : (i < 256 ? Palette.vocColor(i) : 0);
        this.ignoreIndex = ignoreIndex;
        this.sharedColors = sharedColors;
        for (int i = 0; i < this.colors.length; i++) {
            Integer prev = byColor.putIfAbsent(this.colors[i], i);
            if (prev != null && sharedColors) byColor.put(this.colors[i], -1);
            else if (prev != null)
                throw new IllegalArgumentException("class set: classes '" + names.get(prev) + "' and '" + names.get(i)
                        + "' share the colour " + Palette.format(this.colors[i]));
        }
    }

    /**
     * This set with MMSegmentation's {@code reduce_zero_label} on or off: id masks then hold 0 for
     * "other" (ignored) and v + 1 for class v, as ADE20K's annotations do ({@link MaskIO#decode}).
     */
    public ClassSet withReduceZeroLabel(boolean on) {
        ClassSet c = new ClassSet(names, colorsGiven ? colors : null, ignoreIndex, sharedColors);
        c.reduceZeroLabel = on;
        return c;
    }

    /** Whether id masks are read with MMSegmentation's {@code reduce_zero_label} (see {@link #withReduceZeroLabel}). */
    public boolean reduceZeroLabel() { return reduceZeroLabel; }

    /** The built-in Pascal VOC set: 21 classes, the standard palette, ignore index 255. */
    public static ClassSet voc() {
        return new ClassSet(VOC_NAMES, null, 255);
    }

    /** The ADE20K class-file resource ({@code dinoseg/data/ade20k.json}, its {@code source} names where it comes from). */
    static final String ADE20K_RESOURCE = "/dinoseg/data/ade20k.json";

    /**
     * The built-in ADE20K set (SceneParsing's 150 classes as MMSegmentation reads them with
     * {@code reduce_zero_label}: annotation value 0 "other" is ignored, value v is class v-1):
     * MMSegmentation's class names, the standard ADE20K palette (DINOv2's colormaps.py, which
     * MMSegmentation shares; "road" and "skyscraper" share a grey, so it is a display palette),
     * ignore index 255.
     */
    public static ClassSet ade20k() {
        try (java.io.InputStream in = ClassSet.class.getResourceAsStream(ADE20K_RESOURCE)) {
            if (in == null) throw new IllegalStateException("the ADE20K class resource " + ADE20K_RESOURCE + " is missing from the build");
            return parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot read the ADE20K class resource " + ADE20K_RESOURCE, e);
        }
    }

    /** {@code "voc"} gives {@link #voc()}, {@code "ade20k"} {@link #ade20k()}, anything else is read as a JSON class file. */
    public static ClassSet resolve(String arg) {
        if (arg.equalsIgnoreCase("voc")) return voc();
        if (arg.equalsIgnoreCase("ade20k")) return ade20k();
        if (!arg.contains("/") && !arg.contains(java.io.File.separator) && !arg.toLowerCase(java.util.Locale.ROOT).endsWith(".json")
                && !Files.exists(Path.of(arg)))   // a name, not a path: say which names there are
            throw new IllegalArgumentException("classes '" + arg + "': not a built-in class set (voc, ade20k) nor an existing class file");
        return load(Path.of(arg));
    }

    /** Reads a JSON class file; a malformed one fails with one line naming the file. */
    public static ClassSet load(Path json) {
        String text;
        if (Files.isDirectory(json)) throw new IllegalArgumentException(json + ": is a directory, not a class file");
        try {
            text = Files.readString(json, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(json + ": class file does not exist");
        } catch (IOException e) {
            throw new IllegalArgumentException(json + ": cannot read class file (" + e.getMessage() + ")");
        }
        try {
            return parse(text);
        } catch (JsonParseException e) {
            throw new IllegalArgumentException(json + ": " + JsonText.describe(e));
        } catch (IllegalStateException | IllegalArgumentException | UnsupportedOperationException e) {
            throw new IllegalArgumentException(json + ": " + JsonText.clean(e.getMessage()));
        }
    }

    /** Parses the JSON text of a class file. */
    public static ClassSet parse(String text) {
        JsonElement root = JsonParser.parseString(text);
        if (!root.isJsonObject()) throw new IllegalArgumentException("class file must be a JSON object");
        JsonObject o = root.getAsJsonObject();
        if (!o.has("classes") || !o.get("classes").isJsonArray())
            throw new IllegalArgumentException("class file needs a \"classes\" list");
        JsonArray arr = o.getAsJsonArray("classes");
        if (arr.isEmpty()) throw new IllegalArgumentException("\"classes\" is empty");
        List<String> names = new ArrayList<>();
        int[] colors = new int[arr.size()];
        int withColor = 0;
        for (int i = 0; i < arr.size(); i++) {
            JsonElement e = arr.get(i);
            if (e.isJsonPrimitive()) { // a bare name is accepted too
                names.add(e.getAsString());
                continue;
            }
            if (!e.isJsonObject() || !e.getAsJsonObject().has("name"))
                throw new IllegalArgumentException("class " + i + " needs a \"name\"");
            JsonObject c = e.getAsJsonObject();
            names.add(c.get("name").getAsString());
            if (c.has("color") && !c.get("color").isJsonNull()) {
                JsonArray rgb = c.getAsJsonArray("color");
                if (rgb.size() != 3) throw new IllegalArgumentException("class '" + names.get(i) + "': color must be [r,g,b]");
                int packed = 0;
                for (int k = 0; k < 3; k++) {
                    int v = rgb.get(k).getAsInt();
                    if (v < 0 || v > 255)
                        throw new IllegalArgumentException("class '" + names.get(i) + "': colour value " + v + " outside 0..255");
                    packed = (packed << 8) | v;
                }
                colors[i] = packed;
                withColor++;
            }
        }
        if (withColor != 0 && withColor != arr.size())
            throw new IllegalArgumentException("either every class has a \"color\" or none does");
        int ignore = o.has("ignore_index") ? o.get("ignore_index").getAsInt() : 255;
        boolean shared = o.has("shared_colors") && o.get("shared_colors").getAsBoolean();
        boolean reduce = o.has("reduce_zero_label") && o.get("reduce_zero_label").getAsBoolean();
        return new ClassSet(names, withColor == 0 ? null : colors, ignore, shared).withReduceZeroLabel(reduce);
    }

    /** The JSON form {@link #parse} reads back. */
    public String toJson() {
        JsonObject o = new JsonObject();
        JsonArray arr = new JsonArray();
        for (int i = 0; i < names.size(); i++) {
            JsonObject c = new JsonObject();
            c.addProperty("name", names.get(i));
            if (colorsGiven) {
                JsonArray rgb = new JsonArray();
                rgb.add((colors[i] >> 16) & 255);
                rgb.add((colors[i] >> 8) & 255);
                rgb.add(colors[i] & 255);
                c.add("color", rgb);
            }
            arr.add(c);
        }
        o.add("classes", arr);
        o.addProperty("ignore_index", ignoreIndex);
        if (sharedColors) o.addProperty("shared_colors", true);
        if (reduceZeroLabel) o.addProperty("reduce_zero_label", true);
        Gson gson = new GsonBuilder().setPrettyPrinting().create();
        return gson.toJson(o) + "\n";
    }

    /** Writes {@link #toJson()} to a file (UTF-8), atomically ({@link AtomicFiles}). */
    public void write(Path json) throws IOException {
        AtomicFiles.writeString(json, toJson());
    }

    /** Number of classes. */
    public int size() { return names.size(); }

    /** Class names in id order. */
    public List<String> names() { return names; }

    /** Name of class {@code id}. */
    public String name(int id) { return names.get(id); }

    /** Packed RGB colour of class {@code id}. */
    public int color(int id) { return colors[id]; }

    /** Whether the colours came from the class file (rather than the VOC palette). */
    public boolean colorsGiven() { return colorsGiven; }

    /** Label value marking ignored pixels; the loader writes it for every ignored pixel. */
    public int ignoreIndex() { return ignoreIndex; }

    /** Whether several classes may share a colour (a display-only palette). */
    public boolean sharedColors() { return sharedColors; }

    /** Class id of a packed RGB mask colour, or -1 when no class has it (or, with shared colours, several do). */
    public int classOfColor(int packedRgb) {
        Integer id = byColor.get(packedRgb & 0xFFFFFF);
        return id == null ? -1 : id;
    }

    /**
     * The display palette: each class's colour at its id, the VOC palette elsewhere, and VOC's boundary
     * colour at the ignore index when it is 0..255 and not a class.
     */
    public Palette palette() {
        int[] p = Palette.voc().toArray();
        for (int i = 0; i < Math.min(256, colors.length); i++) p[i] = colors[i];
        if (ignoreIndex >= colors.length && ignoreIndex < 256) p[ignoreIndex] = Palette.VOC_BOUNDARY_RGB;
        return Palette.of(p);
    }

    @Override public String toString() {
        return names.size() + " classes " + names + ", ignore index " + ignoreIndex;
    }

}
