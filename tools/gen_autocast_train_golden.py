#!/usr/bin/python3
"""Golden training runs for dinoseg.train.PrecisionTrainingGoldenTest: the same tiny fine-tuning
recipe trained by PyTorch in float32 and under torch.autocast("cpu", dtype=torch.bfloat16).
Run with /usr/bin/python3 (Debian's python3-torch) from the repository root:

    /usr/bin/python3 tools/gen_autocast_train_golden.py

Writes src/test/resources/golden/train_autocast.safetensors (~0.4 MB):
  backbone.*         a 32-dim, 3-block, 2-head plain ViT/14 (tools/dinov2_ref.py), PyTorch's default
                     initialisation, LayerScale 0.1, cls/pos embeddings ~ N(0, 0.02)
  head.conv.*        the tutorial's head (a 1x1 conv) over the normed maps of blocks 1 and 2
  data.rects         [24, 2, 4] per image the (top, left, height, width) of a class-1 and a class-2
                     rectangle; labels() paints them (2 over 1, clipped) on class 0 with a 2-pixel
                     ignored (255) border; images 0-15 train, 16-23 validate. Neither masks nor images
                     are stored: the Java test rebuilds both (labels(), then image()'s closed form).
  order              [EPOCHS, 16] the training order of each epoch (batches of 4, in this order)
  fp32.* / bf16.*    per epoch: train_loss (pixel-weighted mean over the epoch's steps, as the
                     trainer reports it), valid_loss, valid_miou (classes with an empty union skipped)
Recipe: AdamW(lr 3e-3, betas (0.9, 0.999), eps 1e-8), weight decay 0.05 on tensors of rank >= 2 and
0 on the others, constant lr, cross-entropy with ignore_index 255 on logits upsampled bilinearly
(align_corners=False) to 56x56, every parameter trained. The bf16 run wraps the model's forward
(training and validation) in torch.autocast("cpu", dtype=torch.bfloat16) and takes the loss of its
logits in float32, as CUDA autocast does; weights, gradients and AdamW state stay float32.
The logits are upsampled in float32. Upsampled in bf16 (PyTorch 1.13 on the CPU: autocast leaves
upsample_bilinear2d in its input's dtype), the run drifts from float32 by up to 0.025 mIoU (epoch 4):
upsample_bilinear2d_backward accumulates the gradient in bf16, which dinoseg (reductions in fp32)
does not reproduce; the forward's rounding alone changes nothing measurable.
"""
import math
import os
import sys
from collections import OrderedDict

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dinov2_ref as ref  # noqa: E402
import st_io  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "test", "resources", "golden")
N_TRAIN, N_VALID, SIZE, K, BATCH, EPOCHS = 16, 8, 56, 3, 4, 8
LAYERS = [1, 2]
IGNORE = 255
COLOURS = [(-1.0, -1.0, -1.0), (1.5, -0.5, -1.0), (-0.5, 0.5, 1.5)]


def rects(gen):
    """[n, 2, 4]: per image, the rectangle (top, left, height, width) of class 1, then of class 2."""
    r = torch.zeros(N_TRAIN + N_VALID, 2, 4, dtype=torch.int64)
    for b in range(r.shape[0]):
        for c in range(2):
            h, w = [int(v) for v in torch.randint(10, 30, (2,), generator=gen)]
            top, left = [int(v) for v in torch.randint(0, SIZE - 10, (2,), generator=gen)]
            r[b, c] = torch.tensor([top, left, h, w])
    return r


def labels(r):
    """The masks the rectangles paint (class 2 over class 1, clipped to the image), a 2-pixel ignored border."""
    y = torch.zeros(r.shape[0], SIZE, SIZE, dtype=torch.int64)
    for b in range(r.shape[0]):
        for c in range(2):
            top, left, h, w = [int(v) for v in r[b, c]]
            y[b, top:top + h, left:left + w] = c + 1
    y[:, :2, :] = IGNORE
    y[:, -2:, :] = IGNORE
    y[:, :, :2] = IGNORE
    y[:, :, -2:] = IGNORE
    return y


