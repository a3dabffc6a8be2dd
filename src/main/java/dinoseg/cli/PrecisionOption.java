package dinoseg.cli;

import java.io.PrintWriter;

import dinoseg.backend.Backend;
import dinoseg.backend.Precision;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/**
 * The {@code --precision} flag of train, eval, infer, infer-video and bench (a picocli mixin): the
 * arithmetic of matrix products and, with bf16, attention ({@link Backend#matmulPrecision()}).
 */
final class PrecisionOption {
    @Option(names = "--precision", paramLabel = "fp32|tf32|bf16", defaultValue = "fp32",
            description = "Operands of matrix products (linear layers, convolutions; with bf16 also attention): fp32, or tf32/bf16 "
                    + "with fp32 accumulation, as PyTorch's allow_tf32 / autocast(bfloat16); tensor cores on CUDA, rounded operands on "
                    + "the CPU (slower there than fp32); weights, optimizer state and checkpoints stay fp32 (default: ${DEFAULT-VALUE}).")
    String value;

    /** The flag's precision; an unknown value is a usage error (exit 2) naming the flag and the choices. */
    Precision parse(CommandLine cl) {
        return Flags.check(cl, () -> {
            try {
                return Precision.parse(value);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--" + e.getMessage());
            }
        });
    }

    /** Sets p on be and, when it is not fp32, says so on err. */
    static void apply(Precision p, Backend be, PrintWriter err) {
        be.setMatmulPrecision(p);
        if (p != Precision.FP32) err.println("precision: " + p.flag() + " matmuls" + (p == Precision.BF16 ? " and attention" : ""));
    }
}
