#!/usr/bin/python3
"""Convert a DINOv2 PyTorch checkpoint (.pth / .pt / pytorch_model.bin) to safetensors with the
official DINOv2 backbone names, float32. Run with /usr/bin/python3 (needs PyTorch):

    /usr/bin/python3 tools/convert_pth.py dinov2_vits14_pretrain.pth weights/dinov2_vits14.safetensors

Accepts the official hub checkpoints (plain state dicts), training checkpoints that wrap the state
dict ({"model": ...}, {"teacher": ...}, {"state_dict": ...}) with "backbone." / "module." prefixes
(only the backbone is kept), block-chunked names (blocks.<chunk>.<i>.*), and Hugging Face Dinov2
checkpoints (embeddings.*, encoder.layer.N.*; query/key/value are concatenated into attn.qkv).
The Java side loads .pth files directly too; this script is for people who prefer one format.
Tensors are loaded with weights_only=True where the installed PyTorch supports it (no code runs).
"""
import argparse
import inspect
import os
import re
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

WRAPPERS = ("model", "teacher", "state_dict", "model_state_dict", "module", "student")


def load(path):
    kwargs = {"map_location": "cpu"}
    if "weights_only" in inspect.signature(torch.load).parameters:
        kwargs["weights_only"] = True
    obj = torch.load(path, **kwargs)
    for _ in range(4):
        if isinstance(obj, dict) and not any(torch.is_tensor(v) for v in obj.values()):
            inner = next((obj[k] for k in WRAPPERS if isinstance(obj.get(k), dict)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, dict):
        raise SystemExit(f"{path}: no dict of tensors found")
    return OrderedDict((k, v) for k, v in obj.items() if torch.is_tensor(v))


def strip(sd, prefix):
    return OrderedDict((k[len(prefix):], v) for k, v in sd.items() if k.startswith(prefix))


HF_SIMPLE = {
    "embeddings.cls_token": "cls_token", "embeddings.position_embeddings": "pos_embed",
    "embeddings.register_tokens": "register_tokens", "embeddings.mask_token": "mask_token",
    "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
    "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
    "layernorm.weight": "norm.weight", "layernorm.bias": "norm.bias",
}
HF_BLOCK = {
    "attention.output.dense.": "attn.proj.", "layer_scale1.lambda1": "ls1.gamma", "layer_scale2.lambda1": "ls2.gamma",
    "mlp.weights_in.": "mlp.w12.", "mlp.weights_out.": "mlp.w3.",
}


def from_hf(sd):
    out, qkv = OrderedDict(), {}
    for k, v in sd.items():
        if k in HF_SIMPLE:
            name = HF_SIMPLE[k]
            out[name] = v.reshape(1, -1) if name == "mask_token" and v.dim() == 3 else v
            continue
        m = re.fullmatch(r"encoder\.layer\.(\d+)\.(.+)", k)
        if not m:
            out[k] = v
            continue
        i, rest = m.group(1), m.group(2)
        a = re.fullmatch(r"attention\.attention\.(query|key|value)\.(weight|bias)", rest)
        if a:
            qkv.setdefault((i, a.group(2)), {})[a.group(1)] = v
            out.setdefault(f"blocks.{i}.attn.qkv.{a.group(2)}", None)
            continue
        for src, dst in HF_BLOCK.items():
            if rest.startswith(src):
                rest = dst + rest[len(src):]
                break
        out[f"blocks.{i}.{rest}"] = v
    for (i, kind), parts in qkv.items():
        out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]], dim=0)
    return out


def to_official(sd):
    if sd and all(k.startswith("module.") for k in sd):
        sd = strip(sd, "module.")
    if any(k.startswith("backbone.") for k in sd):
        sd = strip(sd, "backbone.")
    if any(k.startswith("dinov2.embeddings.") for k in sd):
        sd = strip(sd, "dinov2.")
    if any(k.startswith(("embeddings.", "encoder.layer.")) for k in sd):
        sd = from_hf(sd)
    return OrderedDict((re.sub(r"^blocks\.\d+\.(\d+)\.", r"blocks.\1.", k), v) for k, v in sd.items())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", help="input .pth / .pt / .bin checkpoint")
    ap.add_argument("dst", help="output .safetensors")
    args = ap.parse_args()
    sd = to_official(load(args.src))
    if not sd:
        raise SystemExit(f"{args.src}: no backbone tensors found")
    st_io.write(args.dst, sd, {"source": os.path.basename(args.src), "format": "dinov2-official"})
    n = sum(v.numel() for v in sd.values())
    print(f"wrote {args.dst}: {len(sd)} tensors, {n:,} values")


if __name__ == "__main__":
    main()
