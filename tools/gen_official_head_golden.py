#!/usr/bin/python3
"""Golden fixtures for the official DINOv2 segmentation heads (checkpoint.OfficialModels).
Run with /usr/bin/python3 (torch 1.13; mmcv/mmseg are not needed) from the repository root:

    /usr/bin/python3 tools/gen_official_head_golden.py

The official heads are MMSegmentation BNHead modules (facebookresearch/dinov2
dinov2/eval/segmentation/models/decode_heads/linear_head.py) saved by mmcv's save_checkpoint as
{"meta": {...}, "state_dict": {"decode_head.bn.*", "decode_head.conv_seg.*"}}. BNHeadRef below
states their forward in PyTorch: BaseDecodeHead's resize_concat input transform (lists flattened,
2-d inputs as 1x1 maps, in_index selected, each resized bilinearly to the first one's size with
align_corners=False, concatenated on channels), the BatchNorm in eval mode, no dropout
(dropout_ratio=0), then conv_seg (1x1). The notebook feeds it
backbone.get_intermediate_layers(x, n=out_indices, reshape=True) (final norm applied, no class
token), out_indices = the last four blocks; in_index [3] for the linear head, [0, 1, 2, 3] for ms.

Writes under src/test/resources/golden/official/ (all small):
  dinov2_tiny14/dinov2_tiny14_pretrain.pth
        a tiny random backbone (dim 16, 5 blocks, 2 heads, 4x4 position grid) with official names.
  dinov2_tiny14/dinov2_tiny14_{voc2012_linear,voc2012_ms,ade20k_linear}_head.pth
        mmcv-style head checkpoints with random weights and BatchNorm statistics, and an mmcv-like
        "meta" (strings, a tuple of class names, a palette list, nested dicts and numpy values,
        which torch.save pickles with numpy and _codecs globals).
  head_golden.safetensors
        feat.{linear,ms}.{0..3}: four random [2, 16, 3, 4] maps (the last four blocks' outputs);
        feat.ms.cls: a [2, 16] class token that the ms head must ignore (not in in_index);
        out.{linear,ms}: BNHeadRef's logits [2, 21, 3, 4] on them;
        input: 2 images [2, 3, 42, 56]; out.model.{linear,ms}: the grid logits [2, 21, 3, 4] of the
        whole model (backbone -> head) on them (the upsampling to the input size is mmseg's
        bilinear resize, checked by the model goldens).
"""
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dinov2_ref as ref  # noqa: E402
import st_io  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "test", "resources", "golden", "official")
BASE = "dinov2_tiny14"
DIM, DEPTH, HEADS, GRID = 16, 5, 2, 4
OUT_INDICES = [DEPTH - 4 + i for i in range(4)]   # the configs' out_indices: the last four blocks


class BNHeadRef(nn.Module):
    """mmseg BaseDecodeHead + DINOv2's BNHead in eval mode, input_transform='resize_concat'."""

    def __init__(self, in_index, channels, num_classes, align_corners=False):
        super().__init__()
        self.in_index = in_index
        self.align_corners = align_corners
        self.bn = nn.BatchNorm2d(channels)          # SyncBatchNorm in training; identical in eval
        self.conv_seg = nn.Conv2d(channels, num_classes, kernel_size=1)

    def transform_inputs(self, inputs):
        flat = []
        for x in inputs:
            flat.extend(x if isinstance(x, (list, tuple)) else [x])
        flat = [x[:, :, None, None] if x.dim() == 2 else x for x in flat]
        flat = [flat[i] for i in self.in_index]
        size = flat[0].shape[2:]
        return torch.cat([F.interpolate(x, size=size, mode="bilinear", align_corners=self.align_corners) for x in flat], dim=1)

    def forward(self, inputs):
        return self.conv_seg(self.bn(self.transform_inputs(inputs)))


class Segmentor(nn.Module):
    """Only for its state-dict names: mmseg's EncoderDecoder keeps the head as decode_head."""

    def __init__(self, head):
        super().__init__()
        self.decode_head = head


def randomize_head(head, gen):
    with torch.no_grad():
        head.bn.weight.copy_(1.0 + 0.3 * torch.randn(head.bn.weight.shape, generator=gen))
        head.bn.bias.copy_(0.2 * torch.randn(head.bn.bias.shape, generator=gen))
        head.bn.running_mean.copy_(0.5 * torch.randn(head.bn.running_mean.shape, generator=gen))
        head.bn.running_var.copy_(0.3 + torch.rand(head.bn.running_var.shape, generator=gen))
        head.bn.num_batches_tracked.fill_(40000)
        head.conv_seg.weight.copy_(0.3 * torch.randn(head.conv_seg.weight.shape, generator=gen))
        head.conv_seg.bias.copy_(0.1 * torch.randn(head.conv_seg.bias.shape, generator=gen))


