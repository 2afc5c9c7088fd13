"""Where mirrored result images live: a small interface, and the local-disk store.

The mirror downloads into a *staging* file on local disk (so it can hash, measure
and sniff the bytes before deciding to keep them), then hands the finished file to
the store under a key ``<task id>/<n>.<ext>``. A store only has to take a finished
file, say whether a key exists, and give it back: the S3-compatible store
(:mod:`receiver.assets.s3`) fits the same :class:`AssetStore` (``put`` uploads,
``local_file`` returns None and the assets route streams ``read`` instead of sending
a file, or redirects to ``presigned_url``). ``check`` is the start-up probe.

Keys are built by genhook from a task id and an index, never from a URL or a
request; :func:`validate_key` still checks every key it is given, because the
assets route receives keys from the outside.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from receiver.assets.imageinfo import MEDIA_TYPE_BY_EXTENSION

_KEY = re.compile(
    r"^tsk_[0-9A-Za-z]{1,36}/(0|[1-9][0-9]{0,3})\.(" + "|".join(MEDIA_TYPE_BY_EXTENSION) + r")$"
)
READ_CHUNK = 64 * 1024


def asset_key(task_id: str, position: int, extension: str) -> str:
    """The key of the image at ``position`` (0-based, in ``result_urls``) of ``task_id``.

    Named by its number, counted from 1 as everywhere a person sees images (the
    dashboard, ``watch --download``, the API's ``position``): ``tsk_.../1.png``. Keys
    made before that (``0.png``) stay valid.
    """
    return validate_key(f"{task_id}/{position + 1}.{extension}")


def validate_key(key: str) -> str:
    """``key`` if it is one genhook could have made; ``ValueError`` otherwise (no ``..``,
    no absolute paths, only the image extensions we store)."""
    if not _KEY.match(key):
        raise ValueError(f"not an asset key: {key!r}")
    return key


def media_type_of(key: str) -> str:
    return MEDIA_TYPE_BY_EXTENSION[key.rsplit(".", 1)[1]]


class AssetStore(Protocol):
    def staging_file(self) -> Path:
        """A new empty local file to download into (removed by ``put`` or by the caller)."""
        ...

    async def put(self, key: str, staged: Path) -> None:
        """Keep ``staged`` under ``key``, atomically: a reader sees the old object or the
        whole new one, never a partial file. ``staged`` is consumed."""
        ...

    async def exists(self, key: str) -> bool: ...

    def local_file(self, key: str) -> Path | None:
        """The file to send for ``key`` when the store is local disk; None if absent or
        if the store is remote (then use :meth:`read`)."""
        ...

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks; ``FileNotFoundError`` if there is none."""
        ...

    async def presigned_url(self, key: str) -> str | None:
        """A short-lived URL elsewhere to redirect ``/assets`` to; None to serve here."""
        ...

    async def check(self) -> None:
        """Refuse to start (``ConfigurationError``) if the store cannot be used."""
        ...


class LocalAssetStore:
    """Files under ``root`` (default ``<data dir>/assets``): ``root/<task id>/<n>.<ext>``.

    Staging files live in ``root/.staging`` on the same file system, so ``put`` is one
    ``os.replace`` (atomic) and a crash mid-download leaves at most a staging file,
    never a half-written asset.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._staging = self.root / ".staging"

    def staging_file(self) -> Path:
        self._staging.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=self._staging, suffix=".part")
        os.close(handle)
        return Path(name)

    async def put(self, key: str, staged: Path) -> None:
        target = self._path(key)
        await asyncio.to_thread(_replace, staged, target)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    def local_file(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    async def read(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        handle = await asyncio.to_thread(path.open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, READ_CHUNK):
                yield chunk
        finally:
            handle.close()

    async def presigned_url(self, key: str) -> str | None:
        return None  # files are sent by the assets route itself

    async def check(self) -> None:
        """Nothing to probe: the directory is made on the first write, and a disk that
        cannot take it fails that image, which is retried."""

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)


def _replace(staged: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(staged, 0o644)  # mkstemp makes 0600; the files are meant to be served
    os.replace(staged, target)
