"""What kind of image a file is, and how many pixels it has, from its header alone.

The asset mirror records every result image's format and pixel size, and serves it
under the content type its *bytes* say, not the one a CDN claimed. Only the four
raster formats image gateways deliver are recognised: PNG, JPEG, WebP and GIF.
Anything else (SVG especially: served from our own origin it could run script in
the dashboard) is not an image we keep.

Hand-written rather than Pillow: we need a few header fields, not a decoder, and a
C-extension dependency that parses untrusted files is more attack surface than
these hundred lines. The parser reads from a seekable binary file and never more
than it must: JPEG's size sits in a frame header after an arbitrary number of
segments, so it hops from segment to segment with ``seek`` instead of reading the
file whole. Pure: no I/O beyond the file object it is given.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from receiver.errors import NotAnImageError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG "start of frame" markers (baseline, progressive, lossless, arithmetic...);
# C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not frames.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset(range(0xD0, 0xDA)) | {0x01}  # RSTn, SOI, EOI, TEM
_MAX_JPEG_SEGMENTS = 1000


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str  # png | jpeg | webp | gif
    width: int
    height: int

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "gif": "gif"}
MEDIA_TYPE_BY_EXTENSION = {EXTENSIONS[f]: MEDIA_TYPES[f] for f in MEDIA_TYPES}


def image_info(file: BinaryIO) -> ImageInfo:
    """Format and pixel size of the image in ``file`` (read from its start)."""
    file.seek(0)
    head = file.read(32)
    if head.startswith(PNG_SIGNATURE):
        info = _png(head)
    elif head[:6] in (b"GIF87a", b"GIF89a"):
        info = _gif(head)
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        info = _webp(head)
    elif head[:2] == b"\xff\xd8":
        info = _jpeg(file)
    else:
        raise NotAnImageError("not a PNG, JPEG, WebP or GIF file")
    if info.width <= 0 or info.height <= 0:
        raise NotAnImageError(f"{info.format} header gives no pixel size")
    return info


def _png(head: bytes) -> ImageInfo:
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise NotAnImageError("PNG without an IHDR header")
    width, height = struct.unpack(">II", head[16:24])
    return ImageInfo("png", width, height)


def _gif(head: bytes) -> ImageInfo:
    if len(head) < 10:
        raise NotAnImageError("truncated GIF header")
    width, height = struct.unpack("<HH", head[6:10])
    return ImageInfo("gif", width, height)


def _webp(head: bytes) -> ImageInfo:
    if len(head) < 30:
        raise NotAnImageError("truncated WebP header")
    chunk = head[12:16]
    if chunk == b"VP8 ":  # lossy: key frame start code, then 14-bit sizes
        if head[23:26] != b"\x9d\x01\x2a":
            raise NotAnImageError("WebP VP8 chunk without a key frame")
        width, height = struct.unpack("<HH", head[26:30])
        return ImageInfo("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L":  # lossless: signature byte, then width-1 and height-1 in 14 bits
        if head[20] != 0x2F:
            raise NotAnImageError("WebP VP8L chunk without its signature")
        (bits,) = struct.unpack("<I", head[21:25])
        return ImageInfo("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":  # extended: canvas width-1 and height-1 in 24 bits each
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return ImageInfo("webp", width, height)
    raise NotAnImageError(f"unknown WebP chunk {chunk!r}")


def _jpeg(file: BinaryIO) -> ImageInfo:
    """Walk the segments after SOI until a start-of-frame gives the size."""
    file.seek(2)
    for _ in range(_MAX_JPEG_SEGMENTS):
        byte = file.read(1)
        if byte != b"\xff":
            raise NotAnImageError("JPEG segment does not start with 0xFF")
        marker = file.read(1)
        while marker == b"\xff":  # fill bytes may pad between segments
            marker = file.read(1)
        if not marker:
            break
        code = marker[0]
        if code in _JPEG_STANDALONE:
            continue
        length_bytes = file.read(2)
        if len(length_bytes) < 2:
            break
        (length,) = struct.unpack(">H", length_bytes)
        if length < 2:
            raise NotAnImageError("JPEG segment with an impossible length")
        if code in _JPEG_SOF:
            frame = file.read(5)
            if len(frame) < 5:
                break
            height, width = struct.unpack(">HH", frame[1:5])
            return ImageInfo("jpeg", width, height)
        if code == 0xDA:  # start of scan before any frame header
            raise NotAnImageError("JPEG scan data before a frame header")
        file.seek(length - 2, 1)
    raise NotAnImageError("JPEG ends before its frame header")
