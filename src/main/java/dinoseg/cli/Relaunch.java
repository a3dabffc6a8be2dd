package dinoseg.cli;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.module.ModuleFinder;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Reruns the CLI in a child JVM that has the {@code jdk.incubator.vector} module, which the CPU
 * backend's fast GEMM kernel needs. {@code java -jar dinoseg.jar} cannot add a module from the
 * jar's manifest, so {@link Main#main} calls {@link #runInVectorJvm} first: when the module is
 * missing from this JVM but the runtime has it, and {@value #NO_RELAUNCH} is unset, the same
 * command (same JVM options, class path and arguments) runs in
 * {@code <java.home>/bin/java --add-modules jdk.incubator.vector ...} with this process's stdout,
 * and this JVM exits with the child's status. The child never outlives this JVM and gets the
 * signals it receives: its stdin is a control pipe from here ({@link Forwarder}, {@link Signals}). The child's one startup line
 * "WARNING: Using incubator modules: jdk.incubator.vector" is dropped from its stderr; everything
 * else passes through. If the child cannot be started the command runs here on the scalar kernel.
 */
final class Relaunch {
    private Relaunch() { }

    /** Environment variable that disables the relaunch (set for the child, so it never recurses). */
    static final String NO_RELAUNCH = "DINOSEG_NO_RELAUNCH";
    static final String VECTOR_MODULE = "jdk.incubator.vector";
    /** The line the JVM prints to stderr when an incubator module is resolved. */
    static final String INCUBATOR_WARNING = "WARNING: Using incubator modules: " + VECTOR_MODULE;

    /** Whether this JVM should hand the command to a child JVM with the vector module. */
    static boolean wanted() {
        if (System.getenv(NO_RELAUNCH) != null) return false;
        if (ModuleLayer.boot().findModule(VECTOR_MODULE).isPresent()) return false;
        if (ModuleFinder.ofSystem().find(VECTOR_MODULE).isEmpty()) return false; // e.g. a jlink runtime without it
        return new File(javaExecutable(System.getProperty("java.home"))).canExecute();
    }

    static String javaExecutable(String javaHome) {
        boolean windows = System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).startsWith("windows");
        return javaHome + File.separator + "bin" + File.separator + (windows ? "java.exe" : "java");
    }

    /**
     * The child's command line: the java launcher of {@code javaHome}, the vector module, this JVM's
     * own options ({@code jvmOptions}, as RuntimeMXBean reports them, minus any class path option,
     * which {@code classPath} replaces), then {@code mainClass} and the program arguments.
     */
    static List<String> command(String javaHome, List<String> jvmOptions, String classPath, String mainClass, String[] args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(javaExecutable(javaHome));
        cmd.add("--add-modules");
        cmd.add(VECTOR_MODULE);
        for (int i = 0; i < jvmOptions.size(); i++) {
            String o = jvmOptions.get(i);
            if (o.equals("-cp") || o.equals("-classpath") || o.equals("--class-path")) { i++; continue; }
            if (o.startsWith("-Djava.class.path=") || o.startsWith("--class-path=")) continue;
            cmd.add(o);
        }
        cmd.add("-cp");
        cmd.add(classPath);
        cmd.add(mainClass);
        cmd.addAll(Arrays.asList(args));
        return cmd;
    }

    /**
     * Runs the command in a child JVM with the vector module and returns its exit status, or -1
     * when no relaunch is wanted or the child could not be started (the caller then runs in-process).
     */
    static int runInVectorJvm(String[] args) {
        if (!wanted()) return -1;
        List<String> jvmOptions;
        try {
            jvmOptions = ManagementFactory.getRuntimeMXBean().getInputArguments();
        } catch (LinkageError | RuntimeException e) {
            return -1; // a runtime without java.management: stay in this JVM
        }
        List<String> cmd = command(System.getProperty("java.home"), jvmOptions,
                System.getProperty("java.class.path"), Main.class.getName(), args);
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .redirectInput(ProcessBuilder.Redirect.PIPE) // the control channel (see Signals); no command reads stdin
                .redirectOutput(ProcessBuilder.Redirect.INHERIT)
                .redirectError(ProcessBuilder.Redirect.PIPE);
        pb.environment().put(NO_RELAUNCH, "1");
        pb.environment().put(Signals.CONTROL, "stdin");
        Process child;
        try {
            child = pb.start();
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        Forwarder fwd = new Forwarder(child);
        fwd.install();
        Runtime.getRuntime().addShutdownHook(new Thread(fwd::stopAndWait, "dinoseg-relaunch-stop"));
        Thread err = new Thread(() -> copyDroppingWarning(child.getErrorStream(), System.err), "dinoseg-relaunch-stderr");
        err.setDaemon(true);
        err.start();
        try {
            int code = child.waitFor();
            err.join(2000);
            System.err.flush();
            return code;
        } catch (InterruptedException e) {
            child.destroy();
            Thread.currentThread().interrupt();
            return 130;
        }
    }

    /**
     * The launcher's side of the control channel: SIGINT and SIGTERM received here are passed on to
     * the child as lines on its stdin ({@code stop NAME CODE} for the first, {@code now NAME CODE}
     * after), and this JVM keeps waiting for the child, whose status it then exits with. The pipe's
     * end of file, when this JVM dies however it dies, stops the child (see {@link Signals}).
     */
    static final class Forwarder {
        /**
         * A signal of the same name this soon after the first is the same event delivered twice:
         * coreutils {@code timeout} signals the command and then its whole process group, so the
         * launcher receives one SIGTERM twice; a person's second Ctrl-C comes later than this.
         */
        static final long SAME_EVENT_NANOS = 500_000_000L;

        private final OutputStream control;
        private final Process child;
        private int received;
        private String firstName;
        private long firstNanos;

        Forwarder(Process child) {
            this(child, child.getOutputStream());
        }

        Forwarder(Process child, OutputStream control) {
            this.child = child;
            this.control = control;
        }

        void install() {
            handle("INT", 130);
            handle("TERM", 143);
        }

        private void handle(String name, int code) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(name), s -> forward(name, code, System.nanoTime()));
            } catch (IllegalArgumentException | UnsupportedOperationException e) {
                // ignored at startup (a background job's SIGINT) or taken by the VM: the default stays
            }
        }

        /** Passes one signal on; returns whether the child could be told. */
        synchronized boolean forward(String name, int code) {
            return forward(name, code, System.nanoTime());
        }

        /** As above, the signal received at {@code nanos} (System.nanoTime); a repeat of the first within {@link #SAME_EVENT_NANOS} is dropped. */
        synchronized boolean forward(String name, int code, long nanos) {
            if (received > 0 && name.equals(firstName) && nanos - firstNanos < SAME_EVENT_NANOS) return true;
            if (received == 0) { firstName = name; firstNanos = nanos; }
            String line = (received++ == 0 ? "stop " : "now ") + name + " " + code + "\n";
            try {
                control.write(line.getBytes(StandardCharsets.US_ASCII));
                control.flush();
                return true;
            } catch (IOException e) {
                return false; // the child has already gone
            }
        }

        /** Shutdown hook (an exit not through a handled signal, e.g. SIGHUP): the child stops cleanly, then this JVM. */
        void stopAndWait() {
            if (!child.isAlive()) return;
            boolean told;
            synchronized (this) {
                told = received > 0 || forward("TERM", 143);
            }
            if (!told) child.destroy();
            try {
                child.waitFor();
            } catch (InterruptedException e) {
                child.destroyForcibly();
            }
        }
    }

    /**
     * Copies {@code in} to {@code out} byte for byte (progress lines with carriage returns stay
     * intact), except a first line equal to {@link #INCUBATOR_WARNING}.
     */
    static void copyDroppingWarning(InputStream in, OutputStream out) {
        try {
            byte[] warning = (INCUBATOR_WARNING).getBytes(StandardCharsets.UTF_8);
            java.io.ByteArrayOutputStream first = new java.io.ByteArrayOutputStream();
            int b;
            // the first line, as long as it can still be the warning
            while ((b = in.read()) >= 0) {
                if (b == '\n') {
                    byte[] line = first.toByteArray();
                    int len = line.length > 0 && line[line.length - 1] == '\r' ? line.length - 1 : line.length;
                    if (!Arrays.equals(Arrays.copyOf(line, len), warning)) {
                        out.write(line);
                        out.write('\n');
                    }
                    first = null;
                    break;
                }
                first.write(b);
                if (first.size() > warning.length + 1) {
                    out.write(first.toByteArray());
                    first = null;
                    break;
                }
            }
            if (first != null) out.write(first.toByteArray()); // stream ended inside the first line
            out.flush();
            byte[] buf = new byte[8192];
            int n;
            while ((n = in.read(buf)) >= 0) {
                out.write(buf, 0, n);
                out.flush();
            }
        } catch (IOException e) {
            // the child's stderr closed or ours did: nothing more to pass on
        }
    }
}
