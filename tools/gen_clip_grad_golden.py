#!/usr/bin/python3
"""Golden values for dinoseg.train.AdamW.clipGradNorm: torch.nn.utils.clip_grad_norm_ on random gradients.
Run with /usr/bin/python3 (Debian's python3-torch) from the repository root:

    /usr/bin/python3 tools/gen_clip_grad_golden.py

Writes src/test/resources/golden/clip_grad.safetensors: for each case c (max norms 0.5, 2.0, 100.0: clipped
hard, clipped a little, left alone), "c.max_norm", "c.total" (the returned norm) and, for parameters 0..2
(shapes [7, 5], [5], [2, 3, 4]), "grad.i" (before) and "c.grad.i" (after).
"""
import os
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "test", "resources", "golden", "clip_grad.safetensors")


def main():
    gen = torch.Generator().manual_seed(11)
    shapes = [(7, 5), (5,), (2, 3, 4)]
    grads = [torch.randn(s, generator=gen) * 0.3 for s in shapes]
    t = OrderedDict()
    for i, g in enumerate(grads):
        t[f"grad.{i}"] = g
    for c, max_norm in enumerate([0.5, 2.0, 100.0]):
        params = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        total = torch.nn.utils.clip_grad_norm_(params, max_norm)
        t[f"{c}.max_norm"] = torch.tensor([max_norm])
        t[f"{c}.total"] = torch.tensor([float(total)])
        for i, p in enumerate(params):
            t[f"{c}.grad.{i}"] = p.grad
        print(f"case {c}: max_norm {max_norm} total {float(total):.6f}", file=sys.stderr)
    st_io.write(OUT, t, {"torch": torch.__version__})


if __name__ == "__main__":
    main()
