package dinoseg.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

/** A command group without its subcommand is a usage error: exit 2, one line naming the subcommands (README's rule for bad flags). */
class MissingSubcommandTest {
    @Test
    void groupsWithoutASubcommandExit2WithOneLine() {
        String[][] cases = {{}, {"lora"}, {"weights"}, {"data"}};
        String[] named = {"train", "merge", "download", "check"};
        for (int i = 0; i < cases.length; i++) {
            CliRun.Run r = CliRun.run(cases[i]);
            String what = "dinoseg " + String.join(" ", cases[i]);
            assertEquals(2, r.code(), what + ": " + r.err());
            List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
            assertEquals(1, lines.size(), what + ":\n" + r.err());
            assertTrue(lines.get(0).startsWith("error: a subcommand is required: ") && lines.get(0).contains(named[i]), lines.get(0));
        }
        assertEquals(0, CliRun.run("--help").code(), "--help still prints the usage and succeeds");
        assertEquals(0, CliRun.run("lora", "--help").code());
    }
}