def randomize_backbone(bb, gen):
    with torch.no_grad():
        for name, p in bb.named_parameters():
            if name.endswith("gamma"):
                p.copy_(0.5 + 0.3 * torch.randn(p.shape, generator=gen))
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias") or "norm" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))


def mmcv_meta(num_classes):
    """What mmcv's save_checkpoint and mmseg's runner put beside the weights (types as they are)."""
    return {
        "mmcv_version": "1.5.0",
        "time": "Thu Apr 13 10:00:00 2023",
        "env_info": "sys.platform: linux\nPython: 3.9",
        "config": "model = dict(type='EncoderDecoder', decode_head=dict(type='BNHead'))\n",
        "seed": 0,
        "exp_name": "config.py",
        "CLASSES": tuple("class%d" % i for i in range(num_classes)),
        "PALETTE": [[i, 2 * i % 256, 3 * i % 256] for i in range(num_classes)],
        "hook_msgs": {"last_ckpt": "/checkpoint/iter_40000.pth", "best_score": np.float64(0.5), "best_iter": np.int64(40000)},
        "epoch": 1,
        "iter": 40000,
        "stats": np.arange(6, dtype=np.float32).reshape(2, 3),
    }


def save_head(head, num_classes, dataset, kind):
    sd = Segmentor(head).state_dict()
    assert set(sd) == {"decode_head.bn.weight", "decode_head.bn.bias", "decode_head.bn.running_mean", "decode_head.bn.running_var",
                       "decode_head.bn.num_batches_tracked", "decode_head.conv_seg.weight", "decode_head.conv_seg.bias"}, sorted(sd)
    ck = {"meta": mmcv_meta(num_classes), "state_dict": OrderedDict(sd)}
    torch.save(ck, os.path.join(OUT, BASE, f"{BASE}_{dataset}_{kind}_head.pth"))


def main():
    os.makedirs(os.path.join(OUT, BASE), exist_ok=True)
    gen = torch.Generator().manual_seed(1616)
    bb = ref.DinoVisionTransformer(dim=DIM, depth=DEPTH, heads=HEADS, grid=GRID).eval()
    randomize_backbone(bb, gen)
    torch.save(bb.state_dict(), os.path.join(OUT, BASE, f"{BASE}_pretrain.pth"))

    heads = {
        "linear": BNHeadRef([3], DIM, 21).eval(),
        "ms": BNHeadRef([0, 1, 2, 3], 4 * DIM, 21).eval(),
    }
    for h in heads.values():
        randomize_head(h, gen)
    save_head(heads["linear"], 21, "voc2012", "linear")
    save_head(heads["ms"], 21, "voc2012", "ms")
    ade = BNHeadRef([3], DIM, 150).eval()
    randomize_head(ade, gen)
    save_head(ade, 150, "ade20k", "linear")

    t = OrderedDict()
    with torch.no_grad():
        for kind, head in heads.items():
            feats = [torch.randn(2, DIM, 3, 4, generator=gen) for _ in range(4)]
            for i, f in enumerate(feats):
                t[f"feat.{kind}.{i}"] = f
            inputs = feats
            if kind == "ms":   # a class token beside the maps, as a list entry: in_index must skip it
                cls = torch.randn(2, DIM, generator=gen)
                t["feat.ms.cls"] = cls
                inputs = feats + [cls]
            t[f"out.{kind}"] = head(inputs)
        x = torch.randn(2, 3, 42, 56, generator=gen)
        t["input"] = x
        feats = bb.get_intermediate_layers(x, n=OUT_INDICES, reshape=True)
        for kind, head in heads.items():
            grid = head(list(feats))
            t[f"out.model.{kind}"] = grid
    st_io.write(os.path.join(OUT, "head_golden.safetensors"), t,
                {"backbone": f"dim {DIM}, depth {DEPTH}, heads {HEADS}, grid {GRID}", "out_indices": str(OUT_INDICES)})
    for root, _, files in os.walk(OUT):
        for f in sorted(files):
            print(os.path.relpath(os.path.join(root, f), OUT), os.path.getsize(os.path.join(root, f)))


if __name__ == "__main__":
    main()
