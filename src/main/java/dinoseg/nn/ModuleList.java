package dinoseg.nn;

import dinoseg.backend.Backend;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** An indexed list of child modules named "0", "1", ... like PyTorch's nn.ModuleList. */
public final class ModuleList<M extends Module> extends Module {
    private final List<M> items = new ArrayList<>();

    public ModuleList(Backend be) { super(be); }

    public M add(M m) {
        child(Integer.toString(items.size()), m);
        items.add(m);
        return m;
    }

    public M get(int i) { return items.get(i); }

    public int size() { return items.size(); }

    public List<M> items() { return Collections.unmodifiableList(items); }
}
