package dinoseg.io;

/**
 * A request to stop a long-running job at its next safe point (a training step, an image, a video
 * frame, an evaluation batch), as a signal handler raises it. The job polls {@link #requested()} at
 * those points and, when it is set, finishes what it must (a training run writes its resume state,
 * a video deletes its unfinished temporary file) and throws {@link Stopped}, which the command line
 * turns into one line on stderr and the conventional exit status of the signal (128 + its number:
 * 130 for SIGINT, 143 for SIGTERM).
 *
 * <p>The library never installs signal handlers: {@link #process()} is the process-wide instance the
 * CLI's handlers set; a test (or an embedding program) may hand its own instance to a job. The first
 * request wins; later ones do not change the signal or the status.
 */
public final class Stop {
    private static final Stop PROCESS = new Stop();

    /** The process-wide request, set by the CLI's SIGINT/SIGTERM handlers. */
    public static Stop process() { return PROCESS; }

    private volatile String signal;
    private volatile int exitCode;

    /**
     * Asks the job to stop.
     *
     * @param signal   the signal's name without "SIG" (INT, TERM), for messages
     * @param exitCode the status the process should end with (128 + the signal's number)
     * @return whether this was the first request
     */
    public synchronized boolean request(String signal, int exitCode) {
        if (this.signal != null) return false;
        this.exitCode = exitCode;
        this.signal = signal;
        return true;
    }

    public boolean requested() { return signal != null; }

    /** The signal's name (INT, TERM), or null when no stop was requested. */
    public String signal() { return signal; }

    /** The exit status asked for (130, 143), or 0 when no stop was requested. */
    public int exitCode() { return signal == null ? 0 : exitCode; }

    /** The exception that ends a stopped job; {@code message} says where it stopped and what it left. */
    public Stopped stopped(String message) {
        return new Stopped("stopped by SIG" + signal + " " + message, exitCode());
    }

    /** A job ended early on request; the message is one line for the user, the exit code the signal's. */
    public static final class Stopped extends RuntimeException {
        private final int exitCode;

        public Stopped(String message, int exitCode) {
            super(message, null, false, false);
            this.exitCode = exitCode;
        }

        public int exitCode() { return exitCode; }
    }
}
