#!/usr/bin/python3
"""Golden fixtures for the Java model tests, from our PyTorch statement of DINOv2 (dinov2_ref.py).
Run with /usr/bin/python3 (Debian's python3-torch) from the repository root:

    /usr/bin/python3 tools/gen_model_golden.py

Writes under src/test/resources/golden/ (each file well under 1 MB):
  model_plain.safetensors   36-dim, 3-block, 3-head plain ViT (GELU MLP, no registers): weights
                            (prefix "backbone."), the linear and bn heads ("head_linear.",
                            "head_bn." over blocks 0-2), a batch of 2 random images 56x70 (grid 4x5:
                            shrinks the 37x37 position grid, non-square), the normed intermediate
                            layers (reshaped) and class tokens, block 1's raw tokens, head logits at
                            the grid and upsampled to 20x30.
  model_plain_conv.safetensors
                            the conv head ("head_conv.", over block 2 only, to stay small) and its logits.
  model_reg.safetensors, model_reg_conv.safetensors
                            the same for a 4-register SwiGLU model on 2 images 42x84 (grid 3x6).
  model_plain_keep.safetensors / model_plain_grow.safetensors
                            the plain model on one 518x518 image (grid 37x37: interpolation
                            skipped) and one 546x532 image (grid 39x38: grows); the images come
                            from a closed-form formula (see image()), only the last layer is stored.
  pos_interp.safetensors    a random [1, 1+37*37, 4] pos_embed and its interpolation to many grids
                            for the plain (scale_factor with the 0.1 offset) and register
                            (size + antialias) rules.
  hf_reg.safetensors        the register model's backbone under Hugging Face Dinov2 names.
  plain.pth                 the plain model's backbone saved with torch.save (official names).
  wrapped.pth / wrapped_expected.safetensors
                            a checkpoint {"teacher": {"backbone.*": ...}} with float32, float16,
                            bfloat16 and non-contiguous tensors, and the float32 values it holds.
  wrapped_converted.safetensors
                            wrapped.pth as tools/convert_pth.py converts it (official names).
Weights are random and non-trivial: LayerScale, norms and BatchNorm statistics are perturbed.
"""
import math
import os
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dinov2_ref as ref  # noqa: E402
import st_io  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "test", "resources", "golden")
K = 5
LABEL = (20, 30)


