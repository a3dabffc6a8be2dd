package dinoseg.io;

/**
 * Text taken from a file (tensor names, pickle globals, zip entry names, JSON keys) made safe to
 * put into a one-line error message: printable ASCII only (anything else, terminal escapes and
 * line breaks included, is written as {@code \xNN} or {@code \}{@code uNNNN}) and at most
 * {@link #MAX_CHARS} characters, the rest replaced by a count.
 */
public final class Untrusted {
    private Untrusted() { }

    /** The longest text kept before truncation. */
    public static final int MAX_CHARS = 80;

    /** {@code s} escaped to printable ASCII and cut to {@link #MAX_CHARS} characters ("null" for null). */
    public static String text(String s) { return text(s, MAX_CHARS); }

    /** {@link #text} with another length limit. */
    public static String text(String s, int maxChars) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder(Math.min(s.length(), maxChars) + 16);
        int i = 0;
        for (; i < s.length() && b.length() < maxChars; i++) {
            char c = s.charAt(i);
            if (c >= 0x20 && c < 0x7f) b.append(c);
            else if (c < 0x100) b.append(String.format("\\x%02x", (int) c));
            else b.append(String.format("\\u%04x", (int) c));
        }
        if (i < s.length()) b.append("...(").append(s.length()).append(" chars)");
        return b.toString();
    }

    /** {@link #text} in single quotes. */
    public static String quoted(String s) { return "'" + text(s) + "'"; }

    /** A message (e.g. of a library exception) on one line: line breaks become spaces, the rest as {@link #text} but up to 200 chars. */
    public static String message(String s) {
        if (s == null) return "";
        String one = s.replaceAll("\\s+", " ").trim();
        StringBuilder b = new StringBuilder();
        int i = 0;
        for (; i < one.length() && b.length() < 200; i++) {
            char c = one.charAt(i);
            b.append(c >= 0x20 && c < 0x7f ? String.valueOf(c) : "?");
        }
        if (i < one.length()) b.append("...");
        return b.toString();
    }
}
