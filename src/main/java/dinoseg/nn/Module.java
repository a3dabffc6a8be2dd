package dinoseg.nn;

import dinoseg.backend.Backend;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A tree of named parameters and child modules whose dotted names are the PyTorch state-dict keys
 * ({@code blocks.3.attn.qkv.weight}), so loading weights is a lookup.
 */
public abstract class Module {
    protected final Backend be;
    private final Map<String, Parameter> params = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();
    private boolean training = true;

    protected Module(Backend be) { this.be = be; }

    public Backend backend() { return be; }

    protected Parameter param(String name, Parameter p) {
        if (params.put(name, p) != null || children.containsKey(name))
            throw new IllegalStateException("duplicate name " + name + " in " + getClass().getSimpleName());
        return p;
    }

    protected <M extends Module> M child(String name, M m) {
        if (children.put(name, m) != null || params.containsKey(name))
            throw new IllegalStateException("duplicate name " + name + " in " + getClass().getSimpleName());
        return m;
    }

    /** Direct children in registration order. */
    public Map<String, Module> children() { return Collections.unmodifiableMap(children); }

    /** Direct parameters (and buffers) in registration order. */
    public Map<String, Parameter> localParameters() { return Collections.unmodifiableMap(params); }

    /** Every parameter and buffer below this module, by dotted state-dict name, in registration order. */
    public Map<String, Parameter> namedParameters() {
        Map<String, Parameter> out = new LinkedHashMap<>();
        collect("", out);
        return out;
    }

    private void collect(String prefix, Map<String, Parameter> out) {
        for (var e : params.entrySet()) out.put(prefix + e.getKey(), e.getValue());
        for (var e : children.entrySet()) e.getValue().collect(prefix + e.getKey() + ".", out);
    }

    /** Number of elements in parameters (not buffers); only trainable ones when asked. */
    public long parameterCount(boolean trainableOnly) {
        long n = 0;
        for (Parameter p : namedParameters().values()) {
            if (p.isBuffer()) continue;
            if (trainableOnly && !p.requiresGrad()) continue;
            n += p.value().numel();
        }
        return n;
    }

    /** Freezes or unfreezes every parameter below this module (buffers stay frozen). */
    public void setRequiresGrad(boolean r) {
        for (Parameter p : namedParameters().values()) if (!p.isBuffer()) p.setRequiresGrad(r);
    }

    /** Training or evaluation mode (BatchNorm), for this module and all below. */
    public void train(boolean on) {
        training = on;
        for (Module m : children.values()) m.train(on);
    }

    public boolean isTraining() { return training; }

    /** Drops every gradient below this module. */
    public void zeroGrad() {
        for (Parameter p : namedParameters().values()) p.zeroGrad();
    }
}
