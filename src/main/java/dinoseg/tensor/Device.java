package dinoseg.tensor;

/** Where a tensor's storage lives. */
public record Device(Kind kind, int index) {
    public enum Kind { CPU, CUDA }

    public static final Device CPU = new Device(Kind.CPU, 0);

    public static Device cuda(int index) { return new Device(Kind.CUDA, index); }

    public boolean isCuda() { return kind == Kind.CUDA; }

    @Override public String toString() { return kind == Kind.CPU ? "cpu" : "cuda:" + index; }
}
