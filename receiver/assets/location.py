"""``GENHOOK_ASSETS_STORE``: where mirrored images are kept, as one URL.

Pure parsing, no I/O, so the settings object can refuse a bad value the moment it
is read (a process that would only fail at its first image download starts with a
clear message instead). ``None`` or ``""`` means the local disk (the embedded
default); ``s3://bucket`` or ``s3://bucket/some/prefix`` an S3-compatible bucket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# S3's rules for bucket names (the strict, DNS-compatible ones every S3 server accepts).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix inside it (``""``: the bucket's root)."""

    bucket: str
    prefix: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse_store_url(url: str) -> S3Location:
    """``s3://bucket[/prefix]`` as an :class:`S3Location`; ``ValueError`` saying what is
    wrong otherwise (another scheme, a bucket name S3 refuses, an empty or ``..``
    segment in the prefix)."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower() != "s3":
        raise ValueError(f"must be s3://bucket or s3://bucket/prefix, not {url!r}")
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ValueError(
            f"{bucket!r} is not an S3 bucket name (3-63 characters: lower-case letters, "
            "digits, dots and hyphens, starting and ending with a letter or digit)"
        )
    prefix = prefix.strip("/")
    segments = prefix.split("/") if prefix else []
    for segment in segments:
        if not _SEGMENT.match(segment) or segment in (".", ".."):
            raise ValueError(
                f"prefix {prefix!r}: each part between slashes must be letters, digits, "
                "'.', '_' or '-', and not '.' or '..'"
            )
    return S3Location(bucket, prefix)
