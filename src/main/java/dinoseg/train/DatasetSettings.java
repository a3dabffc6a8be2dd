package dinoseg.train;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dinoseg.data.ClassSet;
import dinoseg.data.DatasetSpec;
import dinoseg.data.MaskFormat;

import java.nio.file.Path;

/**
 * The dataset part of a training config as JSON ({@code data}, {@code train_images},
 * {@code train_masks}, {@code valid_images}, {@code valid_masks}, {@code classes} as a class-file
 * object, {@code mask_format}, {@code skip_bad}) and back, so config.json and the resume state say
 * exactly which data a run used.
 */
public final class DatasetSettings {
    private DatasetSettings() { }

    public static JsonObject toJson(DatasetSpec s, ClassSet resolved) {
        JsonObject o = new JsonObject();
        put(o, "data", s.data());
        put(o, "train_images", s.trainImages());
        put(o, "train_masks", s.trainMasks());
        put(o, "valid_images", s.validImages());
        put(o, "valid_masks", s.validMasks());
        ClassSet cs = resolved != null ? resolved : s.classes();
        if (cs != null) o.add("classes", JsonParser.parseString(cs.toJson()));
        o.addProperty("mask_format", s.maskFormat().flag());
        o.addProperty("skip_bad", s.skipBad());
        return o;
    }

    public static DatasetSpec fromJson(JsonObject o) {
        ClassSet cs = o.has("classes") && !o.get("classes").isJsonNull() ? ClassSet.parse(o.get("classes").toString()) : null;
        return new DatasetSpec(path(o, "data"), path(o, "train_images"), path(o, "train_masks"), path(o, "valid_images"),
                path(o, "valid_masks"), cs, o.has("mask_format") ? MaskFormat.parse(o.get("mask_format").getAsString()) : MaskFormat.AUTO,
                o.has("skip_bad") && o.get("skip_bad").getAsBoolean());
    }

    private static void put(JsonObject o, String k, Path p) {
        if (p != null) o.addProperty(k, p.toAbsolutePath().normalize().toString()); // absolute: resume and eval work from any folder
    }

    private static Path path(JsonObject o, String k) {
        return o.has(k) && !o.get(k).isJsonNull() ? Path.of(o.get(k).getAsString()) : null;
    }
}
