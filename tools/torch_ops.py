#!/usr/bin/env python3
"""PyTorch peer of `dinoseg bench --mode gemm|attention`: the same GEMMs of one DINOv2 block and the
same attention forward and backward, on the same shapes, one JSON line per case with the same keys
(op, case, m/n/k or batch/tokens/heads/head_dim, ms_median, tflops), so the ratio of two lines from
one machine is the figure (e.g. our bf16 GEMM against torch.matmul in bf16, our attention against
F.scaled_dot_product_attention).

  python3 tools/torch_ops.py --device cuda --mode gemm --imgsz 644 --batch 8 --precision bf16
  python3 tools/torch_ops.py --device cuda --mode attention --imgsz 644 --batch 8 --precision bf16

Shapes (as dinoseg.bench.OpBench): tokens T = batch * (1 + (imgsz/14)^2); qkv [T,C]x[C,3C],
proj [T,C]x[C,C], fc1 [T,C]x[C,4C], fc2 [T,4C]x[4C,C] (the weights stored [out, in] and used
transposed, as nn.Linear), fc1's weight gradient [4C,T]x[T,C]; attention over [batch, heads, N, D].
Precision: fp32 (allow_tf32 off), tf32 (torch.backends.cuda.matmul.allow_tf32 on), bf16 (operands
in bfloat16). Timing: --warmup untimed runs, then the median of --iters runs, each ended by a
device synchronisation. Errors end with one line on stderr and exit status 2.
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_peer import sdpa  # noqa: E402  (the fused kernel where PyTorch has one, else the same product unfused)

BACKBONES = {"small": (384, 6), "base": (768, 12), "large": (1024, 16)}  # (C, heads); GELU MLP of ratio 4
PATCH = 14


def fail(msg):
    print("error: " + msg, file=sys.stderr)
    sys.exit(2)


def timed(fn, device, warmup, iters):
    def sync():
        if device == "cuda":
            torch.cuda.synchronize()
    for _ in range(warmup):
        fn()
    sync()
    t = []
    for _ in range(iters):
        s = time.perf_counter()
        fn()
        sync()
        t.append(time.perf_counter() - s)
    return statistics.median(t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    ap.add_argument("--mode", default="gemm", choices=["gemm", "attention"])
    ap.add_argument("--backbone", default="small", choices=sorted(BACKBONES))
    ap.add_argument("--imgsz", type=int, default=644)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--precision", default="bf16", choices=["fp32", "tf32", "bf16"])
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    a = ap.parse_args()
    if a.imgsz < PATCH or a.imgsz % PATCH:
        fail(f"--imgsz must be a positive multiple of {PATCH}, got {a.imgsz}")
    if a.device == "cuda" and not torch.cuda.is_available():
        fail("--device cuda: PyTorch sees no CUDA device")
    if a.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = a.precision == "tf32"
    dtype = torch.bfloat16 if a.precision == "bf16" else torch.float32
    c, heads = BACKBONES[a.backbone]
    n = 1 + (a.imgsz // PATCH) ** 2
    t = a.batch * n
    dev = torch.device(a.device)
    gen = torch.Generator(device="cpu").manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=gen).to(device=dev, dtype=dtype)

    head = {"peer": f"torch {torch.__version__}", "device": a.device, "backbone": a.backbone, "imgsz": a.imgsz,
            "precision": a.precision}
    if a.mode == "attention" and getattr(F, "scaled_dot_product_attention", None) is None:
        head["note"] = "no F.scaled_dot_product_attention in this PyTorch: unfused softmax(q k^T) v"
    if a.mode == "gemm":
        cases = [("qkv", t, 3 * c, c), ("proj", t, c, c), ("fc1", t, 4 * c, c), ("fc2", t, c, 4 * c)]
        for name, m, nn_, k in cases:
            x, w = randn(m, k), randn(nn_, k)
            sec = timed(lambda: torch.matmul(x, w.t()), a.device, a.warmup, a.iters)
            print(json.dumps({**head, "op": "gemm", "case": name, "m": m, "n": nn_, "k": k, "transposes": "NT",
                              "ms_median": round(sec * 1e3, 4), "tflops": round(2 * m * nn_ * k / sec / 1e12, 3)}), flush=True)
        gy, x = randn(t, 4 * c), randn(t, c)
        sec = timed(lambda: torch.matmul(gy.t(), x), a.device, a.warmup, a.iters)
        print(json.dumps({**head, "op": "gemm", "case": "fc1 weight grad", "m": 4 * c, "n": c, "k": t, "transposes": "TN",
                          "ms_median": round(sec * 1e3, 4), "tflops": round(2 * 4 * c * c * t / sec / 1e12, 3)}), flush=True)
        return
    d = c // heads
    q, k, v = (randn(a.batch, heads, n, d).requires_grad_() for _ in range(3))
    g = randn(a.batch, heads, n, d)
    flops = 4.0 * a.batch * heads * n * n * d
    fwd = timed(lambda: sdpa(q, k, v), a.device, a.warmup, a.iters)
    o = sdpa(q, k, v)
    bwd = timed(lambda: torch.autograd.grad(o, (q, k, v), g, retain_graph=True), a.device, a.warmup, a.iters)
    for name, sec, f in (("forward", fwd, flops), ("backward", bwd, 2.5 * flops)):
        print(json.dumps({**head, "op": "attention", "case": name, "batch": a.batch, "tokens": n, "heads": heads, "head_dim": d,
                          "ms_median": round(sec * 1e3, 4), "tflops": round(f / sec / 1e12, 3)}), flush=True)


if __name__ == "__main__":
    main()