def randomize(model, gen):
    """Every parameter random: weights ~ N(0, 0.2), norm/LayerScale gains around 1 and 0.5."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.copy_(0.5 + 0.3 * torch.randn(p.shape, generator=gen))
            elif ("norm" in name or name.startswith("bn.")) and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias") or "norm" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.3 * torch.randn(b.shape, generator=gen))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=gen))


def state(module, prefix):
    return OrderedDict((prefix + k, v) for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked"))


def image(b, h, w):
    """The closed-form test image the Java test rebuilds: sin(0.05*y*(c+1) + 0.03*x + 0.7*b) * 1.5."""
    bb = torch.arange(b, dtype=torch.float64).reshape(b, 1, 1, 1)
    c = torch.arange(3, dtype=torch.float64).reshape(1, 3, 1, 1)
    y = torch.arange(h, dtype=torch.float64).reshape(1, 1, h, 1)
    x = torch.arange(w, dtype=torch.float64).reshape(1, 1, 1, w)
    return (torch.sin(0.05 * y * (c + 1) + 0.03 * x + 0.7 * bb) * 1.5).to(torch.float32)


def model_case(name, cfg, seed, batch, h, w):
    gen = torch.Generator().manual_seed(seed)
    bb = ref.DinoVisionTransformer(**cfg).eval()
    randomize(bb, gen)
    layers = [0, 1, 2]
    tensors = state(bb, "backbone.")
    x = torch.randn(batch, 3, h, w, generator=gen)
    tensors["input.pixel_values"] = x
    with torch.no_grad():
        outs = bb.get_intermediate_layers(x, n=layers, reshape=True, return_class_token=True, norm=True)
        for i, (f, c) in zip(layers, outs):
            tensors[f"out.layer.{i}"] = f
            tensors[f"out.cls.{i}"] = c
        raw = bb.get_intermediate_layers(x, n=[1], reshape=False, norm=False)
        tensors["out.raw.1"] = raw[0]
        conv = OrderedDict()
        for kind, cls in ref.HEADS.items():
            # the conv head's 3x3 conv to 256 is large: it reads one layer and gets its own file
            head_layers = [2] if kind == "conv" else layers
            head = cls(len(head_layers) * cfg["dim"], K).eval()
            randomize(head, gen)
            dst = conv if kind == "conv" else tensors
            dst.update(state(head, f"head_{kind}."))
            grid, up = ref.segment(bb, head, x, head_layers, LABEL)
            dst[f"out.grid.{kind}"] = grid
            dst[f"out.logits.{kind}"] = up
    meta = {"config": str(cfg), "layers": "0,1,2", "classes": str(K), "label": f"{LABEL[0]},{LABEL[1]}"}
    st_io.write(os.path.join(OUT, f"model_{name}.safetensors"), tensors, meta)
    st_io.write(os.path.join(OUT, f"model_{name}_conv.safetensors"), conv, dict(meta, layers="2"))
    return bb


def big_case(bb, name, h, w):
    x = image(1, h, w)
    with torch.no_grad():
        (f,) = bb.get_intermediate_layers(x, n=[2], reshape=True, norm=True)
    st_io.write(os.path.join(OUT, f"model_plain_{name}.safetensors"), OrderedDict([("out.layer.2", f)]),
                {"size": f"{h},{w}"})


GRIDS = [(5, 7), (37, 20), (46, 46), (1, 1), (80, 3), (12, 61), (37, 37), (40, 36), (2, 80), (36, 38), (18, 18)]


def pos_case():
    gen = torch.Generator().manual_seed(7)
    t = OrderedDict()
    pos = torch.randn(1, 1 + 37 * 37, 4, generator=gen)
    t["pos_embed"] = pos
    for regs, tag in [(0, "plain"), (4, "reg")]:
        m = ref.DinoVisionTransformer(dim=4, depth=1, heads=1, registers=regs)
        with torch.no_grad():
            m.pos_embed.copy_(pos)
            for h0, w0 in GRIDS:
                x = torch.zeros(1, 1 + h0 * w0, 4)
                t[f"{tag}.{h0}x{w0}"] = m.interpolate_pos_encoding(x, h0 * 14, w0 * 14)
    st_io.write(os.path.join(OUT, "pos_interp.safetensors"), t, {"grids": ";".join(f"{a}x{b}" for a, b in GRIDS)})


def hf_names(sd):
    out = OrderedDict()
    for k, v in sd.items():
        k = k[len("backbone."):]
        if k.startswith("blocks."):
            _, i, rest = k.split(".", 2)
            p = f"encoder.layer.{i}."
            if rest.startswith("attn.qkv."):
                kind = rest.split(".")[-1]
                q, kk, vv = v.chunk(3, dim=0)
                out[p + "attention.attention.query." + kind] = q
                out[p + "attention.attention.key." + kind] = kk
                out[p + "attention.attention.value." + kind] = vv
                continue
            rest = (rest.replace("attn.proj", "attention.output.dense").replace("ls1.gamma", "layer_scale1.lambda1")
                    .replace("ls2.gamma", "layer_scale2.lambda1").replace("mlp.w12", "mlp.weights_in")
                    .replace("mlp.w3", "mlp.weights_out"))
            out[p + rest] = v
        else:
            m = {"cls_token": "embeddings.cls_token", "pos_embed": "embeddings.position_embeddings",
                 "register_tokens": "embeddings.register_tokens", "mask_token": "embeddings.mask_token",
                 "patch_embed.proj.weight": "embeddings.patch_embeddings.projection.weight",
                 "patch_embed.proj.bias": "embeddings.patch_embeddings.projection.bias",
                 "norm.weight": "layernorm.weight", "norm.bias": "layernorm.bias"}
            out[m[k]] = v
    # HF orders keys differently from the official checkpoint; shuffle deterministically to show order does not matter
    return OrderedDict(sorted(out.items()))


def wrapped_case():
    gen = torch.Generator().manual_seed(11)
    a = torch.randn(2, 3, generator=gen)
    b = torch.randn(4, generator=gen).half()
    c = torch.randn(2, 3, generator=gen).t()           # non-contiguous view
    d = torch.randn(5, generator=gen).bfloat16()
    e = torch.randn(6, 4, generator=gen)[1:4, ::2]      # offset + stride view
    sd = OrderedDict([("backbone.a", a), ("backbone.b", b), ("backbone.c", c), ("backbone.d", d), ("backbone.e", e)])
    torch.save({"teacher": sd, "iteration": 3, "note": "wrapped"}, os.path.join(OUT, "wrapped.pth"))
    st_io.write(os.path.join(OUT, "wrapped_expected.safetensors"),
                OrderedDict((k, v.float()) for k, v in sd.items()))
    import convert_pth
    st_io.write(os.path.join(OUT, "wrapped_converted.safetensors"),
                convert_pth.to_official(convert_pth.load(os.path.join(OUT, "wrapped.pth"))))


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    plain_cfg = dict(dim=36, depth=3, heads=3, registers=0, ffn="mlp")
    reg_cfg = dict(dim=36, depth=3, heads=3, registers=4, ffn="swiglu")
    plain = model_case("plain", plain_cfg, 1, 2, 56, 70)
    reg = model_case("reg", reg_cfg, 2, 2, 42, 84)
    big_case(plain, "keep", 518, 518)
    big_case(plain, "grow", 546, 532)
    pos_case()
    reg_sd, _ = st_io.read(os.path.join(OUT, "model_reg.safetensors"))
    st_io.write(os.path.join(OUT, "hf_reg.safetensors"), hf_names(OrderedDict((k, v) for k, v in reg_sd.items() if k.startswith("backbone."))))
    torch.save(plain.state_dict(), os.path.join(OUT, "plain.pth"))
    wrapped_case()
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)))


if __name__ == "__main__":
    main()
