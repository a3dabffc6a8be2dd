package dinoseg.cli;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.checkpoint.LoraFiles;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code dinoseg lora}: LoRA adapter files (train --lora-rank writes them). */
@Command(name = "lora", mixinStandardHelpOptions = true,
        description = "LoRA adapters: train --lora-rank R writes them to <run>/lora.safetensors (names blocks.N.attn.qkv.lora_A.weight, as PEFT without base_model.model.).",
        subcommands = {LoraCommand.Merge.class})
public final class LoraCommand implements Runnable {
    @Spec CommandSpec spec;

    @Override public void run() { throw Main.missingSubcommand(spec.commandLine()); }

    /** {@code dinoseg lora merge --checkpoint C --lora L --out O}. */
    @Command(name = "merge", mixinStandardHelpOptions = true,
            description = "Fold LoRA adapters into a model checkpoint: W + (alpha/r)·B·A for every adapted layer, written as a plain checkpoint that infer and eval load.")
    public static final class Merge implements Callable<Integer> {
        @Spec CommandSpec spec;

        @Option(names = "--checkpoint", required = true, paramLabel = "FILE", description = "The base model checkpoint (dinoseg train's output).")
        Path checkpoint;

        @Option(names = "--lora", required = true, paramLabel = "FILE", description = "The adapter file (lora.safetensors of a LoRA run).")
        Path lora;

        @Option(names = "--out", required = true, paramLabel = "FILE", description = "Where to write the merged checkpoint (.safetensors).")
        Path out;

        @Override public Integer call() throws IOException {
            CommandLine cl = spec.commandLine();
            OutputChecks.outputFile(cl, "--out", out);
            OutputChecks.notTheInput(cl, "--checkpoint", checkpoint, "--out", out);
            OutputChecks.notTheInput(cl, "--lora", lora, "--out", out);
            if (!Files.isRegularFile(lora)) throw new java.nio.file.NoSuchFileException(lora.toString());
            Path parent = out.toAbsolutePath().getParent();
            if (parent != null) Files.createDirectories(parent);
            Backend be = Backends.cpu();   // the process-wide one: not closed here
            LoraFiles.mergeCheckpoint(checkpoint, lora, out, be);
            cl.getOut().println("merged " + lora + " into " + checkpoint + " -> " + out);
            return 0;
        }
    }
}
