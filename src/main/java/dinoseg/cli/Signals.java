package dinoseg.cli;

import dinoseg.io.Stop;
import sun.misc.Signal;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

/**
 * SIGINT and SIGTERM in the JVM that runs a command (the relaunched child, or the only JVM when
 * there is no relaunch), and the control channel from the launching JVM.
 *
 * <ul>
 *   <li>A command that stops cleanly at safe points ({@code train}, {@code eval}, {@code infer},
 *       {@code infer-video}) calls {@link #cooperate()}: the first signal then sets
 *       {@link Stop#process()} and prints one line; the job finishes its step, image or frame, leaves
 *       its files whole and exits with 128 + the signal's number (130, 143). Any other command exits
 *       at once with that status, as the JVM's own handler would.</li>
 *   <li>A second signal stops at once ({@link Runtime#halt}, same status): every output is written
 *       through a temporary file and a rename, so nothing half-written carries an output's name.</li>
 *   <li>With {@value #CONTROL}{@code =stdin} (set by {@link Relaunch} for its child) standard input is
 *       a pipe from the launcher: a line {@code stop NAME CODE} is a signal the launcher received and
 *       forwards, {@code now NAME CODE} its second one, and end of file means the launcher is gone
 *       (however it died, kill -9 included): this JVM then halts at once, so it never outlives it.</li>
 * </ul>
 *
 * A terminal's Ctrl-C or {@code timeout}'s process-group signal reaches both JVMs; the forwarded copy
 * of a first signal then only repeats the request, so one keypress never counts as two. {@code timeout}
 * also signals the command itself before its group, so a JVM can receive one SIGTERM twice in a row:
 * a repeat of the first signal within half a second is dropped, here and in the launcher.
 */
final class Signals {
    private Signals() { }

    /** Environment variable the launcher sets for its child: "stdin" makes stdin the control channel. */
    static final String CONTROL = "DINOSEG_CONTROL";
    /** Exit status when the launcher disappears (128 + SIGHUP's number: the controlling process hung up). */
    static final int ORPHANED = 129;

    private static volatile boolean cooperative;
    private static int direct;
    private static String firstName;
    private static long firstNanos;

    /** Installs the SIGINT/SIGTERM handlers and, when the launcher asked for it, the control channel. */
    static void install() {
        handle("INT", 130);
        handle("TERM", 143);
        if ("stdin".equals(System.getenv(CONTROL))) watchLauncher(System.in);
    }

    /** The running command polls {@link Stop#process()} and stops cleanly: a first signal asks it to. */
    static void cooperate() { cooperative = true; }

    private static void handle(String name, int code) {
        try {
            Signal.handle(new Signal(name), s -> onSignal(name, code, false, false, System.nanoTime()));
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            // ignored at startup (a background job's SIGINT) or taken by the VM: keep the default
        }
    }

    /**
     * One signal: received here ({@code forwarded} false) or passed on by the launcher; {@code now}
     * is the launcher's second signal.
     */
    static void onSignal(String name, int code, boolean forwarded, boolean now) {
        onSignal(name, code, forwarded, now, System.nanoTime());
    }

    /**
     * As above, received at {@code nanos} (System.nanoTime). A direct signal of the first one's name
     * within {@link Relaunch.Forwarder#SAME_EVENT_NANOS} of it is the same event delivered twice
     * ({@code timeout} signals the command and then its process group) and is dropped.
     */
    static void onSignal(String name, int code, boolean forwarded, boolean now, long nanos) {
        Stop stop = Stop.process();
        boolean hard, first;
        synchronized (Signals.class) {
            if (!forwarded) {
                if (direct > 0 && name.equals(firstName) && nanos - firstNanos < Relaunch.Forwarder.SAME_EVENT_NANOS) return;
                if (direct == 0) { firstName = name; firstNanos = nanos; }
                direct++;
            }
            hard = now || (!forwarded && direct > 1);
            if (!hard && forwarded && stop.requested()) return; // the same signal seen twice (process group + forwarding)
            first = !hard && cooperative && stop.request(name, code);
        }
        // outside the lock: a second signal must get through while the first one's exit runs
        int status = stop.requested() ? stop.exitCode() : code;
        if (hard) {
            System.err.println();
            System.err.println("SIG" + name + " again: stopping now");
            System.err.flush();
            Runtime.getRuntime().halt(status);
        } else if (!cooperative) {
            System.exit(status); // a command without safe points: what the JVM's own handler does
        } else if (first) {
            System.err.println();
            System.err.println("SIG" + name + ": stopping at the next safe point (a training step, an image, a frame); "
                    + "send it again to stop at once");
            System.err.flush();
        }
    }

    /** Reads the launcher's control lines from {@code in} on a daemon thread; end of file halts this JVM. */
    static Thread watchLauncher(InputStream in) {
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII))) {
                String line;
                while ((line = r.readLine()) != null) {
                    String[] f = line.trim().split(" ");
                    if (f.length != 3 || !(f[0].equals("stop") || f[0].equals("now"))) continue;
                    int code;
                    try {
                        code = Integer.parseInt(f[2]);
                    } catch (NumberFormatException e) {
                        continue;
                    }
                    onSignal(f[1], code, true, f[0].equals("now"));
                }
            } catch (IOException e) {
                // the pipe broke: the launcher is gone just the same
            }
            launcherGone();
        }, "dinoseg-launcher-watch");
        t.setDaemon(true);
        t.start();
        return t;
    }

    private static void launcherGone() {
        System.err.println("dinoseg: the launching process is gone; stopping");
        System.err.flush();
        Runtime.getRuntime().halt(ORPHANED);
    }
}
