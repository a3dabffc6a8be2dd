#!/usr/bin/python3
"""Golden values for the CPU/CUDA backend tests, computed with PyTorch (run with /usr/bin/python3).

Writes src/test/resources/golden/backend_golden.json with
  resize:   F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False) on small
            deterministic tensors (up- and down-sizing, non-square), plus the gradient of
            sum(out * g) w.r.t. x for a deterministic g (the adjoint resize);
  xent:     F.cross_entropy(logits, labels, weight=w, ignore_index=ii) with labels that include the
            ignore index, plus d loss / d logits (labels outside [0, K) are rejected by PyTorch, so the
            Java test checks those against the same case with the label replaced by the ignore index).
Inputs are generated from closed-form formulas (no RNG), so the Java test rebuilds them exactly.
"""
import json
import math
import os

import torch
import torch.nn.functional as F


def ramp(n, a, b):
    """x[i] = sin(a*i + b) — the same formula the Java test uses."""
    return [math.sin(a * i + b) for i in range(n)]


def resize_case(b, c, h, w, oh, ow):
    x = torch.tensor(ramp(b * c * h * w, 0.37, 0.1), dtype=torch.float32).reshape(b, c, h, w).requires_grad_(True)
    out = F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False)
    g = torch.tensor(ramp(b * c * oh * ow, 0.53, 0.7), dtype=torch.float32).reshape(b, c, oh, ow)
    (out * g).sum().backward()
    return {"in": [b, c, h, w], "out": [oh, ow],
            "y": out.detach().flatten().tolist(), "gx": x.grad.flatten().tolist()}


def xent_case(b, k, h, w, weighted, ignore_index, labels):
    x = torch.tensor(ramp(b * k * h * w, 0.71, 0.3), dtype=torch.float32).reshape(b, k, h, w) * 3.0
    x = x.detach().requires_grad_(True)
    y = torch.tensor(labels, dtype=torch.long).reshape(b, h, w)
    wt = torch.tensor([0.5 + 0.25 * i for i in range(k)], dtype=torch.float32) if weighted else None
    loss = F.cross_entropy(x, y, weight=wt, ignore_index=ignore_index)
    loss.backward()
    return {"shape": [b, k, h, w], "weighted": weighted, "ignore": ignore_index, "labels": labels,
            "loss": loss.item(), "grad": x.grad.flatten().tolist()}


def main():
    torch.set_num_threads(1)
    resize = [
        resize_case(1, 1, 4, 4, 8, 8),
        resize_case(2, 3, 5, 7, 11, 9),
        resize_case(1, 2, 9, 13, 4, 5),
        resize_case(1, 1, 6, 10, 3, 17),
        resize_case(1, 2, 37, 37, 16, 16),
        resize_case(1, 1, 1, 3, 4, 2),
    ]
    xent = [
        xent_case(2, 4, 3, 5, False, 255, [(i * 7) % 4 if i % 6 else 255 for i in range(30)]),
        xent_case(2, 4, 3, 5, True, 255, [(i * 3) % 4 if i % 4 else 255 for i in range(30)]),
        xent_case(1, 5, 2, 3, True, 2, [(i * 2) % 5 for i in range(6)]),
    ]
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "src", "test", "resources", "golden", "backend_golden.json")
    with open(path, "w") as f:
        json.dump({"resize": resize, "xent": xent}, f)
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
