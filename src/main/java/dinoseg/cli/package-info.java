/**
 * The {@code dinoseg} command line (picocli): each command parses its flags, calls the library and prints
 * (progress and logs on stderr, results on stdout, machine-readable results as JSON). Bad flags print one
 * line and exit 2; run-time problems print one line (the stack trace with {@code --verbose}) and exit 1.
 * {@link dinoseg.cli.Main} relaunches the JVM once with {@code --add-modules jdk.incubator.vector}
 * ({@link dinoseg.cli.Relaunch}) so the CPU backend gets its Vector API kernels.
 *
 * <p>May use: every other package; nothing uses it.
 */
package dinoseg.cli;
