#!/usr/bin/env python3
"""PyTorch speed peer of `dinoseg bench`: the same DINOv2 ViT + linear (1x1 conv) segmentation head,
trained or run the same way on random data, so that a speed claim is a ratio of two lines from one
machine. The project's own copy of the shared peer (shared/bench/torch_peer.py): same options, same
JSON keys; tools/gpu_kit.sh ships it to the GPU machine.

  CPU:  apt-get install -y python3-torch libopenblas0-pthread
        /usr/bin/python3 tools/torch_peer.py --device cpu --mode infer --imgsz 644 --batch 1
  GPU:  python3 tools/torch_peer.py --device cuda --mode finetune --imgsz 644 --batch 8 [--amp] [--compile]

Output: one JSON line with peer, device, mode, backbone, imgsz, batch, amp, compile, threads,
images_per_s (batch / median step time), step_s_median (median of --iters timed steps after --warmup
untimed ones; each step ends with a device synchronisation) and peak_gpu_mib (torch's peak allocated
CUDA memory over warm-up and timed steps, model included; null on the CPU).

Modes (as dinoseg.bench.Bench): infer = forward + argmax without autograd; linear = backbone without
autograd, head + bilinear upsampling + cross-entropy + backward + AdamW on the head only;
finetune = everything trained. The model follows the official DINOv2 ViT (facebookresearch/dinov2,
dinov2/models/vision_transformer.py with the segmentation head of dinov2/eval/segmentation): 14x14
patch embedding, class token, position embedding (here already at the target grid, so no
interpolation is timed), pre-norm blocks with LayerScale and a GELU MLP, the last 4 blocks' outputs
(layers 8-11 of the 12-block presets, 20-23 of the 24-block one) layer-normed and concatenated, a
1x1 convolution to the classes, bilinear upsampling to the input size (align_corners=False),
cross-entropy with ignore index 255, AdamW (lr 1e-4, weight decay 1e-4). Weights are random:
the speed does not depend on them. --amp runs the step under bf16 autocast (CUDA only; the loss is
computed in fp32).

Errors (bad --imgsz, CUDA asked for but absent, --compile without torch.compile) end with one line
on stderr and exit status 2.
"""
import argparse
import json
import os
import statistics
import sys
import time

# Idle OpenMP workers that spin steal the few cores of a shared CPU machine from the working ones;
# the shared peer measured 3.0 against 10.1 images/s (ViT-S/14 at 224, 2 cores) for spinning vs
# passive. Must be set before torch starts its thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# name -> (embed_dim, depth, heads): the DINOv2 ViT-S/14, ViT-B/14 and ViT-L/14
BACKBONES = {"small": (384, 12, 6), "base": (768, 12, 12), "large": (1024, 24, 16)}
PATCH = 14
IGNORE = 255


def sdpa(q, k, v):
    """softmax(q k^T / sqrt(d)) v over [B, heads, N, d]; PyTorch's fused kernel where it has one (2.0+)."""
    fused = getattr(F, "scaled_dot_product_attention", None)
    if fused is not None:
        return fused(q, k, v)
    w = torch.matmul(q, k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)
    return torch.matmul(w.softmax(dim=-1), v)


class ViTBlock(nn.Module):
    """x + ls1 * attn(norm1(x)); then x + ls2 * mlp(norm2(x)) (LayerNorm eps 1e-6, MLP ratio 4, GELU)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ls1 = nn.Parameter(torch.ones(dim))
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)
        self.ls2 = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attn = sdpa(q, k, v).transpose(1, 2).reshape(b, n, c)
        x = x + self.ls1 * self.proj(attn)
        return x + self.ls2 * self.fc2(F.gelu(self.fc1(self.norm2(x))))


class SegViT(nn.Module):
    """DINOv2 backbone + linear head; forward: image [B, 3, S, S] -> logits [B, classes, S, S]."""

    def __init__(self, backbone, classes, grid):
        super().__init__()
        dim, depth, heads = BACKBONES[backbone]
        self.grid = grid
        self.taps = set(range(depth - 4, depth))  # the last four blocks
        self.patch_embed = nn.Conv2d(3, dim, PATCH, stride=PATCH)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, dim))
        self.blocks = nn.ModuleList([ViTBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Conv2d(4 * dim, classes, kernel_size=1)

    def features(self, img):
        """The 4 tapped blocks' normed patch tokens as one [B, 4*dim, grid, grid] map."""
        b = img.shape[0]
        x = self.patch_embed(img).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1) + self.pos_embed
        maps = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.taps:
                tokens = self.norm(x)[:, 1:]
                maps.append(tokens.transpose(1, 2).reshape(b, -1, self.grid, self.grid))
        return torch.cat(maps, dim=1)

    def logits(self, feats, size):
        return F.interpolate(self.head(feats), size=size, mode="bilinear", align_corners=False)

    def forward(self, img):
        return self.logits(self.features(img), img.shape[-2:])


