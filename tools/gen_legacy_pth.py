#!/usr/bin/env python3
"""Write golden/legacy.pth: the tensors of golden/wrapped_expected.safetensors in PyTorch's legacy
(pre-1.6, non-zip) torch.save format, with the Python standard library only (no torch needed).

The byte layout follows torch/serialization.py `_legacy_save` (PyTorch 1.13) exactly:
  pickle(MAGIC_NUMBER=0x1950a86a20f9469cfc6c), pickle(PROTOCOL_VERSION=1001),
  pickle(sys_info dict), pickle(object; storages as persistent ids
  ('storage', torch.<Type>Storage, key, 'cpu', numel, None), tensors as
  torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())),
  pickle(sorted storage keys), then per key: int64 little-endian element count + raw bytes.
All pickles use protocol 2 (torch's DEFAULT_PROTOCOL). `torch` and `torch._utils` are stand-in
modules here so that the pickler writes the same GLOBAL opcodes torch's own objects produce.

    python3 tools/gen_legacy_pth.py src/test/resources/golden
"""
import collections
import json
import os
import pickle
import struct
import sys
import types

MAGIC_NUMBER = 0x1950a86a20f9469cfc6c
PROTOCOL_VERSION = 1001

torch = types.ModuleType("torch")
utils = types.ModuleType("torch._utils")
torch._utils = utils
sys.modules["torch"], sys.modules["torch._utils"] = torch, utils


def _global(module, name, obj):
    obj.__module__, obj.__qualname__, obj.__name__ = module.__name__, name, name
    setattr(module, name, obj)
    return obj


FloatStorage = _global(torch, "FloatStorage", type("FloatStorage", (), {}))
HalfStorage = _global(torch, "HalfStorage", type("HalfStorage", (), {}))
BFloat16Storage = _global(torch, "BFloat16Storage", type("BFloat16Storage", (), {}))
_rebuild_tensor_v2 = _global(utils, "_rebuild_tensor_v2", lambda *a: None)


class Storage:
    def __init__(self, stype, key, values):
        self.stype, self.key, self.values = stype, key, values

    def raw(self):
        if self.stype is FloatStorage:
            return struct.pack("<%df" % len(self.values), *self.values)
        if self.stype is HalfStorage:
            return struct.pack("<%de" % len(self.values), *self.values)
        return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", v))[0])[2:] for v in self.values)


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce_ex__(self, proto):
        return (_rebuild_tensor_v2, self.args)


class LegacyPickler(pickle.Pickler):
    def __init__(self, f):
        super().__init__(f, protocol=2)
        self.storages = {}

    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            self.storages[obj.key] = obj
            return ("storage", obj.stype, obj.key, "cpu", len(obj.values), None)
        return None


def read_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = collections.OrderedDict()
    for k, v in h.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = (v["shape"], list(struct.unpack("<%df" % ((e - s) // 4), b[8 + n + s:8 + n + e])))
    return out


def main(folder):
    t = read_safetensors(os.path.join(folder, "wrapped_expected.safetensors"))
    (sa, a), (sb, b), (sc, c), (sd_, d), (se, e) = (t["backbone." + k] for k in "abcde")
    # a: contiguous float; b: half; c: [3,2], the transpose of a contiguous [2,3] storage (strides (1,3));
    # d: bfloat16; e: [3,2] view at offset 4 with strides (4,2) of a 6x4 float storage
    c_storage = [0.0] * 6
    for i in range(3):
        for j in range(2):
            c_storage[j * 3 + i] = c[i * 2 + j]                                # c[i][j] = storage[i*1 + j*3]
    e_storage = [float(-100 - i) for i in range(24)]
    for i in range(3):
        for j in range(2):
            e_storage[4 + 4 * i + 2 * j] = e[i * 2 + j]
    sd = collections.OrderedDict([
        ("backbone.a", Tensor(Storage(FloatStorage, "94000000000001", a), 0, sa, (3, 1))),
        ("backbone.b", Tensor(Storage(HalfStorage, "94000000000002", b), 0, sb, (1,))),
        ("backbone.c", Tensor(Storage(FloatStorage, "94000000000003", c_storage), 0, sc, (1, 3))),
        ("backbone.d", Tensor(Storage(BFloat16Storage, "94000000000004", d), 0, sd_, (1,))),
        ("backbone.e", Tensor(Storage(FloatStorage, "94000000000005", e_storage), 4, se, (4, 2))),
    ])
    path = os.path.join(folder, "legacy.pth")
    with open(path, "wb") as f:
        pickle.dump(MAGIC_NUMBER, f, protocol=2)
        pickle.dump(PROTOCOL_VERSION, f, protocol=2)
        pickle.dump(dict(protocol_version=PROTOCOL_VERSION, little_endian=True,
                         type_sizes=dict(short=2, int=4, long=8)), f, protocol=2)
        p = LegacyPickler(f)
        p.dump({"teacher": sd, "iteration": 3, "note": "legacy"})
        keys = sorted(p.storages)
        pickle.dump(keys, f, protocol=2)
        for k in keys:
            s = p.storages[k]
            f.write(struct.pack("<q", len(s.values)))
            f.write(s.raw())
    print(path, os.path.getsize(path))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "src/test/resources/golden")
