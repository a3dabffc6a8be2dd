package dinoseg.tensor;

/**
 * Where a tensor's storage lives: the CPU, a CUDA device, or {@code meta} — PyTorch's name for
 * tensors that have a shape and a dtype but no values (model summaries and memory estimates).
 */
public record Device(Kind kind, int index) {
    public enum Kind { CPU, CUDA, META }

    public static final Device CPU = new Device(Kind.CPU, 0);

    /** Tensors with shapes and no values: nothing is computed on them. */
    public static final Device META = new Device(Kind.META, 0);

    public static Device cuda(int index) { return new Device(Kind.CUDA, index); }

    public boolean isCuda() { return kind == Kind.CUDA; }

    /** True for {@link #META}: its tensors hold no values, so there is nothing to compute or initialise. */
    public boolean isMeta() { return kind == Kind.META; }

    @Override public String toString() {
        return switch (kind) {
            case CPU -> "cpu";
            case CUDA -> "cuda:" + index;
            case META -> "meta";
        };
    }
}
