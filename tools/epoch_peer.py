#!/usr/bin/env python3
"""PyTorch peer of a whole `dinoseg train` epoch: the same files decoded from JPEG/PNG by a torch
Dataset in a DataLoader with worker processes, resized and normalised as dinoseg trains, through the
model of tools/torch_peer.py (DINOv2 ViT + linear head), cross-entropy, AdamW. Prints one JSON line.

    /usr/bin/python3 tools/make_epoch_dataset.py --out /tmp/epoch_voc
    /usr/bin/python3 tools/epoch_peer.py --data /tmp/epoch_voc --mode linear --imgsz 224 168 --batch 8 --epochs 2

The loop per epoch, as dinoseg's Trainer (--augment none, its default): a shuffled order (drop_last
False, as dinoseg), per sample PIL's Image.open(f).convert("RGB") for the picture and the palette
indices of the mask PNG (np.array(Image.open(m)): VOC masks are palettized, the index is the class,
255 ignored); the picture resized bilinearly with align_corners=False and no antialiasing (dinoseg's
Warp.resize through BoofCV's bilinear interpolation, edges extended), the mask with
'nearest-exact' (dinoseg's floor(x_in + 0.5) at pixel centres), then (v/255 - mean)/std with the
ImageNet constants; per batch forward, cross-entropy (ignore 255), backward, AdamW step, the loss
read back (loss.item()) and, as dinoseg's training metrics need, the argmax prediction counted
into a confusion matrix (torch.bincount; --no-metrics leaves it out).

Modes: linear = backbone under no_grad, head trained (dinoseg's default, frozen backbone);
finetune = everything trained (dinoseg --fine-tune). The model and the thread settings
(OMP_WAIT_POLICY=PASSIVE, torch threads = cores) are tools/torch_peer.py's; non-square sizes get a
position embedding of the target grid (no interpolation is timed). Weights are random.

Timing: every epoch is timed from creating the loader's iterator (worker start included) to the end
of its last step; the first epoch is the warm-up (worker start-up, allocator, first-touch) and is
reported apart: epoch_s_median is the median of epochs 2..E (--epochs E >= 2; with E = 1 the one
epoch). Output keys: peer, mode, backbone, imgsz [w, h], batch, workers, threads, images, steps,
epochs_s (every epoch), first_epoch_s, epoch_s_median, images_per_s (images / epoch_s_median),
decode ("PIL <version>"), metrics.
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as torch_peer.py: passive OpenMP waits on a shared 2-core machine

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_peer  # noqa: E402  (the model: SegViT, BACKBONES, PATCH, IGNORE)

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png")


def voc_split(data, split):
    """(image, mask) paths of a VOC2012 split, in the list's order (dinoseg's Datasets.voc)."""
    root = data
    for cand in (data, os.path.join(data, "VOC2012"), os.path.join(data, "VOCdevkit", "VOC2012")):
        if os.path.isdir(os.path.join(cand, "JPEGImages")):
            root = cand
            break
    listing = os.path.join(root, "ImageSets", "Segmentation", split + ".txt")
    if not os.path.isfile(listing):
        raise SystemExit("epoch_peer: %s: no split list (make the data with tools/make_epoch_dataset.py)" % listing)
    pairs = []
    for sid in open(listing).read().split():
        img = next((os.path.join(root, "JPEGImages", sid + "." + e) for e in IMAGE_EXTENSIONS
                    if os.path.isfile(os.path.join(root, "JPEGImages", sid + "." + e))), None)
        mask = os.path.join(root, "SegmentationClass", sid + ".png")
        if img is None or not os.path.isfile(mask):
            raise SystemExit("epoch_peer: %s: pair %s is incomplete" % (listing, sid))
        pairs.append((img, mask))
    return pairs


class SegFiles(torch.utils.data.Dataset):
    """Decodes one pair per item and resizes/normalises it as dinoseg's Preprocess with Augment.none()."""

    def __init__(self, pairs, w, h):
        self.pairs, self.w, self.h = pairs, w, h

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        ip, mp = self.pairs[i]
        img = torch.from_numpy(np.array(Image.open(ip).convert("RGB"))).permute(2, 0, 1).float()
        lab = torch.from_numpy(np.array(Image.open(mp), dtype=np.uint8)).long()
        if lab.shape != img.shape[1:]:
            raise ValueError("%s: mask %s does not match image %s" % (mp, tuple(lab.shape), tuple(img.shape[1:])))
        img = F.interpolate(img[None], size=(self.h, self.w), mode="bilinear", align_corners=False)[0]
        img = (img / 255 - MEAN) / STD
        lab = F.interpolate(lab[None, None].float(), size=(self.h, self.w), mode="nearest-exact")[0, 0].long()
        return img, lab


