package dinoseg.checkpoint;

import dinoseg.backend.Backend;
import dinoseg.io.HostTensor;
import dinoseg.io.Untrusted;
import dinoseg.nn.Module;
import dinoseg.nn.Parameter;
import dinoseg.tensor.DType;
import dinoseg.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Moves state dicts between files and modules. Loading is strict: every parameter and buffer of
 * the module must be present with its exact shape and nothing else may be there; otherwise one
 * error lists the missing, unexpected and wrongly shaped names.
 *
 * <p>File conventions: a backbone-only file holds the official backbone names without prefix
 * ({@code cls_token}, {@code blocks.0.attn.qkv.weight}, ...); a full segmentation model file holds
 * {@code backbone.*} and {@code head.*}. Renaming ({@link dinoseg.io.WeightNames}) works on the host
 * maps alone; this class is where they meet a {@link Module}.
 */
public final class StateDicts {
    private StateDicts() { }

    /** The module's parameters and buffers copied to host memory, in registration order. */
    public static Map<String, HostTensor> of(Module m) {
        Backend be = m.backend();
        Map<String, HostTensor> out = new LinkedHashMap<>();
        for (var e : m.namedParameters().entrySet()) {
            Parameter p = e.getValue();
            if (p.value().dtype() != DType.F32) continue;
            out.put(e.getKey(), new HostTensor(p.shape(), be.toFloats(p.value())));
        }
        return out;
    }

    /**
     * {@link #of} with every LoRA adapter folded into its base weight, as PEFT's {@code merge_and_unload}:
     * W' = W + scaling · B · A (W [out, in], A [r, in], B [out, r]); the {@code lora_A.*} and
     * {@code lora_B.*} entries are left out, so the result loads into a model without adapters.
     */
    public static Map<String, HostTensor> merged(Module m) {
        Map<String, HostTensor> out = of(m);
        for (var e : dinoseg.model.Lora.adapted(m).entrySet()) {
            String path = e.getKey();
            HostTensor a = out.remove(path + ".lora_A.weight"), b = out.remove(path + ".lora_B.weight");
            out.put(path + ".weight", mergeLora(out.get(path + ".weight"), a, b, e.getValue().loraScaling(), path));
        }
        return out;
    }

    /**
     * W + scaling · B · A in double-precision sums, rounded once to float.
     *
     * @param w [out, in]; a [r, in]; b [out, r]
     * @throws IllegalArgumentException naming {@code what} when the shapes do not fit together
     */
    public static HostTensor mergeLora(HostTensor w, HostTensor a, HostTensor b, double scaling, String what) {
        if (w == null || a == null || b == null) throw new IllegalArgumentException(what + ": LoRA merge needs the weight, lora_A and lora_B");
        if (w.shape().rank() != 2 || a.shape().rank() != 2 || b.shape().rank() != 2)
            throw new IllegalArgumentException(what + ": LoRA merge needs 2-D tensors, got weight " + w.shape() + ", lora_A " + a.shape() + ", lora_B " + b.shape());
        int out = w.shape().dim(0), in = w.shape().dim(1), r = a.shape().dim(0);
        if (a.shape().dim(1) != in || b.shape().dim(0) != out || b.shape().dim(1) != r)
            throw new IllegalArgumentException(what + ": LoRA shapes do not fit the weight " + w.shape() + ": lora_A " + a.shape() + " (want [r, " + in + "]), lora_B " + b.shape() + " (want [" + out + ", r])");
        float[] wd = w.data(), ad = a.data(), bd = b.data(), res = new float[wd.length];
        double[] row = new double[in];
        for (int o = 0; o < out; o++) {
            java.util.Arrays.fill(row, 0);
            for (int k = 0; k < r; k++) {
                double bk = bd[o * r + k];
                if (bk == 0) continue;
                for (int i = 0; i < in; i++) row[i] += bk * ad[k * in + i];
            }
            for (int i = 0; i < in; i++) res[o * in + i] = (float) (wd[o * in + i] + scaling * row[i]);
        }
        return new HostTensor(w.shape(), res);
    }

    /** What a strict load would complain about. */
    public record Mismatch(List<String> missing, List<String> unexpected, List<String> wrongShape) {
        public boolean ok() { return missing.isEmpty() && unexpected.isEmpty() && wrongShape.isEmpty(); }

        /** One line: counts and (up to 8 of) the names in each group. */
        public String describe() {
            List<String> parts = new ArrayList<>();
            if (!missing.isEmpty()) parts.add(missing.size() + " missing (" + head(missing) + ")");
            if (!unexpected.isEmpty()) parts.add(unexpected.size() + " unexpected (" + head(unexpected) + ")");
            if (!wrongShape.isEmpty()) parts.add(wrongShape.size() + " wrongly shaped (" + head(wrongShape) + ")");
            return String.join("; ", parts);
        }

        private static String head(List<String> l) {
            int n = Math.min(8, l.size());
            List<String> shown = new ArrayList<>();
            for (String x : l.subList(0, n)) shown.add(Untrusted.text(x, 160)); // names come from the file
            String s = String.join(", ", shown);
            return l.size() > n ? s + ", ... " + (l.size() - n) + " more" : s;
        }
    }

    public static Mismatch compare(Module m, Map<String, HostTensor> sd) {
        Map<String, Parameter> params = m.namedParameters();
        List<String> missing = new ArrayList<>(), unexpected = new ArrayList<>(), wrong = new ArrayList<>();
        for (var e : params.entrySet()) {
            HostTensor t = sd.get(e.getKey());
            if (t == null) missing.add(e.getKey());
            else if (!t.shape().equals(e.getValue().shape()))
                wrong.add(e.getKey() + " " + t.shape() + " in file, " + e.getValue().shape() + " in model");
        }
        for (String k : sd.keySet()) if (!params.containsKey(k)) unexpected.add(k);
        return new Mismatch(missing, unexpected, wrong);
    }

    /**
     * Loads strictly: throws {@link IllegalArgumentException} "{@code source}: weights do not match
     * the model: ..." listing every problem, and changes nothing in that case.
     */
    public static void loadStrict(Module m, Map<String, HostTensor> sd, String source) {
        Mismatch mm = compare(m, sd);
        if (!mm.ok()) throw new IllegalArgumentException(source + ": weights do not match the model: " + mm.describe());
        Backend be = m.backend();
        for (var e : m.namedParameters().entrySet()) {
            HostTensor t = sd.get(e.getKey());
            Tensor old = e.getValue().value();
            e.getValue().setValue(be.fromFloats(t.data(), t.shape()));
            old.close();   // the initial values: device memory back now, not when the garbage collector finds them
        }
    }
}
