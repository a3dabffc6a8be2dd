package dinoseg.cli;

import dinoseg.io.HostTensor;
import dinoseg.io.Safetensors;
import dinoseg.train.ResumeState;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The real command line in separate JVMs, stopped the ways users and supervisors stop it: kill -9
 * of the launcher (the relaunched child must follow within 2 s), SIGTERM to the launcher (forwarded:
 * a clean stop at a step with a state that resumes to the uninterrupted run's result), one signal
 * seen by both JVMs (a process group's Ctrl-C or {@code timeout}: one stop, not two), a second
 * signal (at once), and kill -9 at random moments of 20 runs (the state always loads).
 * Tiny model (32 wide, 2 blocks) on 56x56 demo images, batches of 2: four steps per epoch.
 */
class InterruptProcessTest {
    @TempDir static Path tmp;
    static Path data, backbone;
    private final List<Process> started = new ArrayList<>();
    /** The start of a training progress line (the first comes after step 1). */
    private static final String PROGRESS = "train      ";

    @BeforeAll
    static void setUp() throws Exception {
        data = tmp.resolve("data");
        dinoseg.data.DemoData.generate(data, 5, 8, 2);
        backbone = tmp.resolve("tiny.json");
        Files.writeString(backbone, "{\"embed_dim\": 32, \"depth\": 2, \"heads\": 2, \"pos_grid\": 4}");
    }

    @AfterEach
    void killLeftovers() {
        for (Process p : started) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
    }

    /** The training flags of every run here (the run folder and the number of epochs vary). */
    private static List<String> trainArgs(Path out, int epochs) {
        return trainArgs(out, epochs, backbone);
    }

    private static List<String> trainArgs(Path out, int epochs, Path backbone) {
        return List.of("train", "--data", data.toString(), "--backbone", backbone.toString(), "--fine-tune", "--head", "bn",
                "--scheduler", "cosine", "--augment", "tutorial", "--imgsz", "56", "--batch", "2", "--lr", "1e-3",
                "--epochs", String.valueOf(epochs), "--device", "cpu", "--workers", "1", "--out-dir", out.toString());
    }

    /**
     * Starts {@code java ... dinoseg.cli.Main args}: with {@code relaunch}, without the vector module,
     * so the CLI relaunches itself in a child JVM (as {@code java -jar} does); otherwise one JVM.
     */
    private Process cli(boolean relaunch, Map<String, String> env, Path stdout, Path stderr, List<String> args) throws IOException {
        return cli(relaunch ? List.of() : List.of("--add-modules", "jdk.incubator.vector"), relaunch, env, stdout, stderr, args);
    }

    /**
     * A JVM that starts on a fraction of the CPU time (C1 only, the scalar GEMM kernel), for runs whose
     * numbers do not matter, only their files.
     */
    private Process light(Path stdout, Path stderr, List<String> args) throws IOException {
        return cli(List.of("-XX:TieredStopAtLevel=1", "-Ddinoseg.gemm.scalar=true"), false, Map.of(), stdout, stderr, args);
    }

    private Process cli(List<String> jvm, boolean relaunch, Map<String, String> env, Path stdout, Path stderr, List<String> args)
            throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(jvm);
        cmd.addAll(List.of("-Xmx512m", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(stdout.toFile()).redirectError(stderr.toFile());
        pb.environment().remove(Relaunch.NO_RELAUNCH);
        pb.environment().remove(Signals.CONTROL);
        if (!relaunch) pb.environment().put(Relaunch.NO_RELAUNCH, "1");
        pb.environment().putAll(env);
        Process p = pb.start();
        started.add(p);
        return p;
    }

    /** Waits until {@code file} holds {@code text} (the process still running), at most {@code seconds}. */
    private static void await(Process p, Path file, String text, double seconds) throws Exception {
        long end = System.nanoTime() + (long) (seconds * 1e9);
        while (System.nanoTime() < end) {
            if (Files.exists(file) && Files.readString(file).contains(text)) return;
            if (!p.isAlive()) fail("the process ended (" + p.exitValue() + ") before writing '" + text + "': " + Files.readString(file));
            Thread.sleep(20);
        }
        fail("no '" + text + "' in " + file + " after " + seconds + " s");
    }

    /** Waits until {@code file} was written after {@code beforeMillis} (its modification time), the process still running. */
    private static void awaitRewrite(Process p, Path file, long beforeMillis, double seconds) throws Exception {
        long end = System.nanoTime() + (long) (seconds * 1e9);
        while (System.nanoTime() < end && p.isAlive()) {
            if (Files.exists(file) && Files.getLastModifiedTime(file).toMillis() != beforeMillis) return;
            Thread.sleep(5);
        }
        fail(file + " was not rewritten within " + seconds + " s" + (p.isAlive() ? "" : " (the process ended: " + p.exitValue() + ")"));
    }

    /** Waits (polling) until a hidden temporary of the state appears in {@code dir}: a write is under way. */
    private static void awaitTemporary(Process p, Path dir, double seconds) throws Exception {
        long end = System.nanoTime() + (long) (seconds * 1e9);
        String prefix = "." + ResumeState.FILE;
        while (System.nanoTime() < end && p.isAlive()) {
            try (Stream<Path> s = Files.list(dir)) {
                if (s.anyMatch(f -> f.getFileName().toString().startsWith(prefix))) return;
            }
            Thread.onSpinWait();
        }
        fail("no state write seen within " + seconds + " s");
    }

    /** Whether a process (not necessarily our child) has ended: gone, or a zombie no one reaped yet. */
    private static boolean ended(ProcessHandle h) {
        if (!h.isAlive()) return true;
        try {
            String stat = Files.readString(Path.of("/proc", String.valueOf(h.pid()), "stat"));
            char state = stat.charAt(stat.lastIndexOf(')') + 2);
            return state == 'Z' || state == 'X';
        } catch (IOException | RuntimeException e) {
            return !h.isAlive();
        }
    }

    /** Runs a command in this JVM; returns its exit code. */
    private static int inProcess(List<String> args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args.toArray(new String[0]));
        assertEquals(0, code, err.toString());
        return code;
    }

    private static void assertSameRun(Path a, Path b) throws Exception {
        List<String> s = Files.readAllLines(a.resolve("metrics.csv")), t = Files.readAllLines(b.resolve("metrics.csv"));
        assertEquals(s.size(), t.size());
        for (int i = 0; i < s.size(); i++) // all but the seconds column
            assertEquals(s.get(i).substring(0, s.get(i).lastIndexOf(',')), t.get(i).substring(0, t.get(i).lastIndexOf(',')));
        Map<String, HostTensor> fa = Safetensors.read(a.resolve("final_model.safetensors")).tensors();
        Map<String, HostTensor> fb = Safetensors.read(b.resolve("final_model.safetensors")).tensors();
        for (var e : fa.entrySet()) assertArrayEquals(e.getValue().data(), fb.get(e.getKey()).data(), 0f, e.getKey());
    }

    @Test
    void theRelaunchedChildExitsWithinTwoSecondsOfItsLauncherBeingKilled() throws Exception {
        Path run = tmp.resolve("orphan"), out = tmp.resolve("orphan.out"), err = tmp.resolve("orphan.err");
        Process launcher = cli(true, Map.of(), out, err, trainArgs(run, 1000));
        await(launcher, out, "Epoch 1/1000", 180);
        Optional<ProcessHandle> child = launcher.toHandle().children().findFirst();
        assertTrue(child.isPresent(), "the CLI should have relaunched itself in a child JVM");
        assertTrue(child.get().info().arguments().map(a -> String.join(" ", a).contains("jdk.incubator.vector")).orElse(true));
        Thread.sleep(300); // inside the training loop
        launcher.destroyForcibly(); // SIGKILL: no handler, no shutdown hook runs in the launcher
        long t0 = System.nanoTime();
        launcher.waitFor();
        while (!ended(child.get()) && System.nanoTime() - t0 < 10_000_000_000L) Thread.sleep(5);
        double seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf(Locale.ROOT, "InterruptProcessTest: the child JVM exited %.3f s after kill -9 of its launcher%n", seconds);
        // 2 s is the promise; the margin is for a loaded test machine (the child halts on the control pipe's end of file)
        assertTrue(seconds <= 2.0 + 2.0, "the child outlived its killed launcher by " + seconds + " s");
        assertTrue(ended(child.get()));
    }

    @Test
    void sigtermToTheLauncherStopsTheChildAtAStepWithAStateThatResumesToTheUninterruptedResult() throws Exception {
        Path run = tmp.resolve("term"), out = tmp.resolve("term.out"), err = tmp.resolve("term.err");
        Process launcher = cli(true, Map.of(), out, err, trainArgs(run, 2));
        await(launcher, err, PROGRESS, 180); // the first progress line: training has started
        launcher.destroy(); // SIGTERM to the launcher only; it forwards it
        assertEquals(143, launcher.waitFor(), Files.readString(err));
        String e = Files.readString(err);
        assertTrue(e.contains("SIGTERM: stopping at the next safe point"), e);
        List<String> stopped = e.lines().filter(l -> l.startsWith("stopped by SIGTERM")).toList();
        assertEquals(1, stopped.size(), e);
        assertTrue(stopped.get(0).endsWith("; resume with: java -jar target/dinoseg.jar train --resume " + run), stopped.get(0));
        assertFalse(e.contains("stopping now"), e);
        ResumeState st = ResumeState.read(run);
        assertTrue(st.epoch() < 2);

        // resumed here, it ends exactly where an uninterrupted run ends
        inProcess(List.of("train", "--resume", run.toString()));
        Path straight = tmp.resolve("term_straight");
        inProcess(trainArgs(straight, 2));
        assertSameRun(straight, run);
    }

    @Test
    void oneSignalToBothJvmsStopsOnceAndTheLaunchersSecondStopsAtOnce() throws Exception {
        // a terminal's Ctrl-C or timeout's signal reaches the whole process group: the child gets it directly and forwarded
        Path run = tmp.resolve("group"), out = tmp.resolve("group.out"), err = tmp.resolve("group.err");
        Process launcher = cli(true, Map.of(), out, err, trainArgs(run, 1000));
        await(launcher, err, PROGRESS, 180);
        ProcessHandle child = launcher.toHandle().children().findFirst().orElseThrow();
        child.destroy();
        launcher.destroy();
        assertEquals(143, launcher.waitFor(), Files.readString(err));
        String e = Files.readString(err);
        assertEquals(1, e.lines().filter(l -> l.startsWith("stopped by SIGTERM")).count(), e);
        assertFalse(e.contains("stopping now"), "one signal seen twice is not a second signal:\n" + e);
        ResumeState.read(run);

        // the launcher's second signal is forwarded as "now": the child stops at once, without reaching a step boundary
        Path run2 = tmp.resolve("twice"), out2 = tmp.resolve("twice.out"), err2 = tmp.resolve("twice.err");
        Process direct = cli(false, Map.of(Signals.CONTROL, "stdin"), out2, err2, trainArgs(run2, 1000));
        await(direct, err2, PROGRESS, 180);
        OutputStream control = direct.getOutputStream(); // this test plays the launcher
        control.write("stop TERM 143\nnow TERM 143\n".getBytes(StandardCharsets.US_ASCII));
        control.flush();
        assertEquals(143, direct.waitFor());
        String e2 = Files.readString(err2);
        assertTrue(e2.contains("SIGTERM again: stopping now"), e2);
        assertFalse(e2.contains("stopped by SIGTERM"), "no step boundary reached:\n" + e2);
    }

    @Test
    void killNineAtRandomMomentsOfTwentyRunsNeverLeavesAStateThatFailsToLoad() throws Exception {
        // One run folder continued 20 times (fresh until a state exists, then --resume), each JVM killed with
        // SIGKILL at a random moment: the first 4 anywhere in their first 3 s (startup, loading the state);
        // the others once they rewrite the state after every step: half within 0.5 s, half as soon as a
        // state write's temporary file appears (inside the write: the case atomic writes exist for).
        // Each time, every checkpoint in the folder must load. (20 JVMs: the kill is the end of a process.)
        long seed = System.nanoTime();
        Random rnd = new Random(seed);
        Path run = tmp.resolve("kill9");
        int withState = 0, changed = 0, midWrite = 0;
        long lastModified = -1;
        for (int i = 0; i < 20; i++) {
            Path out = tmp.resolve("kill9_" + i + ".out"), err = tmp.resolve("kill9_" + i + ".err");
            List<String> args = new ArrayList<>(Files.exists(run.resolve(ResumeState.FILE))
                    ? List.of("train", "--resume", run.toString()) : trainArgs(run, 1000));
            args.addAll(List.of("--save-every-min", "1e-9"));
            long before = Files.exists(run.resolve(ResumeState.FILE)) ? Files.getLastModifiedTime(run.resolve(ResumeState.FILE)).toMillis() : -1;
            Process p = light(out, err, args);
            if (i >= 4) {
                await(p, err, PROGRESS, 180);
                awaitRewrite(p, run.resolve(ResumeState.FILE), before, 60); // in the write-after-every-step cycle now
            }
            if (i >= 4 && i % 2 == 0) awaitTemporary(p, run, 30); // a state write under way: kill inside it
            else Thread.sleep(rnd.nextInt(i >= 4 ? 500 : 3000));
            p.destroyForcibly();
            p.waitFor();
            String where = "run " + i + " (seed " + seed + "): ";
            assertEquals(137, p.exitValue(), where + "ended by itself: " + Files.readString(err)); // 128 + SIGKILL
            if (!Files.isDirectory(run)) continue; // killed before the run folder existed
            List<Path> files;
            try (Stream<Path> s = Files.list(run)) {
                files = s.toList();
            }
            for (Path f : files) {
                String n = f.getFileName().toString();
                if (n.endsWith(".safetensors")) assertDoesNotThrow(() -> Safetensors.read(f), where + f + " does not load");
                if (n.startsWith("." + ResumeState.FILE) && n.endsWith(".tmp")) {
                    midWrite++; // killed while writing the state: the temporary is left, the state itself is whole
                    Files.delete(f);
                }
            }
            Path state = run.resolve(ResumeState.FILE);
            if (Files.exists(state)) {
                withState++;
                ResumeState st = assertDoesNotThrow(() -> ResumeState.read(state), where + "the state does not load");
                assertTrue(st.epoch() >= 0 && st.globalStep() >= 0);
                if (Files.getLastModifiedTime(state).toMillis() != lastModified) changed++;
                lastModified = Files.getLastModifiedTime(state).toMillis();
            }
        }
        System.out.printf(Locale.ROOT, "InterruptProcessTest: 20 kill -9 runs: a state existed after %d, was rewritten by %d, "
                + "and %d kills landed inside a state write%n", withState, changed, midWrite);
        assertTrue(withState >= 5, "too few runs got far enough to write a state (" + withState + ")");
        // the folder still trains on: to the end of the epoch after the state's, in this JVM
        Files.writeString(run.resolve(".metrics.csv.123.tmp"), "a killed run's temporary file");
        int next = ResumeState.read(run).epoch() + 1;
        inProcess(List.of("train", "--resume", run.toString(), "--epochs", String.valueOf(next)));
        try (Stream<Path> files = Files.list(run)) {
            assertEquals(List.of(), files.map(f -> f.getFileName().toString()).filter(n -> n.endsWith(".tmp")).toList(),
                    "a resumed run clears the temporaries of killed ones");
        }
        assertTrue(Files.exists(run.resolve("final_model.safetensors")));
        assertEquals(next, ResumeState.read(run).epoch());
        assertNull(ResumeState.read(run).partial());
    }
}