def image(y):
    """img[b, c, i, j] = colour[label][c] + 0.5 sin(1.3 j + 2.1 i + 0.7 c + 3.1 b), in float64 then
    float32; ignored pixels take the background colour."""
    n = y.shape[0]
    col = torch.tensor(COLOURS, dtype=torch.float64)
    lab = torch.where(y == IGNORE, torch.zeros_like(y), y)
    base = col[lab].permute(0, 3, 1, 2)                       # n, 3, H, W
    b = torch.arange(n, dtype=torch.float64).reshape(n, 1, 1, 1)
    c = torch.arange(3, dtype=torch.float64).reshape(1, 3, 1, 1)
    i = torch.arange(SIZE, dtype=torch.float64).reshape(1, 1, SIZE, 1)
    j = torch.arange(SIZE, dtype=torch.float64).reshape(1, 1, 1, SIZE)
    return (base + 0.5 * torch.sin(1.3 * j + 2.1 * i + 0.7 * c + 3.1 * b)).to(torch.float32)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = ref.DinoVisionTransformer(dim=32, depth=3, heads=2)
        self.head = ref.LinearHead(32 * len(LAYERS), K)

    def forward(self, x):
        grid = ref.segment(self.backbone, self.head, x, LAYERS, (SIZE, SIZE))[0]
        # upsampled in fp32 (mmsegmentation's decode heads do this under mixed precision: force_fp32 on
        # seg_logit in losses()); see the module docstring for what a bf16 upsampling does
        return F.interpolate(grid.float(), size=(SIZE, SIZE), mode="bilinear", align_corners=False)


def init(gen):
    torch.manual_seed(int(torch.randint(0, 2 ** 31, (1,), generator=gen)))
    net = Net()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("gamma"):
                p.fill_(0.1)
            elif name.endswith(("cls_token", "pos_embed", "mask_token")):
                p.copy_(0.02 * torch.randn(p.shape, generator=gen))
    return net


def run(state, x, y, order, bf16):
    net = Net()
    net.load_state_dict(state)
    decay = [p for p in net.parameters() if p.dim() >= 2]
    no_decay = [p for p in net.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=3e-3, betas=(0.9, 0.999), eps=1e-8)

    def forward_loss(xb, yb):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = net(xb)
        # the loss in fp32, as CUDA autocast computes it (log_softmax and nll_loss are on its fp32 list);
        # CPU autocast in PyTorch 1.13 would reduce it in bf16, which biases the sum of many pixels
        logits = logits.float()
        return logits, F.cross_entropy(logits, yb, ignore_index=IGNORE)

    rows = []
    for epoch in range(EPOCHS):
        net.train()
        loss_sum, pixels = 0.0, 0
        for s in range(0, N_TRAIN, BATCH):
            idx = order[epoch, s:s + BATCH]
            xb, yb = x[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            _, loss = forward_loss(xb, yb)
            loss.backward()
            opt.step()
            counted = int((yb != IGNORE).sum())
            loss_sum += float(loss) * counted
            pixels += counted
        net.eval()
        conf = torch.zeros(K, K, dtype=torch.int64)
        vloss, vpix = 0.0, 0
        with torch.no_grad():
            for s in range(N_TRAIN, N_TRAIN + N_VALID, BATCH):
                xb, yb = x[s:s + BATCH], y[s:s + BATCH]
                logits, loss = forward_loss(xb, yb)
                keep = yb != IGNORE
                counted = int(keep.sum())
                vloss += float(loss) * counted
                vpix += counted
                pred = logits.argmax(1)
                conf += torch.bincount(yb[keep] * K + pred[keep], minlength=K * K).reshape(K, K)
        inter = conf.diag().double()
        union = conf.sum(0).double() + conf.sum(1).double() - inter
        iou = [float(inter[k] / union[k]) for k in range(K) if union[k] > 0]
        rows.append((loss_sum / pixels, vloss / vpix, sum(iou) / len(iou)))
        print(f"{'bf16' if bf16 else 'fp32'} epoch {epoch + 1}: train loss {rows[-1][0]:.4f}  "
              f"valid loss {rows[-1][1]:.4f}  mIoU {rows[-1][2]:.4f}", file=sys.stderr)
    return rows


def main():
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(2026)
    r = rects(gen)
    y = labels(r)
    x = image(y)
    net = init(gen)
    state = net.state_dict()
    order = torch.stack([torch.randperm(N_TRAIN, generator=gen) for _ in range(EPOCHS)])
    t = OrderedDict((k, v) for k, v in state.items())
    t["data.rects"] = r.float()
    t["order"] = order.float()
    for tag, bf16 in (("fp32", False), ("bf16", True)):
        rows = run(state, x, y, order, bf16)
        for i, name in enumerate(("train_loss", "valid_loss", "valid_miou")):
            t[f"{tag}.{name}"] = torch.tensor([r[i] for r in rows], dtype=torch.float64)
    meta = {"recipe": "AdamW lr 3e-3 wd 0.05 (rank>=2), constant lr, CE ignore 255, batch 4",
            "layers": ",".join(map(str, LAYERS)), "epochs": str(EPOCHS), "torch": torch.__version__}
    st_io.write(os.path.join(OUT, "train_autocast.safetensors"), t, meta)


if __name__ == "__main__":
    main()
