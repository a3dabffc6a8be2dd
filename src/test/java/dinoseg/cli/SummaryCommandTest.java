package dinoseg.cli;

import static dinoseg.cli.CliRun.run;

import dinoseg.cli.CliRun.Run;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.*;

/** {@code dinoseg summary}: the ViT-S/14 + linear head numbers from the issue, and other presets. */
class SummaryCommandTest {

    @Test void smallLinearAt644() {
        Run r = run("summary", "--backbone", "small", "--imgsz", "644", "644", "--classes", "21", "--head", "linear");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("Total params: 22,088,853"), r.out());
        assertTrue(r.out().contains("Head params: 32,277"), r.out());
        assertTrue(r.out().contains("Trainable params: 32,277"), r.out());
        assertTrue(r.out().contains("Head output: 21x46x46"), r.out());
        assertTrue(r.out().matches("(?s).*head\\.conv \\(Conv2d\\)\\s+\\[1, 1536, 46, 46\\]\\s+\\[1, 21, 46, 46\\]\\s+32,277\\s+True.*"), r.out());
        assertTrue(r.out().contains("backbone.blocks.11 (Block)"), r.out());
        assertEquals("", r.err());
    }

    /** --unfreeze-last 2 of ViT-S: the head, blocks 10 and 11 (1,775,232 each) and the final norm (768) train. */
    @Test void unfreezeLastCountsOnlyTheLastBlocksAsTrainable() {
        Run r = run("summary", "--unfreeze-last", "2");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("Trainable params: " + String.format("%,d", 32_277 + 2 * 1_775_232 + 768)), r.out());
        assertTrue(r.out().matches("(?s).*backbone\\.blocks\\.9 \\(Block\\)\\s+\\S.*1,775,232\\s+False.*"), r.out());
        assertTrue(r.out().matches("(?s).*backbone\\.blocks\\.10 \\(Block\\)\\s+\\S.*1,775,232\\s+True.*"), r.out());
        assertTrue(r.out().matches("(?s).*backbone\\.patch_embed \\(PatchEmbed\\).*False.*"), r.out());
        Run bad = run("summary", "--unfreeze-last", "13");
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("--unfreeze-last must be in 1..12"), bad.err());
    }

    @Test void otherPresetsHeadsAndRounding() {
        Run base = run("summary", "--backbone", "base_reg", "--imgsz", "640", "--classes", "2", "--head", "bn", "--fine-tune");
        assertEquals(0, base.code(), base.err());
        assertTrue(base.err().contains("rounded up to 644x644"), base.err());
        // ViT-B/14 with registers: 86,583,552 backbone parameters (86,580,480 for the plain ViT-B + 4 registers of 768)
        assertTrue(base.out().contains("Backbone params: 86,583,552"), base.out());
        // bn head over 4*768 channels: BatchNorm weight+bias (buffers not counted) + 1x1 conv to 2 classes
        assertTrue(base.out().contains("Head params: " + String.format("%,d", 2 * 3072 + 3072 * 2 + 2)), base.out());
        // fine-tuning trains everything but mask_token (pre-training only, never in the forward pass)
        assertTrue(base.out().contains("Non-trainable params: 768"), base.out());
        assertTrue(base.out().contains("Trainable params by group: head 12,290, backbone 86,582,784\n"), base.out());
        Run giant = run("summary", "--backbone", "giant", "--imgsz", "518", "--head", "conv");
        assertEquals(0, giant.code(), giant.err());
        assertTrue(giant.out().contains("Backbone params: 1,136,480,768"), giant.out());
        Run bad = run("summary", "--backbone", "huge");
        assertEquals(2, bad.code(), "an unknown preset is a bad flag value");
        assertTrue(bad.err().startsWith("error: unknown backbone 'huge'"), bad.err());
    }

    /** --lora-rank: the adapters are the backbone's trainable parameters, r·(in+out) per target per block. */
    @Test void loraRecipeCountsTheAdapters() {
        Run r = run("summary", "--backbone", "small", "--classes", "21", "--lora-rank", "8", "--lora-alpha", "16", "--lora-targets", "qkv,fc2");
        assertEquals(0, r.code(), r.err());
        long lora = 12L * 8 * ((384 + 3 * 384) + (4 * 384 + 384));
        assertTrue(r.out().contains("Trainable params: " + String.format("%,d", 32_277 + lora)), r.out());
        assertTrue(r.out().contains("Trainable params by group: head 32,277, lora " + String.format("%,d", lora)), r.out());
        assertTrue(r.out().contains("Total params: " + String.format("%,d", 22_088_853 + lora)), r.out());
        assertTrue(r.out().matches("(?s).*backbone\\.blocks\\.0 \\(Block \\+LoRA\\).*Partial.*"), r.out());
        assertTrue(r.out().matches("(?s).*backbone\\.patch_embed \\(PatchEmbed\\)[^\\n]*False.*"), r.out());
        Run plain = run("summary", "--backbone", "small");
        assertTrue(plain.out().contains("Trainable params by group: head 32,277\n"), plain.out());
        Run bad = run("summary", "--lora-alpha", "4");
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("--lora-alpha needs --lora-rank"), bad.err());
        Run swiglu = run("summary", "--backbone", "giant", "--lora-rank", "4", "--lora-targets", "fc1");
        assertEquals(2, swiglu.code());
        assertTrue(swiglu.err().contains("w12, w3"), swiglu.err());
    }

    /**
     * summary takes train's recipe flags: --layer-decay splits the fine-tuned backbone's groups per layer
     * (the same total), the others are checked and shown, and a recipe train would refuse is exit 2.
     */
    @Test
    void recipeFlagsAreCheckedAndLayerDecayShowsPerLayerGroups() {
        Run plain = run("summary", "--fine-tune");
        Run decayed = run("summary", "--fine-tune", "--layer-decay", "0.75", "--drop-path", "0.1", "--accum-steps", "4", "--clip-grad", "1");
        assertEquals(0, decayed.code(), decayed.err());
        String groups = decayed.out().lines().filter(l -> l.startsWith("Trainable params by group:")).findFirst().orElseThrow();
        assertTrue(groups.contains("backbone.blocks.0") && groups.contains("backbone.blocks.11") && groups.contains("backbone.embed")
                && groups.contains("backbone.norm"), groups);
        String total = "Trainable params: ";
        assertEquals(plain.out().lines().filter(l -> l.startsWith(total)).findFirst().orElseThrow(),
                decayed.out().lines().filter(l -> l.startsWith(total)).findFirst().orElseThrow());
        assertTrue(decayed.out().contains("Recipe (no effect on the counts): drop path 0.1, accum steps 4, clip grad 1.0"), decayed.out());
        Run frozen = run("summary", "--layer-decay", "0.75");
        assertEquals(CommandLine.ExitCode.USAGE, frozen.code(), frozen.err());
        assertTrue(frozen.err().contains("--layer-decay"), frozen.err());
        assertEquals(CommandLine.ExitCode.USAGE, run("summary", "--fine-tune", "--accum-steps", "0").code());
    }
}
