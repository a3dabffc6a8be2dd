#!/usr/bin/env python3
"""Writes a Pascal-VOC-layout segmentation dataset of real-size, photo-like pictures for timing whole
training epochs (dinoseg `train` against tools/epoch_peer.py on the same files). Never commit its
output: write it outside the repository (default /tmp/epoch_voc).

    /usr/bin/python3 tools/make_epoch_dataset.py [--out /tmp/epoch_voc] [--train 368] [--val 48] [--seed 0]

Layout (what dinoseg.data.Datasets reads as VOC and `--data DIR` accepts):
    OUT/VOC2012/JPEGImages/NNNNNN.jpg   (every 8th picture a .png instead)
    OUT/VOC2012/SegmentationClass/NNNNNN.png   palettized PNG, the VOC palette, values 0..5 and 255
    OUT/VOC2012/ImageSets/Segmentation/{train,val}.txt

Pictures are 500x375, 480x360, 375x500 or 640x427 (as VOC's and street-scene photos are), each a smooth
two-colour gradient sky/ground, value-noise texture, and 3-7 filled shapes (ellipses, rectangles,
triangles) of classes 1..5 with their own gradients and texture, plus sensor noise; a JPEG at quality
90 (4:2:0) then takes ~40-90 KB, as a photo of that size does. Masks hold the shapes' classes on
background 0 with a 2-pixel ring of 255 (VOC's 'ignored' boundary) around each shape. Everything is a
function of --seed (numpy's PCG64), so two runs write identical files.

Needs numpy and PIL (Debian's python3-pil; /usr/bin/python3 has both).
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image

SIZES = [(500, 375), (480, 360), (375, 500), (640, 427)]
CLASSES = 5  # foreground classes 1..5 (VOC's aeroplane..bottle); 0 background


def voc_palette():
    """VOC's palette: class k's colour from the bits of k (DESIGN.md); 256 entries."""
    pal = []
    for k in range(256):
        r = g = b = 0
        c = k
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def value_noise(rng, h, w, cell):
    """Smooth noise in [0, 1): a random grid of cell-pixel spacing, bilinearly upsampled."""
    gh, gw = h // cell + 2, w // cell + 2
    grid = rng.random((gh, gw))
    ys = np.arange(h) / cell
    xs = np.arange(w) / cell
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a = grid[y0][:, x0]
    b = grid[y0][:, x0 + 1]
    c = grid[y0 + 1][:, x0]
    d = grid[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def gradient(rng, h, w, c0, c1):
    """A linear gradient between two RGB colours along a random direction; [h, w, 3] floats."""
    t = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    p = (np.cos(t) * xx + np.sin(t) * yy)
    p = (p - p.min()) / max(1e-6, p.max() - p.min())
    return c0[None, None, :] * (1 - p[..., None]) + c1[None, None, :] * p[..., None]


def shape_mask(rng, h, w):
    """One filled shape (ellipse, rectangle or triangle) of random place and size; bool [h, w]."""
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    rx, ry = rng.uniform(0.06, 0.3) * w, rng.uniform(0.06, 0.3) * h
    kind = rng.integers(3)
    if kind == 0:
        return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    if kind == 1:
        return (np.abs(xx - cx) <= rx) & (np.abs(yy - cy) <= ry)
    pts = np.stack([rng.uniform(cx - rx, cx + rx, 3), rng.uniform(cy - ry, cy + ry, 3)], 1)
    inside = np.ones((h, w), bool)
    sign = None
    for i in range(3):
        (x1, y1), (x2, y2) = pts[i], pts[(i + 1) % 3]
        s = (x2 - x1) * (yy - y1) - (y2 - y1) * (xx - x1)
        if sign is None:
            sign = np.sign((x2 - x1) * (pts[(i + 2) % 3][1] - y1) - (y2 - y1) * (pts[(i + 2) % 3][0] - x1)) or 1.0
        inside &= s * sign >= 0
    return inside


def ring(mask, width=2):
    """Pixels within `width` of the shape's edge, outside or inside (a cheap dilation minus erosion)."""
    dil, ero = mask.copy(), mask.copy()
    for _ in range(width):
        d, e = dil.copy(), ero.copy()
        for axis in (0, 1):
            for step in (1, -1):
                d |= np.roll(dil, step, axis)
                e &= np.roll(ero, step, axis)
        dil, ero = d, e
    return dil & ~ero


