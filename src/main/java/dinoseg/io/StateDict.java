package dinoseg.io;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Named tensors in file order plus string metadata (safetensors' {@code __metadata__}; training
 * stores its configuration there).
 */
public record StateDict(Map<String, HostTensor> tensors, Map<String, String> metadata) {
    public StateDict {
        tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
        metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    }

    public StateDict(Map<String, HostTensor> tensors) { this(tensors, Map.of()); }

    public HostTensor get(String name) { return tensors.get(name); }
}
