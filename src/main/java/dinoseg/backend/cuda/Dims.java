package dinoseg.backend.cuda;

import java.util.ArrayList;
import java.util.List;

import dinoseg.tensor.Shape;

/**
 * Index-space descriptors for the broadcasting, reduction and permutation kernels: a list of
 * dims with the other operand's stride along each, simplified by dropping size-1 dims and merging
 * neighbours that are contiguous in the strided operand, then packed as the kernels' {@code DsDims}
 * struct (rank, dims[6], stride[6], all 64-bit).
 */
final class Dims {
    static final int MAX_RANK = 6;

    private Dims() { }

    /** Drops size-1 dims and merges (i, i+1) when stride[i] == stride[i+1] * dims[i+1]. Returns {dims, strides}. */
    static long[][] collapse(long[] dims, long[] strides) {
        List<long[]> out = new ArrayList<>();
        for (int i = 0; i < dims.length; i++) {
            if (dims[i] == 1) continue;
            if (!out.isEmpty()) {
                long[] last = out.get(out.size() - 1);
                if (last[1] == strides[i] * dims[i]) {
                    last[0] *= dims[i];
                    last[1] = strides[i];
                    continue;
                }
            }
            out.add(new long[]{dims[i], strides[i]});
        }
        long[][] r = new long[2][out.size()];
        for (int i = 0; i < out.size(); i++) { r[0][i] = out.get(i)[0]; r[1][i] = out.get(i)[1]; }
        return r;
    }

    /** Packs collapsed dims for a kernel; fails for more than {@link #MAX_RANK} dims. */
    static long[] pack(String op, long[][] ds) {
        int rank = ds[0].length;
        if (rank > MAX_RANK)
            throw new IllegalArgumentException(op + ": layout needs " + rank + " dims after simplification, the CUDA kernels support " + MAX_RANK);
        long[] p = new long[1 + 2 * MAX_RANK];
        p[0] = rank;
        for (int i = 0; i < MAX_RANK; i++) {
            p[1 + i] = i < rank ? ds[0][i] : 1;
            p[1 + MAX_RANK + i] = i < rank ? ds[1][i] : 0;
        }
        return p;
    }

    /** Strides of b right-aligned against a's dims, 0 where b is broadcast (size 1 or missing). */
    static long[] broadcastStrides(int[] aDims, int[] bDims) {
        long[] s = new long[aDims.length];
        int off = aDims.length - bDims.length;
        long acc = 1;
        for (int i = bDims.length - 1; i >= 0; i--) {
            s[off + i] = bDims[i] == 1 ? 0 : acc;
            acc *= bDims[i];
        }
        return s;
    }

    /** Descriptor for add/mul: a's dims with b's broadcast strides. */
    static long[] broadcast(String op, Shape a, Shape b) {
        return pack(op, collapse(toLong(a.dims()), broadcastStrides(a.dims(), b.dims())));
    }

    /**
     * Descriptors for sumTo: {kept, reduced}. Output element o and reduced index r read x at
     * offset(kept, o) + offset(reduced, r); out's layout is row-major over the kept dims.
     */
    static long[][] sumTo(String op, Shape x, Shape out) {
        int[] xd = x.dims(), od = out.dims();
        int off = xd.length - od.length;
        long[] xs = x.strides();
        int rank = xd.length;
        long[] keptD = new long[rank], redD = new long[rank];
        for (int i = 0; i < rank; i++) {
            int o = i < off ? 1 : od[i - off];
            boolean reduced = o == 1 && xd[i] != 1;
            keptD[i] = reduced ? 1 : xd[i];
            redD[i] = reduced ? xd[i] : 1;
        }
        return new long[][]{pack(op, collapse(keptD, xs)), pack(op, collapse(redD, xs))};
    }

    /** Descriptor for permute: out's dims with x's strides along the permuted dims. */
    static long[] permute(String op, Shape x, int[] perm) {
        long[] xs = x.strides();
        long[] dims = new long[perm.length], strides = new long[perm.length];
        for (int i = 0; i < perm.length; i++) {
            dims[i] = x.dim(perm[i]);
            strides[i] = xs[perm[i]];
        }
        return pack(op, collapse(dims, strides));
    }

    /** What the kernels' ds_offset computes (for tests). */
    static long offset(long[] packed, long i) {
        long off = 0;
        for (int k = (int) packed[0] - 1; k >= 0; k--) {
            long dim = packed[1 + k];
            off += (i % dim) * packed[1 + MAX_RANK + k];
            i /= dim;
        }
        return off;
    }

    static long[] toLong(int[] d) {
        long[] r = new long[d.length];
        for (int i = 0; i < d.length; i++) r[i] = d[i];
        return r;
    }
}
