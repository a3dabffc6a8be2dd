package dinoseg.backend;

import dinoseg.backend.cpu.CpuBackend;

/** Chooses a backend by name: "cpu", "cuda" or "auto" (CUDA when a GPU and the kernels load, else CPU). */
public final class Backends {
    private Backends() { }

    private static volatile CpuBackend cpu;

    /** The process-wide CPU backend (one shared thread pool). */
    public static CpuBackend cpu() {
        CpuBackend c = cpu;
        if (c == null) {
            synchronized (Backends.class) {
                if (cpu == null) cpu = new CpuBackend();
                c = cpu;
            }
        }
        return c;
    }

    /** Thrown when a requested backend cannot be used; the message is one line saying what is missing. */
    public static final class UnavailableException extends RuntimeException {
        public UnavailableException(String message) { super(message); }
    }

    /**
     * Creates the backend for {@code --device}. {@code log} receives one line saying which backend
     * was chosen and why.
     */
    public static Backend create(String device, java.util.function.Consumer<String> log) {
        String d = device == null ? "auto" : device.toLowerCase(java.util.Locale.ROOT);
        switch (d) {
            case "cpu":
                log.accept("device: cpu (" + Runtime.getRuntime().availableProcessors() + " threads, gemm: " + cpu().gemmKernel() + ")");
                return cpu();
            case "cuda":
                return loadCuda();
            case "auto":
                try {
                    Backend b = loadCuda();
                    log.accept("device: " + b.name());
                    return b;
                } catch (UnavailableException e) {
                    log.accept("device: cpu (CUDA not used: " + e.getMessage() + "; gemm: " + cpu().gemmKernel() + ")");
                    return cpu();
                }
            default:
                throw new UnavailableException("unknown device '" + device + "' (use auto, cpu or cuda)");
        }
    }

    private static Backend loadCuda() {
        try {
            Class<?> c = Class.forName("dinoseg.backend.cuda.CudaBackend");
            return (Backend) c.getMethod("open").invoke(null);
        } catch (ClassNotFoundException e) {
            throw new UnavailableException("this build has no CUDA backend");
        } catch (java.lang.reflect.InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof UnavailableException u) throw u;
            throw new UnavailableException("CUDA initialisation failed: " + cause);
        } catch (ReflectiveOperationException | LinkageError e) {
            throw new UnavailableException("CUDA backend could not be loaded: " + e);
        }
    }
}
