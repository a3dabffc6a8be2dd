#!/usr/bin/env python3
"""Writes the image-decoding fixtures of src/test/resources/images/ and, for each, <name>.pil.png:
the 8-bit RGB picture PIL gives for it (np.array(Image.open(f).convert("RGB")), after
ImageOps.exif_transpose for the orientation fixtures), which ImageDecodingTest compares the
project's decoder with. Run from the repository root with a python3 that has numpy and PIL:
    /usr/bin/python3 tools/make_image_fixtures.py
16-bit PNGs are written by hand (PIL cannot write 16-bit grey+alpha or 48-bit RGB); their expected
picture is the high byte of each sample (v >> 8), as PIL reduces 48-bit RGB and 16-bit grey+alpha
and as OpenCV's IMREAD_COLOR does within rounding. For plain 16-bit grey PIL is no reference: its
mode "I" clips every value above 255 to white (printed at the end, for the record)."""
import os, struct, zlib
import numpy as np
from PIL import Image, ImageOps

D = "src/test/resources/images"
W, H = 40, 28

def picture(w=W, h=H):
    """Flat colour blocks plus a gradient row band, asymmetric so that a rotation or flip shows."""
    a = np.zeros((h, w, 3), np.uint8)
    cols = [(255, 0, 0), (0, 160, 0), (40, 40, 200), (128, 128, 128), (20, 20, 20), (250, 250, 250), (200, 120, 30), (90, 10, 160)]
    bw = w // 4
    for i, c in enumerate(cols):
        y0 = 0 if i < 4 else h // 2 - 4
        a[y0:y0 + h // 2 - 4, (i % 4) * bw:(i % 4 + 1) * bw] = c
    a[h - 6:, :] = np.linspace(0, 255, w, dtype=np.uint8)[None, :, None]
    a[:3, :3] = (255, 255, 0)  # a corner mark
    return a

def write_png(path, w, h, depth, ctype, rows):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + r for r in rows)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0)) \
        + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    open(path, "wb").write(data)

def expect(name, rgb):
    Image.fromarray(np.asarray(rgb, np.uint8), "RGB").save(f"{D}/{name}.pil.png")

def pil(name):
    im = Image.open(f"{D}/{name}")
    return np.array(ImageOps.exif_transpose(im).convert("RGB"))

os.makedirs(D, exist_ok=True)
pic = picture()
rgb = Image.fromarray(pic, "RGB")
grey = np.asarray(rgb.convert("L"))
alpha = (np.arange(W)[None, :] * 6 % 256).astype(np.uint8).repeat(H, 0)

# CMYK (Adobe APP14, inverted, as PIL and Photoshop write it) and YCCK-free CMYK: PIL's naive conversion back
rgb.convert("CMYK").save(f"{D}/cmyk.jpg", quality=100, subsampling=0)
# an RGB JPEG carrying a non-sRGB (linear RGB) ICC profile: PIL ignores the profile
rgb.save(f"{D}/rgb_icc.jpg", quality=100, subsampling=0, icc_profile=open(f"{D}/linear_rgb.icc", "rb").read())
Image.fromarray(grey, "L").save(f"{D}/grey.jpg", quality=100)
Image.fromarray(grey, "L").save(f"{D}/grey8.png")
Image.fromarray(np.dstack([grey, alpha]), "LA").save(f"{D}/grey8_alpha.png")
rgba = np.dstack([pic, alpha])
Image.fromarray(rgba, "RGBA").save(f"{D}/rgba.png")
pal = rgb.quantize(16)
pal.save(f"{D}/palette.png")
pal.save(f"{D}/palette_trns.png", transparency=0)
g16 = (grey.astype(np.uint16) * 256 + (np.arange(W)[None, :] * 6 % 256)).astype(">u2")  # low byte varies
write_png(f"{D}/grey16.png", W, H, 16, 0, [r.tobytes() for r in g16])
a16 = (alpha.astype(np.uint16) * 257).astype(">u2")
ga16 = np.dstack([g16, a16]).astype(">u2")  # dstack returns native byte order
write_png(f"{D}/grey16_alpha.png", W, H, 16, 4, [ga16[y].tobytes() for y in range(H)])
c16 = (pic.astype(np.uint16) * 256 + 77).astype(">u2")
write_png(f"{D}/rgb16.png", W, H, 16, 2, [c16[y].tobytes() for y in range(H)])

for n in ["cmyk.jpg", "rgb_icc.jpg", "grey.jpg", "grey8.png", "grey8_alpha.png", "rgba.png", "palette.png", "palette_trns.png"]:
    expect(n, pil(n))
expect("grey16.png", np.dstack([(g16.astype(np.uint16) >> 8).astype(np.uint8)] * 3))
expect("grey16_alpha.png", np.dstack([(g16.astype(np.uint16) >> 8).astype(np.uint8)] * 3))
expect("rgb16.png", (c16.astype(np.uint16) >> 8).astype(np.uint8))

# EXIF orientations 1..8 on a 40x28 JPEG: the expected picture is what a viewer shows (exif_transpose)
for o in range(1, 9):
    ex = Image.Exif(); ex[0x0112] = o
    rgb.save(f"{D}/orient{o}.jpg", quality=100, subsampling=0, exif=ex.tobytes())
    expect(f"orient{o}.jpg", pil(f"orient{o}.jpg"))

# what PIL itself makes of the 16-bit files, for the record (printed, not used)
for n in ["grey16.png", "grey16_alpha.png", "rgb16.png"]:
    im = Image.open(f"{D}/{n}")
    print(n, im.mode, "PIL convert('RGB') at the last pixel:", np.array(im.convert("RGB"))[H - 1, W - 1],
          "high byte:", np.array(Image.open(f"{D}/{n}.pil.png"))[H - 1, W - 1])