class RectSegViT(torch_peer.SegViT):
    """torch_peer's SegViT with a grid of gh x gw patches (torch_peer's is square)."""

    def __init__(self, backbone, classes, gh, gw):
        super().__init__(backbone, classes, 1)
        self.gh, self.gw = gh, gw
        dim = torch_peer.BACKBONES[backbone][0]
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + gh * gw, dim))

    def features(self, img):
        b = img.shape[0]
        x = self.patch_embed(img).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1) + self.pos_embed
        maps = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.taps:
                maps.append(self.norm(x)[:, 1:].transpose(1, 2).reshape(b, -1, self.gh, self.gw))
        return torch.cat(maps, dim=1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a VOC-layout dataset (tools/make_epoch_dataset.py)")
    p.add_argument("--mode", choices=["linear", "finetune"], default="linear")
    p.add_argument("--backbone", choices=sorted(torch_peer.BACKBONES), default="small")
    p.add_argument("--imgsz", type=int, nargs="+", default=[224, 168], help="W [H], multiples of 14 (default: 224 168)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--classes", type=int, default=21, help="head outputs (default: 21, VOC's)")
    p.add_argument("--epochs", type=int, default=2, help="epochs; the first is the warm-up (default: 2)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (default: 2)")
    p.add_argument("--threads", type=int, default=0, help="torch threads of the main process (0: all cores)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--no-metrics", action="store_true", help="skip the argmax + confusion matrix of the training predictions")
    a = p.parse_args(argv)
    w, h = a.imgsz[0], a.imgsz[-1]
    if len(a.imgsz) > 2 or w <= 0 or h <= 0 or w % torch_peer.PATCH or h % torch_peer.PATCH:
        p.error("--imgsz takes W [H], positive multiples of 14")
    if a.epochs < 1 or a.batch < 1 or a.workers < 0:
        p.error("--epochs and --batch must be at least 1, --workers not negative")
    torch.set_num_threads(a.threads if a.threads else (os.cpu_count() or 1))
    torch.manual_seed(a.seed)

    ds = SegFiles(voc_split(a.data, "train"), w, h)
    gen = torch.Generator()
    gen.manual_seed(a.seed)
    loader = torch.utils.data.DataLoader(ds, batch_size=a.batch, shuffle=True, drop_last=False, num_workers=a.workers,
                                         generator=gen)
    model = RectSegViT(a.backbone, a.classes, h // torch_peer.PATCH, w // torch_peer.PATCH)
    if a.mode == "linear":
        for name, prm in model.named_parameters():
            prm.requires_grad_(name.startswith("head."))
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=1e-4, weight_decay=1e-4)
    k = a.classes

    epochs = []
    for epoch in range(a.epochs):
        model.train()
        conf = torch.zeros(k * k, dtype=torch.long)
        t0 = time.perf_counter()
        steps = 0
        for img, lab in loader:
            if a.mode == "linear":
                with torch.no_grad():
                    feats = model.features(img)
                out = model.logits(feats, img.shape[-2:])
            else:
                out = model(img)
            loss = F.cross_entropy(out, lab, ignore_index=torch_peer.IGNORE)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()
            if not a.no_metrics:
                with torch.no_grad():
                    pred = out.argmax(1)
                    keep = lab != torch_peer.IGNORE
                    conf += torch.bincount(lab[keep] * k + pred[keep], minlength=k * k)
            steps += 1
        epochs.append(time.perf_counter() - t0)
        print("epoch %d: %.1f s" % (epoch + 1, epochs[-1]), file=sys.stderr, flush=True)
    timed = epochs[1:] if len(epochs) > 1 else epochs
    med = statistics.median(timed)
    print(json.dumps({"peer": "pytorch " + torch.__version__, "mode": a.mode, "backbone": a.backbone, "imgsz": [w, h],
                      "batch": a.batch, "workers": a.workers, "threads": torch.get_num_threads(), "images": len(ds),
                      "steps": steps, "epochs_s": [round(e, 2) for e in epochs], "first_epoch_s": round(epochs[0], 2),
                      "epoch_s_median": round(med, 2), "images_per_s": round(len(ds) / med, 2),
                      "decode": "PIL " + Image.__version__, "metrics": not a.no_metrics}), flush=True)


if __name__ == "__main__":
    main()
