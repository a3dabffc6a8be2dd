#!/usr/bin/python3
"""Golden numbers for dinoseg.train.AdamW from torch.optim.AdamW.

Two parameter groups (own lr and weight decay), tiny deterministic float32 tensors and gradients,
five steps, including: a parameter with no gradient in one step (PyTorch skips it and its own step
count does not advance), and a learning-rate change between steps (what a scheduler does).
Writes src/test/resources/golden/adamw.json. Run with /usr/bin/python3 (Debian's python3-torch).
"""
import json
import math
import os

import torch


def det(shape, phase):
    """Deterministic float32 values in about [-1, 1] that do not depend on any RNG."""
    n = 1
    for d in shape:
        n *= d
    vals = [math.sin(1.7 * i + phase) * (0.5 + 0.5 * math.cos(0.3 * i * phase)) for i in range(n)]
    return torch.tensor(vals, dtype=torch.float32).reshape(shape)


def flat(t):
    # float32 -> Python float is exact; JSON repr round-trips it
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def main():
    torch.set_default_dtype(torch.float32)
    shapes = [[2, 3], [4], [3, 2]]      # group "decay": params 0 and 1; group "no_decay": param 2
    params = [det(s, 0.3 + k).clone().requires_grad_(True) for k, s in enumerate(shapes)]
    groups = [
        {"name": "decay", "params": [params[0], params[1]], "lr": 1e-2, "weight_decay": 0.05},
        {"name": "no_decay", "params": [params[2]], "lr": 3e-3, "weight_decay": 0.0},
    ]
    betas, eps = (0.9, 0.999), 1e-8
    opt = torch.optim.AdamW([{"params": g["params"], "lr": g["lr"], "weight_decay": g["weight_decay"]} for g in groups],
                            betas=betas, eps=eps, foreach=False)
    fixture = {
        "generator": "tools/gen_adamw_golden.py, torch " + torch.__version__,
        "betas": list(betas), "eps": eps,
        "groups": [{"name": g["name"], "lr": g["lr"], "weight_decay": g["weight_decay"],
                    "params": [next(i for i, q in enumerate(params) if q is p) for p in g["params"]]} for g in groups],
        "shapes": shapes,
        "init": [flat(p) for p in params],
        "steps": [],
    }
    for step in range(1, 6):
        if step == 4:  # scheduler: new learning rates from step 4 on
            opt.param_groups[0]["lr"] = 4e-3
            opt.param_groups[1]["lr"] = 6e-3
        grads = []
        for k, p in enumerate(params):
            if step == 2 and k == 1:  # no gradient this step: AdamW must skip it
                p.grad = None
                grads.append(None)
                continue
            g = det(shapes[k], 0.7 * step + 0.11 * k) * (0.5 + k)
            p.grad = g.clone()
            grads.append(flat(g))
        opt.step()
        fixture["steps"].append({
            "lrs": [pg["lr"] for pg in opt.param_groups],
            "grads": grads,
            "after": [flat(p) for p in params],
        })
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "test", "resources", "golden", "adamw.json")
    with open(out, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(out))


if __name__ == "__main__":
    main()