def sample(rng):
    """One picture (uint8 [h, w, 3]) and its label map (uint8 [h, w]: 0..5, 255 on boundaries)."""
    w, h = SIZES[rng.integers(len(SIZES))]
    img = gradient(rng, h, w, rng.uniform(0, 255, 3), rng.uniform(0, 255, 3))
    img += (value_noise(rng, h, w, int(rng.integers(8, 40)))[..., None] - 0.5) * rng.uniform(20, 70)
    lab = np.zeros((h, w), np.uint8)
    edge = np.zeros((h, w), bool)
    for _ in range(int(rng.integers(3, 8))):
        m = shape_mask(rng, h, w)
        if not m.any():
            continue
        k = int(rng.integers(1, CLASSES + 1))
        fill = gradient(rng, h, w, rng.uniform(0, 255, 3), rng.uniform(0, 255, 3))
        fill += (value_noise(rng, h, w, int(rng.integers(3, 12)))[..., None] - 0.5) * rng.uniform(30, 90)
        img[m] = fill[m]
        lab[m] = k
        edge &= ~m
        edge |= ring(m)
    img += rng.normal(0, rng.uniform(2, 8), img.shape)
    lab[edge] = 255
    return np.clip(img, 0, 255).astype(np.uint8), lab


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="/tmp/epoch_voc", help="dataset folder (default: /tmp/epoch_voc); refused inside a git work tree")
    p.add_argument("--train", type=int, default=368, help="training pairs (default: 368)")
    p.add_argument("--val", type=int, default=48, help="validation pairs (default: 48)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quality", type=int, default=90, help="JPEG quality (default: 90)")
    a = p.parse_args(argv)
    if a.train < 1 or a.val < 1:
        p.error("--train and --val must be at least 1")
    out = os.path.abspath(a.out)
    d = out
    while d != os.path.dirname(d):
        if os.path.exists(os.path.join(d, ".git")):
            p.error("--out %s lies in the git work tree %s: generated data is never committed, write it elsewhere (e.g. /tmp)" % (out, d))
        d = os.path.dirname(d)
    root = os.path.join(out, "VOC2012")
    dirs = [os.path.join(root, s) for s in ("JPEGImages", "SegmentationClass", os.path.join("ImageSets", "Segmentation"))]
    for x in dirs:
        os.makedirs(x, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    pal = voc_palette()
    ids = ["%06d" % i for i in range(a.train + a.val)]
    total = 0
    for i, sid in enumerate(ids):
        img, lab = sample(rng)
        png = i % 8 == 7
        path = os.path.join(dirs[0], sid + (".png" if png else ".jpg"))
        for ext in (".jpg", ".png"):  # a rerun with other settings must not leave a second picture of the same stem
            other = os.path.join(dirs[0], sid + ext)
            if other != path and os.path.exists(other):
                os.remove(other)
        if png:
            Image.fromarray(img, "RGB").save(path)
        else:
            Image.fromarray(img, "RGB").save(path, quality=a.quality)
        m = Image.fromarray(lab, "P")
        m.putpalette(pal)
        m.save(os.path.join(dirs[1], sid + ".png"))
        total += os.path.getsize(path)
        if (i + 1) % 50 == 0:
            print("%d/%d" % (i + 1, len(ids)), file=sys.stderr)
    with open(os.path.join(dirs[2], "train.txt"), "w") as f:
        f.write("\n".join(ids[:a.train]) + "\n")
    with open(os.path.join(dirs[2], "val.txt"), "w") as f:
        f.write("\n".join(ids[a.train:]) + "\n")
    print("%s: %d train / %d val pairs, pictures %.1f MB" % (out, a.train, a.val, total / 1e6))


if __name__ == "__main__":
    main()
