"""Draw the brand logo (a white voucher on a teal tile) as ``logo.png`` and ``logo.svg``.

Standard library only: the PNG is written with zlib and struct. Run ``python scripts/make_logo.py``
after changing the drawing; both files are committed.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

SIZE = 256
SUPERSAMPLE = 4
TEAL = (11, 122, 117)
WHITE = (255, 255, 255)
TILE_RADIUS = 48
TICKET = (40, 76, 216, 180)  # left, top, right, bottom
NOTCH_RADIUS = 18
PERFORATION_X = 164
COIN = (102, 128, 30)  # centre x, centre y, radius

SVG = f"""<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" \
viewBox="0 0 {SIZE} {SIZE}">
  <rect width="{SIZE}" height="{SIZE}" rx="{TILE_RADIUS}" fill="rgb{TEAL}"/>
  <mask id="notches">
    <rect width="{SIZE}" height="{SIZE}" fill="white"/>
    <circle cx="{TICKET[0]}" cy="{(TICKET[1] + TICKET[3]) // 2}" r="{NOTCH_RADIUS}" fill="black"/>
    <circle cx="{TICKET[2]}" cy="{(TICKET[1] + TICKET[3]) // 2}" r="{NOTCH_RADIUS}" fill="black"/>
    <circle cx="{COIN[0]}" cy="{COIN[1]}" r="{COIN[2]}" fill="black"/>
  </mask>
  <rect x="{TICKET[0]}" y="{TICKET[1]}" width="{TICKET[2] - TICKET[0]}" \
height="{TICKET[3] - TICKET[1]}" rx="10" fill="white" mask="url(#notches)"/>
  <line x1="{PERFORATION_X}" y1="{TICKET[1] + 14}" x2="{PERFORATION_X}" y2="{TICKET[3] - 14}" \
stroke="rgb{TEAL}" stroke-width="6" stroke-dasharray="10 8"/>
</svg>
"""


def _inside(x: float, y: float) -> bool:
    """Whether a point is white (on the voucher, outside its notches, coin and perforation)."""
    left, top, right, bottom = TICKET
    if not (left <= x <= right and top <= y <= bottom):
        return False
    middle = (top + bottom) / 2
    for cx in (left, right):
        if (x - cx) ** 2 + (y - middle) ** 2 <= NOTCH_RADIUS**2:
            return False
    if (x - COIN[0]) ** 2 + (y - COIN[1]) ** 2 <= COIN[2] ** 2:
        return False
    on_dash = (y - top - 14) % 18 < 10 and top + 14 <= y <= bottom - 14
    return not (abs(x - PERFORATION_X) <= 3 and on_dash)


def _on_tile(x: float, y: float) -> bool:
    r = TILE_RADIUS
    cx = min(max(x, r), SIZE - r)
    cy = min(max(y, r), SIZE - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r**2


def _pixel(px: int, py: int) -> tuple[int, int, int, int]:
    tile = white = 0
    n = SUPERSAMPLE
    for sy in range(n):
        for sx in range(n):
            x, y = px + (sx + 0.5) / n, py + (sy + 0.5) / n
            if _on_tile(x, y):
                tile += 1
                white += _inside(x, y)
    if tile == 0:
        return (0, 0, 0, 0)
    share = white / tile
    rgb = [round(t + (w - t) * share) for t, w in zip(TEAL, WHITE, strict=True)]
    return (rgb[0], rgb[1], rgb[2], round(255 * tile / n**2))


def png_bytes() -> bytes:
    rows = bytearray()
    for py in range(SIZE):
        rows.append(0)  # filter: none
        for px in range(SIZE):
            rows.extend(_pixel(px, py))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    here = Path(__file__).resolve().parent.parent / "manifest"
    (here / "logo.png").write_bytes(png_bytes())
    (here / "logo.svg").write_text(SVG, encoding="utf-8")


if __name__ == "__main__":
    main()
