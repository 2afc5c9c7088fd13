"""Result images: real PNG files, written with nothing but ``zlib`` and ``struct``.

genhook mirrors result images and a dashboard shows them, so a result URL that serves
placeholder text would hide bugs (wrong content type, truncated downloads). Each image
is a small diagonal gradient whose colours come from a hash of the task id and image
index: different tasks look different, and the same URL always yields the same bytes.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from functools import lru_cache

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MEDIA_TYPE = "image/png"

Rgb = tuple[int, int, int]


def encode_png(width: int, height: int, rows: list[bytes]) -> bytes:
    """Encode 8-bit RGB ``rows`` (``width * 3`` bytes each) as a PNG file."""
    if width <= 0 or height <= 0:
        raise ValueError("a PNG needs a positive width and height")
    if len(rows) != height or any(len(row) != width * 3 for row in rows):
        raise ValueError("rows do not match width x height x RGB")
    # Filter type 0 ("None") before every scanline, as the format requires.
    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit, truecolour
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def palette(seed: str) -> tuple[Rgb, Rgb]:
    """Two colours derived from ``seed``: the gradient's start and end."""
    digest = hashlib.sha256(seed.encode()).digest()
    return (digest[0], digest[1], digest[2]), (digest[3], digest[4], digest[5])


@lru_cache(maxsize=256)
def task_image(task_id: str, index: int, size: int) -> bytes:
    """The ``index``-th result image of ``task_id``: a ``size`` x ``size`` gradient PNG."""
    start, end = palette(f"{task_id}/{index}")
    span = max(2 * (size - 1), 1)
    # Pixels on one anti-diagonal share a colour, so compute each colour once.
    shades = [
        bytes(round(a + (b - a) * step / span) for a, b in zip(start, end, strict=True))
        for step in range(2 * size - 1)
    ]
    rows = [b"".join(shades[x + y] for x in range(size)) for y in range(size)]
    return encode_png(size, size, rows)


def png_dimensions(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk; ``ValueError`` if it is not a PNG."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
