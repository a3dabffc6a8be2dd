"""Minimal safetensors writer/reader for the tools (the `safetensors` package is not installed).

Format: 8-byte little-endian header length, UTF-8 JSON header
{"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}},
then the raw little-endian bytes. Only float32 is written.
"""
import json
import os
import struct
import tempfile

import numpy as np
import torch


def write(path, tensors, metadata=None):
    """tensors: ordered dict name -> torch tensor (converted to contiguous float32). Atomic write."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        a = t.detach().to(torch.float32).contiguous().cpu().numpy().astype("<f4")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".st.", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read(path):
    """Returns (ordered dict name -> float32 torch tensor, metadata)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b, en = e["data_offsets"]
        assert e["dtype"] == "F32", e["dtype"]
        out[name] = torch.from_numpy(np.frombuffer(data[b:en], dtype="<f4").copy()).reshape(e["shape"])
    return out, meta
