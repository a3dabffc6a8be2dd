package dinoseg.tensor;

/** Element types a tensor can hold: float32 values, int32 label maps and indices. */
public enum DType {
    F32(4), I32(4);

    private final int bytes;

    DType(int bytes) { this.bytes = bytes; }

    /** Bytes per element. */
    public int bytes() { return bytes; }
}
