#!/usr/bin/python3
"""Golden numbers for the double-precision test reference (src/test/java/dinoseg/ref/Ref.java).

The gradient tests check the float ops against Ref; this fixture checks Ref itself against PyTorch
in float64, so a wrong reading of PyTorch semantics (align_corners, ignore_index with class weights,
unbiased running variance, DINOv2's qkv packing) cannot hide in both. Writes
src/test/resources/golden/ref_golden.json. Run with /usr/bin/python3 (Debian's python3-torch).
"""
import json
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
gen = torch.Generator().manual_seed(20261126)


def rnd(*shape, lo=-1.0, hi=1.0):
    return lo + (hi - lo) * torch.rand(*shape, generator=gen, dtype=torch.float64)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def case(**kw):
    out = {}
    for k, v in kw.items():
        if isinstance(v, torch.Tensor):
            out[k] = {"shape": list(v.shape), "data": flat(v)} if v.dtype.is_floating_point else {"shape": list(v.shape), "ints": [int(i) for i in v.reshape(-1).tolist()]}
        else:
            out[k] = v
    return out


def main():
    fx = {"generator": "tools/gen_ref_golden.py, torch " + torch.__version__}

    fx["linear"] = []
    for xs, n, bias in [((2, 3, 4), 5, True), ((3, 7), 2, False)]:
        x, w = rnd(*xs), rnd(n, xs[-1])
        b = rnd(n) if bias else None
        fx["linear"].append(case(x=x, w=w, **({"b": b} if bias else {}), y=F.linear(x, w, b)))

    x = rnd(60, lo=-7, hi=7)
    fx["gelu"] = [case(x=x, y=F.gelu(x))]

    x = rnd(2, 3, 10, lo=-4, hi=4)
    a, b = x.chunk(2, dim=-1)
    fx["swiglu"] = [case(x=x, y=F.silu(a) * b)]

    x, g, b = rnd(2, 3, 8), rnd(8), rnd(8)
    fx["layer_norm"] = [case(x=x, gamma=g, beta=b, eps=1e-6, y=F.layer_norm(x, (8,), g, b, 1e-6))]

    fx["batch_norm"] = []
    for training in (True, False):
        x, g, b = rnd(2, 3, 4, 5, lo=-2, hi=3), rnd(3), rnd(3)
        rm, rv = rnd(3), rnd(3, lo=0.5, hi=1.5)
        rm2, rv2 = rm.clone(), rv.clone()
        y = F.batch_norm(x, rm2, rv2, g, b, training=training, momentum=0.1, eps=1e-5)
        fx["batch_norm"].append(case(x=x, gamma=g, beta=b, run_mean=rm, run_var=rv, training=training,
                                     momentum=0.1, eps=1e-5, y=y, run_mean_after=rm2, run_var_after=rv2))

    fx["attention"] = []
    for bsz, n, heads, d in [(2, 5, 2, 3), (1, 9, 3, 4)]:
        qkv = rnd(bsz, n, 3 * heads * d, lo=-2, hi=2)
        c = heads * d
        # DINOv2 Attention.forward after the qkv Linear
        q, k, v = qkv.reshape(bsz, n, 3, heads, d).permute(2, 0, 3, 1, 4)
        attn = ((q * d ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        y = (attn @ v).transpose(1, 2).reshape(bsz, n, c)
        fx["attention"].append(case(qkv=qkv, heads=heads, y=y))

    fx["conv2d"] = []
    for xs, ws, stride, pad in [((2, 3, 5, 4), (4, 3, 3, 3), 1, 1), ((1, 2, 7, 6), (3, 2, 3, 3), 2, 1), ((2, 4, 3, 3), (2, 4, 1, 1), 1, 0)]:
        x, w, b = rnd(*xs), rnd(*ws), rnd(ws[0])
        fx["conv2d"].append(case(x=x, w=w, b=b, stride=stride, pad=pad, y=F.conv2d(x, w, b, stride=stride, padding=pad)))

    x, w, b = rnd(2, 3, 6, 4), rnd(5, 3, 2, 2), rnd(5)
    # DINOv2 PatchEmbed: proj(x).flatten(2).transpose(1, 2)
    fx["patch_embed"] = [case(x=x, w=w, b=b, patch=2, y=F.conv2d(x, w, b, stride=2).flatten(2).transpose(1, 2))]

    fx["resize"] = []
    for ins, outs in [((1, 2, 3, 4), (7, 9)), ((2, 1, 8, 6), (3, 4)), ((1, 1, 5, 5), (5, 11)), ((1, 1, 1, 1), (2, 3)), ((1, 2, 4, 5), (1, 1)), ((1, 1, 37, 37), (16, 23))]:
        x = rnd(*ins)
        fx["resize"].append(case(x=x, size=list(outs), y=F.interpolate(x, size=outs, mode="bilinear", align_corners=False)))

    fx["cross_entropy"] = []
    for shape, weighted in [((2, 4, 3, 5), False), ((2, 4, 3, 5), True), ((6, 3), True)]:
        logits = rnd(*shape, lo=-3, hi=3)
        k = shape[1]
        lshape = (shape[0],) + shape[2:]
        labels = torch.randint(0, k, lshape, generator=gen)
        mask = torch.rand(lshape, generator=gen) < 0.3
        labels[mask] = 255
        w = rnd(k, lo=0.2, hi=2.0) if weighted else None
        loss = F.cross_entropy(logits, labels, weight=w, ignore_index=255, reduction="mean")
        fx["cross_entropy"].append(case(logits=logits, labels=labels, ignore=255, loss=float(loss),
                                        **({"weights": w} if weighted else {})))

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "test", "resources", "golden", "ref_golden.json")
    with open(out, "w") as f:
        json.dump(fx, f)
        f.write("\n")
    print("wrote", os.path.normpath(out))


if __name__ == "__main__":
    main()
