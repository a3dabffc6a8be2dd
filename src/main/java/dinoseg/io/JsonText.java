package dinoseg.io;

import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parsing JSON text read from a user's file (class files, backbone configs, presets, run configs)
 * with errors in our words: Gson's messages name its exception classes, its strictness setting and
 * a troubleshooting URL ("com.google.gson.stream.MalformedJsonException: Use
 * JsonReader.setStrictness(Strictness.LENIENT) ... at line 1 column 3 path $ See https://..."),
 * which tell a user nothing about their file. Here they become "not valid JSON (line L column C)",
 * the position Gson's message gives.
 */
public final class JsonText {
    private static final Pattern POSITION = Pattern.compile("at line (\\d+) column (\\d+)");

    private JsonText() { }

    /**
     * Parses {@code text} (any JSON value; Gson's default, lenient-on-top-level parsing).
     *
     * @param where names the source in the error, e.g. the file's path
     * @throws IllegalArgumentException "WHERE: not valid JSON (line L column C)" when the text is not JSON
     */
    public static JsonElement parse(String text, String where) {
        try {
            return JsonParser.parseString(text);
        } catch (JsonParseException e) {
            throw new IllegalArgumentException(where + ": " + describe(e));
        }
    }

    /**
     * "not valid JSON (line L column C)" for a Gson parse failure, the position taken from its
     * message; "not valid JSON (empty or cut short)" at the end of the input, "not valid JSON" when
     * the message gives no position.
     */
    public static String describe(Throwable gsonError) {
        String m = gsonError.getMessage() == null ? "" : gsonError.getMessage();
        Matcher p = POSITION.matcher(m);
        if (p.find()) return "not valid JSON (line " + p.group(1) + " column " + p.group(2) + ")";
        if (m.contains("End of input") || m.isBlank()) return "not valid JSON (empty or cut short)";
        return "not valid JSON";
    }

    /**
     * A Gson message made readable when it is not a syntax error (a value of the wrong type, say):
     * the first line, without exception class names, the "path $..." suffix and troubleshooting URLs.
     */
    public static String clean(String gsonMessage) {
        if (gsonMessage == null) return "no detail";
        String m = gsonMessage.strip().lines().findFirst().orElse("");
        m = m.replaceAll("(?:[a-z]+\\.)+[A-Z]\\w*(?:Exception|Error): ", "");
        m = m.replaceAll("\\s*See https?://\\S+", "");
        m = m.replaceAll(" path \\$\\S*", "");
        return m.isBlank() ? "no detail" : m;
    }
}
