package dinoseg.train;

import java.util.Arrays;
import java.util.Locale;

/**
 * Learning-rate factor per optimisation step: an optional linear warmup, then none (constant),
 * multistep (x gamma at each milestone epoch), poly (power 0.9, to 0 at the last step) or cosine
 * (to 0 at the last step). The factor multiplies each parameter group's base lr.
 */
public final class LrSchedule {
    public enum Kind { NONE, MULTISTEP, POLY, COSINE;
        public static Kind parse(String s) {
            try { return valueOf(s.toUpperCase(Locale.ROOT)); }
            catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown scheduler '" + s + "' (use none, multistep, poly or cosine)");
            }
        }
    }

    private final Kind kind;
    private final int stepsPerEpoch, totalSteps, warmupSteps;
    private final int[] milestones;
    private final double gamma;

    /**
     * @param milestones epochs at which multistep multiplies by gamma (ignored otherwise)
     * @param warmupEpochs epochs of linear warmup from 0 (may be fractional through steps)
     */
    public LrSchedule(Kind kind, int epochs, int stepsPerEpoch, int[] milestones, double gamma, double warmupEpochs) {
        if (epochs < 1 || stepsPerEpoch < 1) throw new IllegalArgumentException("scheduler needs epochs >= 1 and steps per epoch >= 1");
        this.kind = kind;
        this.stepsPerEpoch = stepsPerEpoch;
        this.totalSteps = epochs * stepsPerEpoch;
        this.milestones = milestones == null ? new int[0] : milestones.clone();
        Arrays.sort(this.milestones);
        this.gamma = gamma;
        this.warmupSteps = (int) Math.round(warmupEpochs * stepsPerEpoch);
    }

    /** Factor for optimisation step {@code step} (0-based, counted over the whole run). */
    public double factor(long step) {
        double f;
        switch (kind) {
            case MULTISTEP: {
                long epoch = step / stepsPerEpoch;
                f = 1;
                for (int m : milestones) if (epoch >= m) f *= gamma;
                break;
            }
            case POLY:
                f = Math.pow(Math.max(0, 1 - (double) step / totalSteps), 0.9);
                break;
            case COSINE:
                f = 0.5 * (1 + Math.cos(Math.PI * Math.min(1.0, (double) step / totalSteps)));
                break;
            default:
                f = 1;
        }
        if (warmupSteps > 0 && step < warmupSteps) f *= (step + 1.0) / warmupSteps;
        return f;
    }

    public Kind kind() { return kind; }
}
