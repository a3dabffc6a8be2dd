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

    /**
     * The flag's precision; PyTorch's dtype names bfloat16 and float32 (any case) stand for bf16 and
     * fp32. An unknown value is a usage error (exit 2) naming the flag and the choices; fp16/half
     * (float16, which dinoseg does not implement) is told that bf16 is the 16-bit choice.
     */
    Precision parse(CommandLine cl) {
        String v = value == null ? "" : value.strip().toLowerCase(java.util.Locale.ROOT);
        if (v.equals("fp16") || v.equals("half") || v.equals("float16") || v.equals("16"))
            throw new CommandLine.ParameterException(cl, "--precision '" + value + "' is not one of fp32, tf32, bf16 (float16 is not "
                    + "implemented; bf16, as autocast(dtype=torch.bfloat16), is the 16-bit choice)");
        String alias = v.equals("bfloat16") ? "bf16" : v.equals("float32") ? "fp32" : value;
        return Flags.check(cl, () -> {
            try {
                return Precision.parse(alias);
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