def fail(msg):
    print("torch_peer: " + msg, file=sys.stderr)
    sys.exit(2)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--mode", choices=["infer", "linear", "finetune"], default="infer")
    p.add_argument("--backbone", choices=sorted(BACKBONES), default="small")
    p.add_argument("--imgsz", type=int, default=644, help="square image side, a positive multiple of 14 (default: 644)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--classes", type=int, default=21)
    p.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (PyTorch 2.x)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default: 2)")
    p.add_argument("--iters", type=int, default=5, help="timed steps (default: 5)")
    a = p.parse_args(argv)
    if a.imgsz <= 0 or a.imgsz % PATCH:
        p.error("--imgsz must be a positive multiple of 14, got %d" % a.imgsz)
    for name in ("batch", "classes", "iters"):
        if getattr(a, name) < 1:
            p.error("--%s must be at least 1" % name)
    if a.warmup < 0 or a.threads < 0:
        p.error("--warmup and --threads must not be negative")
    return a


def main(argv=None):
    a = parse_args(argv)
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda and not torch.cuda.is_available():
        fail("--device %s: this PyTorch (%s) sees no CUDA device" % (a.device, torch.__version__))
    if a.compile and not hasattr(torch, "compile"):
        fail("--compile needs PyTorch 2.x (this is %s)" % torch.__version__)
    torch.set_num_threads(a.threads if a.threads else (os.cpu_count() or 1))
    torch.manual_seed(0)

    model = SegViT(a.backbone, a.classes, a.imgsz // PATCH).to(dev)
    trained = [prm for name, prm in model.named_parameters() if a.mode == "finetune" or name.startswith("head.")]
    if a.mode == "linear":
        for name, prm in model.named_parameters():
            prm.requires_grad_(name.startswith("head."))
    opt = torch.optim.AdamW(trained, lr=1e-4, weight_decay=1e-4) if a.mode != "infer" else None
    net = torch.compile(model) if a.compile else model
    img = torch.randn(a.batch, 3, a.imgsz, a.imgsz, device=dev)
    target = torch.randint(0, a.classes, (a.batch, a.imgsz, a.imgsz), device=dev)

    def autocast():
        if a.amp and cuda:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return torch.autocast(device_type="cpu", enabled=False)

    def step():
        if a.mode == "infer":
            with torch.no_grad(), autocast():
                net(img).argmax(dim=1)
            return
        with autocast():
            if a.mode == "linear":
                with torch.no_grad():
                    feats = model.features(img)
                out = model.logits(feats, img.shape[-2:])
            else:
                out = net(img)
            loss = F.cross_entropy(out.float(), target, ignore_index=IGNORE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    for _ in range(a.warmup):
        step()
    sync()
    times = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    peak = round(torch.cuda.max_memory_allocated(dev) / 2 ** 20, 1) if cuda else None
    print(json.dumps({"peer": "pytorch " + torch.__version__, "device": a.device, "mode": a.mode,
                      "backbone": a.backbone, "imgsz": a.imgsz, "batch": a.batch, "amp": a.amp,
                      "compile": a.compile, "threads": torch.get_num_threads(),
                      "images_per_s": round(a.batch / med, 3), "step_s_median": round(med, 4),
                      "peak_gpu_mib": peak}), flush=True)


if __name__ == "__main__":
    main()
