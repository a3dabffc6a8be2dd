#!/usr/bin/python3
"""Golden numbers for dinoseg.backend.Precision.BF16 from PyTorch.

`round`: float32 values (ties at half a bf16 unit included, both parities, negatives, tiny and huge ones)
and torch's `x.bfloat16().float()` of each. `matmul`: A [13, 40] @ B [40, 11] under
`torch.autocast("cpu", dtype=torch.bfloat16)` (bf16 operands, fp32 accumulation, a bf16 result).
Writes src/test/resources/golden/bf16.json. Run with /usr/bin/python3 (Debian's python3-torch).
"""
import json
import math
import os
import struct

import torch


def det(shape, phase, scale=1.0):
    """Deterministic float32 values that do not depend on any RNG."""
    n = 1
    for d in shape:
        n *= d
    vals = [scale * math.sin(1.3 * i + phase) * (1.0 + 3.0 * (i % 7 == 0)) for i in range(n)]
    return torch.tensor(vals, dtype=torch.float32).reshape(shape)


def f32(bits):
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def main():
    ties = [1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8, -(1.0 + 2.0 ** -8), 3.0 + 2.0 ** -7, 1.0 + 2.0 ** -8 + 2.0 ** -20]
    special = [0.0, -0.0, 1e-40, -3.4e38, 3.3e38, f32(0x3F808000), f32(0x3F818000), f32(0x7F7FFFFF)]
    xs = ties + special + det([40], 0.7, 5.0).tolist()
    x = torch.tensor(xs, dtype=torch.float32)
    rounded = x.bfloat16().float()
    a, b = det([13, 40], 0.3), det([40, 11], 1.1, 2.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = a @ b
    assert out.dtype == torch.bfloat16, out.dtype
    doc = {
        "torch": torch.__version__,
        "round": {"x": [float(v) for v in x.tolist()], "bf16": [float(v) for v in rounded.tolist()]},
        "matmul": {"m": 13, "n": 11, "k": 40, "a": [float(v) for v in a.reshape(-1).tolist()],
                   "b": [float(v) for v in b.reshape(-1).tolist()], "autocast_bf16": [float(v) for v in out.float().reshape(-1).tolist()]},
    }
    path = os.path.join(os.path.dirname(__file__), "..", "src", "test", "resources", "golden", "bf16.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
