#!/usr/bin/env python3
"""Draws the site's PNG images (our own, no third-party artwork) with only the standard library.

Run from web-dynamic/: python3 tools/make_images.py  (writes static/images/*.png).
Changing an image changes its fingerprint, so its cache_id in the pages changes too.
"""
import struct
import zlib
from pathlib import Path

RED = (255, 90, 95, 255)
GREY = (72, 72, 72, 255)
CLEAR = (0, 0, 0, 0)

# 5x7 glyphs for the logo.
FONT = {
    "h": ["10000", "10000", "10110", "11001", "10001", "10001", "10001"],
    "b": ["10000", "10000", "11110", "10001", "10001", "10001", "11110"],
    "n": ["00000", "00000", "10110", "11001", "10001", "10001", "10001"],
    "B": ["11110", "10001", "10001", "11110", "10001", "10001", "11110"],
}


def png(width, height, pixel):
    rows = b""
    for y in range(height):
        rows += b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def logo(x, y):
    text, scale, left, top = "hbnB", 5, 6, 12
    cell = x - left
    if cell < 0 or y < top:
        return CLEAR
    glyph, gx = divmod(cell // scale, 6)
    gy = (y - top) // scale
    if glyph >= len(text) or gx >= 5 or gy >= 7:
        return CLEAR
    return RED if FONT[text[glyph]][gy][gx] == "1" else CLEAR


def icon(x, y):
    dx, dy = x - 15.5, y - 15.5
    return RED if dx * dx + dy * dy <= 15 * 15 else CLEAR


def group(x, y):
    # two heads and shoulders
    for cx in (10, 22):
        if (x - cx) ** 2 + (y - 10) ** 2 <= 16:
            return GREY
        if y >= 17 and y <= 28 and abs(x - cx) <= 6 - max(0, 20 - y):
            return GREY
    return CLEAR


def bed(x, y):
    if 4 <= x <= 27 and 16 <= y <= 21:
        return GREY  # mattress
    if 4 <= x <= 6 and 8 <= y <= 26:
        return GREY  # headboard
    if 25 <= x <= 27 and 21 <= y <= 26:
        return GREY  # foot
    if 8 <= x <= 13 and 12 <= y <= 15:
        return GREY  # pillow
    return CLEAR


def bath(x, y):
    if 3 <= x <= 28 and 15 <= y <= 17:
        return GREY  # rim
    if 5 <= x <= 26 and 18 <= y <= 24 and not (8 <= x <= 23 and y <= 21):
        return GREY  # tub
    if x in (7, 8, 23, 24) and 25 <= y <= 27:
        return GREY  # feet
    if 5 <= x <= 6 and 5 <= y <= 14:
        return GREY  # tap
    return CLEAR


def main():
    out = Path(__file__).resolve().parent.parent / "static" / "images"
    out.mkdir(parents=True, exist_ok=True)
    for name, size, draw in [
        ("logo.png", (142, 60), logo),
        ("icon.png", (32, 32), icon),
        ("icon_group.png", (32, 32), group),
        ("icon_bed.png", (32, 32), bed),
        ("icon_bath.png", (32, 32), bath),
    ]:
        (out / name).write_bytes(png(*size, draw))
        print("wrote", out / name)


if __name__ == "__main__":
    main()
