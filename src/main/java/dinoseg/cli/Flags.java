package dinoseg.cli;

import dinoseg.model.BackboneConfig;
import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Checks of flag values that picocli's types cannot express (a range, a choice, a pair), failing
 * the way picocli's own checks fail: a {@link CommandLine.ParameterException}, which
 * {@link UsageErrorHandler} prints as one line with the usage hint and exit status 2 (the README's
 * "bad flags exit 2"). Problems found while running (a file that cannot be read, data that does not
 * fit) stay {@link IllegalArgumentException}s, exit status 1; so only the flag checks themselves
 * go through {@link #check}, never the work that follows them.
 */
final class Flags {
    private Flags() { }

    /**
     * Runs checks of flag values: an {@link IllegalArgumentException} they throw (whose message names
     * the flag) becomes a usage error of {@code cl}.
     */
    static <T> T check(CommandLine cl, Supplier<T> checks) {
        try {
            return checks.get();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cl, e.getMessage(), e);
        }
    }

    /** {@link #check(CommandLine, Supplier)} for one flag: its name leads the message when the message lacks it. */
    static <T> T check(CommandLine cl, String flag, Supplier<T> checks) {
        try {
            return checks.get();
        } catch (IllegalArgumentException e) {
            String m = String.valueOf(e.getMessage());
            throw new CommandLine.ParameterException(cl, m.contains(flag) ? m : flag + ": " + m, e);
        }
    }

    /** {@link #check(CommandLine, Supplier)} for checks without a result. */
    static void check(CommandLine cl, Runnable checks) {
        check(cl, () -> {
            checks.run();
            return null;
        });
    }

    /** A usage error of {@code cl} when {@code ok} is false. */
    static void require(CommandLine cl, boolean ok, String message) {
        if (!ok) throw new CommandLine.ParameterException(cl, message);
    }

    /**
     * The {@code --imgsz W [H]} flag as {width, height} (one value: a square), or null when it was not
     * given. Every value must be at least 1, and 3·W·H at most 2^31−1 (int indexing). picocli
     * appends the values of a repeated array option, so "--imgsz 28 --imgsz 56" would silently read
     * as 28x56: a repeat is refused, as picocli refuses a repeated single-value option.
     */
    static int[] imageSize(CommandLine cl, int[] values) {
        if (values == null) return null;
        CommandLine.Model.OptionSpec o = cl.getParseResult() == null ? null : cl.getParseResult().matchedOption("--imgsz");
        if (o != null && timesGiven(cl.getParseResult(), "--imgsz") > 1)
            throw new CommandLine.ParameterException(cl, "--imgsz given twice; give W [H] once", o, null);
        require(cl, values.length >= 1 && values.length <= 2,
                "--imgsz takes a width and a height (or one side), got " + values.length + " values");
        int w = values[0], h = values.length > 1 ? values[1] : values[0];
        require(cl, w >= 1 && h >= 1, "--imgsz must be positive, got " + (values.length > 1 ? w + " " + h : String.valueOf(w)));
        // one image [3, h, w] is one tensor, indexed with ints
        require(cl, 3L * w * h <= Integer.MAX_VALUE, "--imgsz " + w + " " + h + " is too large: an image of 3x" + h + "x" + w
                + " values is over the " + Integer.MAX_VALUE + " a tensor can index");
        return new int[] {w, h};
    }

    /** How many times the option {@code name} was given on the command line (as "NAME ..." or "NAME=..."). */
    static int timesGiven(CommandLine.ParseResult pr, String name) {
        int n = 0;
        for (String a : pr.originalArgs()) {
            if (a.equals("--")) break;
            if (a.equals(name) || a.startsWith(name + "=")) n++;
        }
        return n;
    }

    /** {@code --device}: auto, cpu or cuda (any case), as {@link dinoseg.backend.Backends#create} takes. */
    static void device(CommandLine cl, String device) {
        String d = device == null ? "auto" : device.toLowerCase(Locale.ROOT);
        require(cl, d.equals("auto") || d.equals("cpu") || d.equals("cuda"),
                "--device: '" + device + "' is not one of auto, cpu, cuda");
    }

    /**
     * {@code --backbone}: a preset name, or a JSON file. An unknown name is a usage error; a file is
     * read, and what is wrong with it is a run-time error naming the file (exit status 1).
     */
    static BackboneConfig backbone(CommandLine cl, String spec) {
        boolean file = spec != null && !spec.isBlank() && (spec.toLowerCase(Locale.ROOT).endsWith(".json") || Files.exists(Path.of(spec)));
        if (file && Files.isDirectory(Path.of(spec)))
            throw new IllegalArgumentException(spec + ": is a directory, not a JSON backbone config");
        return file ? BackboneConfig.parse(spec) : check(cl, () -> BackboneConfig.parse(spec));
    }
}
