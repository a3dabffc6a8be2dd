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
}
