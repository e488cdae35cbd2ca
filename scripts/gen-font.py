#!/usr/bin/env python3
"""Writes src/overlay/font.rs: printable ASCII as 8×14 bitmaps rendered from DejaVu Sans Mono Bold
(Bitstream Vera / DejaVu fonts licence, which permits derived bitmaps). Needs Pillow and
fonts-dejavu-core. Run once; the output is committed."""
from PIL import Image, ImageDraw, ImageFont

W, H = 8, 14
font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf", 12)
rows = []
for code in range(32, 127):
    img = Image.new("L", (W, H), 0)
    ImageDraw.Draw(img).text((0, -1), chr(code), font=font, fill=255)
    bits = []
    for y in range(H):
        v = 0
        for x in range(W):
            if img.getpixel((x, y)) >= 96:
                v |= 1 << (W - 1 - x)
        bits.append(v)
    rows.append(bits)
with open("src/overlay/font.rs", "w") as f:
    f.write("//! Printable ASCII (32–126) as 8×14 bitmaps, one byte per row, MSB = left pixel.\n")
    f.write("//! Rendered from DejaVu Sans Mono Bold (DejaVu fonts licence) by scripts/gen-font.py.\n\n")
    f.write(f"/// Glyph width in pixels.\npub const WIDTH: usize = {W};\n/// Glyph height in pixels.\npub const HEIGHT: usize = {H};\n\n")
    f.write(f"/// Bitmaps of characters 32..=126.\npub const GLYPHS: [[u8; {H}]; 95] = [\n")
    for code, bits in zip(range(32, 127), rows):
        f.write("    [" + ", ".join(f"0x{b:02x}" for b in bits) + f"], // {chr(code)!r}\n")
    f.write("];\n")
