package dinoseg.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class RelaunchTest {
    private static final String JAVA = File.separator + "jdk" + File.separator + "bin" + File.separator + "java";

    @Test void commandAddsTheModuleKeepsJvmOptionsAndArguments() {
        List<String> cmd = Relaunch.command(File.separator + "jdk", List.of("-Xmx8g", "-Dfoo=a b", "-XX:+UseG1GC"),
                "target/dinoseg.jar", "dinoseg.cli.Main", new String[] {"summary", "--backbone", "small"});
        assertEquals(List.of(JAVA, "--add-modules", "jdk.incubator.vector", "-Xmx8g", "-Dfoo=a b", "-XX:+UseG1GC",
                "-cp", "target/dinoseg.jar", "dinoseg.cli.Main", "summary", "--backbone", "small"), cmd);
    }

    @Test void classPathOptionsOfTheParentAreReplaced() {
        List<String> cmd = Relaunch.command(File.separator + "jdk", List.of("-cp", "old", "-Djava.class.path=x", "-ea",
                "--class-path=y", "-classpath", "z"), "a.jar:b.jar", "M", new String[0]);
        assertEquals(List.of(JAVA, "--add-modules", "jdk.incubator.vector", "-ea", "-cp", "a.jar:b.jar", "M"), cmd);
    }

    @Test void notWantedInAJvmThatHasTheModule() {
        // Maven runs the tests with --add-modules jdk.incubator.vector
        assertTrue(ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent());
        assertFalse(Relaunch.wanted());
        assertEquals(-1, Relaunch.runInVectorJvm(new String[] {"--version"}));
    }

    private static String filter(String in) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Relaunch.copyDroppingWarning(new ByteArrayInputStream(in.getBytes(StandardCharsets.UTF_8)), out);
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test void stderrFilterDropsOnlyTheIncubatorWarning() {
        assertEquals("epoch 1\r epoch 2\nerror: x\n",
                filter("WARNING: Using incubator modules: jdk.incubator.vector\nepoch 1\r epoch 2\nerror: x\n"));
        assertEquals("epoch 1\n", filter("WARNING: Using incubator modules: jdk.incubator.vector\r\nepoch 1\n"));
        assertEquals("other: line\nWARNING: Using incubator modules: jdk.incubator.vector\n",
                filter("other: line\nWARNING: Using incubator modules: jdk.incubator.vector\n"));
        assertEquals("a much longer first line than the warning is, passed through as it comes\nrest",
                filter("a much longer first line than the warning is, passed through as it comes\nrest"));
        assertEquals("partial", filter("partial"));
        assertEquals("", filter(""));
    }

    /**
     * coreutils timeout signals the launcher and then its process group, so the launcher sees one
     * SIGTERM twice in a row: the repeat must not be forwarded as the "stop now" of a second signal.
     */
    @Test void aRepeatWithinHalfASecondIsTheSameSignal() {
        ByteArrayOutputStream control = new ByteArrayOutputStream();
        Relaunch.Forwarder f = new Relaunch.Forwarder(null, control);
        long t0 = 1_000_000_000L;
        assertTrue(f.forward("TERM", 143, t0));
        assertTrue(f.forward("TERM", 143, t0 + 50_000_000L));          // the process group's copy
        assertEquals("stop TERM 143\n", control.toString(StandardCharsets.US_ASCII));
        assertTrue(f.forward("TERM", 143, t0 + Relaunch.Forwarder.SAME_EVENT_NANOS + 1));   // a real second signal
        assertEquals("stop TERM 143\nnow TERM 143\n", control.toString(StandardCharsets.US_ASCII));
        ByteArrayOutputStream c2 = new ByteArrayOutputStream();
        Relaunch.Forwarder g = new Relaunch.Forwarder(null, c2);
        g.forward("INT", 130, t0);
        g.forward("TERM", 143, t0 + 1);                                // another signal is another event
        assertEquals("stop INT 130\nnow TERM 143\n", c2.toString(StandardCharsets.US_ASCII));
    }
}
