package dinoseg.backend.cuda;

import java.util.ArrayList;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/** Builds the parameter array of one cuLaunchKernel call, in the order of the kernel's signature. */
final class KernelArgs {
    private final ArrayList<Pointer> params = new ArrayList<>(20);

    KernelArgs ptr(CUdeviceptr p) { params.add(Pointer.to(p == null ? new CUdeviceptr() : p)); return this; }

    KernelArgs i(int v) { params.add(Pointer.to(new int[]{v})); return this; }

    KernelArgs l(long v) { params.add(Pointer.to(new long[]{v})); return this; }

    KernelArgs f(float v) { params.add(Pointer.to(new float[]{v})); return this; }

    /** A {@code DsDims} struct passed by value (see {@link Dims#pack}). */
    KernelArgs dims(long[] packed) { params.add(Pointer.to(packed)); return this; }

    Pointer build() { return Pointer.to(params.toArray(new Pointer[0])); }
}
