"""Download one result image, streamed to disk, under the mirror's rules.

Result URLs come from providers, and through them from whoever controls a CDN or a
redirect, so every download is treated as untrusted input:

* every hop is checked, redirects included (followed by hand, at most
  :data:`MAX_REDIRECTS`): the client is :func:`receiver.netguard.guarded_client`, which
  connects only to addresses it resolved and checked for that connection, so a URL
  whose host resolves to a private, loopback or link-local address is refused
  unless ``allow_private`` (tests and the local simulator need it), and a resolver
  that answers differently a moment later (DNS rebinding) gains nothing;
* the body is streamed to a staging file while it is hashed and counted, so a
  50 MiB image never sits in memory and a body over ``max_bytes`` is cut off at the
  limit (a ``Content-Length`` over the limit is refused before reading anything);
* a declared content type that is not an image is refused before the body is read;
  what is kept is decided by the bytes (:mod:`receiver.assets.imageinfo`), and served under
  the type the bytes say.

Outcomes are exceptions of two kinds (:mod:`receiver.errors`): a refusal is final,
a failure (network, timeout, 404, 408, 429, 5xx) is worth retrying later. 404 is
retried because CDNs often answer it for a few seconds after a task completes.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx

from receiver import netguard
from receiver.assets.imageinfo import ImageInfo, image_info
from receiver.errors import (
    AssetFetchFailedError,
    AssetRefusedError,
    NotAnImageError,
    TargetRefusedError,
)

MAX_REDIRECTS = 5
ACCEPT = "image/png, image/jpeg, image/webp, image/gif;q=0.9, */*;q=0.1"
# Declared types that say nothing either way: the bytes decide.
_UNTYPED = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_RETRYABLE_STATUS = frozenset({404, 408, 425, 429})


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    max_bytes: int
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class Fetched:
    """A downloaded image, in its staging file, with what we measured of it."""

    staged: Path
    final_url: str
    info: ImageInfo
    byte_size: int
    sha256: str


async def fetch_image(
    http: httpx.AsyncClient, url: str, staged: Path, policy: FetchPolicy
) -> Fetched:
    """Download ``url`` into ``staged``; raise :class:`AssetRefusedError` or
    :class:`AssetFetchFailedError` when it cannot be kept (``staged`` is then left to
    the caller to remove)."""
    try:
        async with asyncio.timeout(policy.timeout_seconds):
            return await _fetch(http, url, staged, policy)
    except TimeoutError:
        raise AssetFetchFailedError(
            "timeout", f"download took longer than {policy.timeout_seconds:g} s"
        ) from None
    except TargetRefusedError as exc:
        raise AssetRefusedError("private_address", str(exc)) from None
    except httpx.TransportError as exc:
        raise AssetFetchFailedError("network", f"{type(exc).__name__}: {exc}") from None


async def _fetch(http: httpx.AsyncClient, url: str, staged: Path, policy: FetchPolicy) -> Fetched:
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        check_target(current)
        async with http.stream(
            "GET", current, headers={"Accept": ACCEPT}, follow_redirects=False
        ) as response:
            if response.is_redirect:
                current = urljoin(current, response.headers["location"])
                continue
            _check_status(response.status_code)
            _check_declared(response, policy.max_bytes)
            size, digest = await _stream_to(response, staged, policy.max_bytes)
        try:
            info = await asyncio.to_thread(_read_info, staged)
        except NotAnImageError as exc:
            raise NotAnImageError(f"the body is not an image we keep: {exc}") from None
        return Fetched(staged, current, info, size, digest)
    raise AssetRefusedError("too_many_redirects", f"more than {MAX_REDIRECTS} redirects")


def check_target(url: str) -> None:
    """Refuse a URL that is not one we could request (the address is the client's to
    check, when it connects; a name that does not resolve *now* is a network failure
    to retry, not a refusal: DNS has bad minutes too)."""
    try:
        netguard.split_http_url(url)
    except ValueError as exc:
        raise AssetRefusedError("invalid_url", str(exc)) from None


def _check_status(status: int) -> None:
    if 200 <= status < 300:
        return
    message = f"the source answered HTTP {status}"
    if status in _RETRYABLE_STATUS or status >= 500:
        raise AssetFetchFailedError(f"http_{status}", message)
    raise AssetRefusedError(f"http_{status}", message)


def _check_declared(response: httpx.Response, max_bytes: int) -> None:
    declared = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if declared not in _UNTYPED and not declared.startswith("image/"):
        raise AssetRefusedError("not_an_image", f"content type {declared!r} is not an image")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise AssetRefusedError(
            "too_large", f"Content-Length {int(length)} exceeds the limit of {max_bytes} bytes"
        )


async def _stream_to(response: httpx.Response, staged: Path, max_bytes: int) -> tuple[int, str]:
    """Write the body to ``staged`` as it arrives; stop at ``max_bytes``."""
    digest = hashlib.sha256()
    size = 0
    with staged.open("wb") as handle:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise AssetRefusedError("too_large", f"body exceeds the limit of {max_bytes} bytes")
            digest.update(chunk)
            await asyncio.to_thread(handle.write, chunk)
    return size, digest.hexdigest()


def _read_info(staged: Path) -> ImageInfo:
    with staged.open("rb") as handle:
        return image_info(handle)
