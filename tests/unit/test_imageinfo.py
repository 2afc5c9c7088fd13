"""Image format and pixel size from headers: every format, and no crash on junk."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receiver.assets.imageinfo import ImageInfo, image_info
from receiver.errors import NotAnImageError
from receiver.simulator.images import encode_png, task_image


def info(data: bytes) -> ImageInfo:
    return image_info(io.BytesIO(data))


def jpeg(width: int, height: int, *, sof: int = 0xC0, before_frame: bytes = b"") -> bytes:
    app0 = (
        b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x01\x02\x00\x00\x01\x00\x01\x00\x00"
    )
    frame = (
        bytes([0xFF, sof]) + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00" * 3
    )
    return (
        b"\xff\xd8" + app0 + before_frame + frame + b"\xff\xda\x00\x02" + b"\x00" * 50 + b"\xff\xd9"
    )


def riff(chunk: bytes, payload: bytes) -> bytes:
    body = b"WEBP" + chunk + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_png_from_the_simulator() -> None:
    assert info(task_image("t", 0, 64)) == ImageInfo("png", 64, 64)
    assert info(encode_png(3, 2, [b"\0" * 9, b"\0" * 9])) == ImageInfo("png", 3, 2)
    assert info(task_image("t", 0, 64)).media_type == "image/png"


def test_gif() -> None:
    assert info(b"GIF89a" + struct.pack("<HH", 320, 200) + b"\0" * 30) == ImageInfo("gif", 320, 200)
    assert info(b"GIF87a" + struct.pack("<HH", 1, 1) + b"\0" * 30).extension == "gif"


def test_jpeg_walks_segments_to_the_frame_header() -> None:
    assert info(jpeg(1024, 768)) == ImageInfo("jpeg", 1024, 768)
    assert info(jpeg(640, 480, sof=0xC2)) == ImageInfo("jpeg", 640, 480)  # progressive
    # a Huffman table (C4) sits in the SOF range but is not a frame; fill bytes pad segments
    dht = b"\xff\xc4" + struct.pack(">H", 6) + b"\x00\x01\x02\x03"
    assert info(jpeg(17, 9, before_frame=dht + b"\xff\xff")) == ImageInfo("jpeg", 17, 9)
    # a large EXIF segment before the frame is skipped, not read
    exif = b"\xff\xe1" + struct.pack(">H", 60002) + b"\0" * 60000
    assert info(jpeg(4000, 3000, before_frame=exif)) == ImageInfo("jpeg", 4000, 3000)
    assert info(jpeg(1, 1)).extension == "jpg"


def test_webp_in_all_three_encodings() -> None:
    lossy = riff(b"VP8 ", b"\x30\x01\x00\x9d\x01\x2a" + struct.pack("<HH", 800, 600) + b"\0" * 8)
    assert info(lossy) == ImageInfo("webp", 800, 600)
    bits = (511 - 1) | ((300 - 1) << 14)
    lossless = riff(b"VP8L", b"\x2f" + struct.pack("<I", bits) + b"\0" * 8)
    assert info(lossless) == ImageInfo("webp", 511, 300)
    extended = riff(
        b"VP8X", b"\x10\0\0\0" + (2047).to_bytes(3, "little") + (99).to_bytes(3, "little")
    )
    assert info(extended) == ImageInfo("webp", 2048, 100)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
        b"<html>error</html>",
        b"\x89PNG\r\n\x1a\n",  # signature only
        task_image("t", 0, 8)[:20],  # truncated IHDR
        b"\xff\xd8\xff\xda" + b"\0" * 40,  # scan before frame
        b"\xff\xd8\xff\xe0\x00\x10JFIF",  # ends before its frame
        b"GIF89a\x00\x00\x00\x00" + b"\0" * 30,  # zero size
        riff(b"VP9 ", b"\0" * 20),
    ],
)
def test_what_is_not_a_readable_image_is_refused(data: bytes) -> None:
    with pytest.raises(NotAnImageError):
        info(data)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_parser(data: bytes) -> None:
    for candidate in (
        data,
        b"\xff\xd8" + data,
        b"RIFF\0\0\0\0WEBP" + data,
        b"\x89PNG\r\n\x1a\n" + data,
    ):
        try:
            parsed = info(candidate)
        except NotAnImageError:
            continue
        assert parsed.width > 0 and parsed.height > 0
