package dinoseg.model;

import dinoseg.backend.Backend;
import dinoseg.nn.Init;
import dinoseg.tensor.DType;
import dinoseg.tensor.Device;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Storage;
import dinoseg.tensor.Tensor;

import java.lang.reflect.Proxy;

/**
 * A backend whose tensors have shapes but no memory: enough to build a model and count its
 * parameters (the {@code summary} of a ViT-g needs no 4.5 GB). Allocation, upload and fill
 * work ({@link Init} draws no random numbers for it); every computing op throws
 * {@link UnsupportedOperationException}.
 */
public final class ShapeOnlyBackend {
    private ShapeOnlyBackend() { }

    private record NoStorage(long length, DType dtype) implements Storage {
        @Override public Device device() { return Device.CPU; }
        @Override public boolean isClosed() { return false; }
        @Override public void close() { }
    }

    public static Backend create() {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class}, (proxy, m, args) -> {
            switch (m.getName()) {
                case "name": return Init.SHAPE_ONLY;
                case "device": return Device.CPU;
                case "empty": case "zeros": {
                    Shape s = (Shape) args[0];
                    DType dt = args.length > 1 ? (DType) args[1] : DType.F32;
                    return new Tensor(new NoStorage(s.numel(), dt), s);
                }
                case "full": case "fromFloats": case "fromInts": {
                    Shape s = (Shape) args[m.getName().equals("full") ? 0 : 1];
                    DType dt = m.getName().equals("fromInts") ? DType.I32 : DType.F32;
                    return new Tensor(new NoStorage(s.numel(), dt), s);
                }
                case "fill": case "synchronize": case "close": return null;
                case "hashCode": return System.identityHashCode(proxy);
                case "equals": return proxy == args[0];
                case "toString": return "ShapeOnlyBackend";
                default: throw new UnsupportedOperationException("shape-only backend: " + m.getName() + " computes nothing");
            }
        });
    }
}
