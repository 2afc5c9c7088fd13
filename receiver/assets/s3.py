"""The S3-compatible asset store: mirrored images in a bucket every process can reach.

The local-disk store works while the web process and the worker share a disk. In a
split deployment (Procfile dynos, web and worker on different machines) the worker
mirrors an image that the web process must serve; both then point
``GENHOOK_ASSETS_STORE`` at the same ``s3://bucket/prefix``.

Built on `obstore <https://developmental-seed.github.io/obstore/>`_ (the Rust
``object_store`` crate behind a typed async API): one client per process, pooled
connections, request signing, multipart uploads for large files and presigned URLs,
with no hand-written S3 protocol here. What this module adds is genhook's contract:

- ``put`` uploads the finished staging file in one request (or one multipart upload
  above the part size): S3 makes an object visible only when it is complete, so a
  reader sees the old object or the whole new one, as on local disk. The object
  carries its ``Content-Type`` (for presigned downloads) and the staging file is
  removed afterwards, uploaded or not.
- every failure of the S3 server (unreachable, timeout, 5xx, access denied) is an
  :class:`~receiver.errors.AssetStoreUnavailableError`: the mirror retries the image
  on its schedule, ``/assets`` answers 503; a missing object is ``FileNotFoundError``
  (404), as on local disk.
- :meth:`S3AssetStore.check` is the start-up probe (one ``ListObjectsV2`` of at most
  a page under the prefix): a wrong endpoint, bucket or credentials stop a process
  at start with a message naming them, not at its first image.

Requests are bounded (``GENHOOK_ASSETS_S3_TIMEOUT_SECONDS``, connect 5 s at most) and
retried a few times by obstore within that bound, never for the library's default
three minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import obstore
from obstore.store import S3Store

from receiver.assets.location import S3Location
from receiver.assets.store import READ_CHUNK, media_type_of, validate_key
from receiver.errors import AssetStoreUnavailableError, ConfigurationError

if TYPE_CHECKING:
    from receiver.settings import AssetsSettings

# Upload in one PUT up to this size, multipart above (S3's minimum part is 5 MiB).
PART_BYTES = 8 * 1024 * 1024
CONNECT_SECONDS = 5.0
RETRIES = 2


class S3AssetStore:
    """Objects ``<prefix>/<task id>/<n>.<ext>`` in one bucket, staging on local disk.

    ``staging`` is a local directory for downloads in progress (the mirror hashes and
    sniffs a file before it is kept); it need not be shared between processes.
    """

    def __init__(
        self,
        location: S3Location,
        staging: Path,
        *,
        endpoint: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
        timeout_seconds: float,
        redirect_seconds: float | None = None,
    ) -> None:
        self.location = location
        self.endpoint = endpoint
        self._staging = staging
        self._redirect = timedelta(seconds=redirect_seconds) if redirect_seconds else None
        timeout = timedelta(seconds=timeout_seconds)
        config: dict[str, str] = {"region": region}
        if endpoint is not None:
            # Path-style addressing (http://host/bucket/key): what MinIO, SeaweedFS
            # and most S3-compatible servers expect; AWS accepts it too.
            config.update(endpoint=endpoint, virtual_hosted_style_request="false")
        self._keyed = access_key_id is not None and secret_access_key is not None
        if access_key_id is not None and secret_access_key is not None:
            config.update(access_key_id=access_key_id, secret_access_key=secret_access_key)
        self._s3 = S3Store(
            location.bucket,
            prefix=location.prefix or None,
            config=config,  # type: ignore[arg-type]  # S3Config is a TypedDict of strings
            client_options={
                "allow_http": endpoint is not None and endpoint.startswith("http://"),
                "connect_timeout": timedelta(seconds=min(CONNECT_SECONDS, timeout_seconds)),
                "timeout": timeout,
            },
            retry_config={"max_retries": RETRIES, "retry_timeout": timeout},
        )

    @classmethod
    def from_settings(cls, settings: AssetsSettings, staging: Path) -> S3AssetStore:
        location = settings.s3_location
        if location is None:
            raise ConfigurationError("GENHOOK_ASSETS_STORE is not an s3:// URL")
        secret = settings.s3_secret_access_key
        return cls(
            location,
            staging,
            endpoint=settings.s3_endpoint,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
            timeout_seconds=settings.s3_timeout_seconds,
            redirect_seconds=(
                settings.s3_redirect_seconds if settings.s3_serve == "redirect" else None
            ),
        )

    def __str__(self) -> str:
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"{self.location}{where}"

    def staging_file(self) -> Path:
        self._staging.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=self._staging, suffix=".part")
        os.close(handle)
        return Path(name)

    async def put(self, key: str, staged: Path) -> None:
        validate_key(key)
        try:
            await obstore.put_async(
                self._s3,
                key,
                staged,
                attributes={"Content-Type": media_type_of(key)},
                chunk_size=PART_BYTES,
            )
        except Exception as exc:
            raise self._unavailable(f"storing {key}", exc) from exc
        finally:
            await asyncio.to_thread(staged.unlink, missing_ok=True)

    async def exists(self, key: str) -> bool:
        validate_key(key)
        try:
            await obstore.head_async(self._s3, key)
        except FileNotFoundError:
            return False
        except Exception as exc:
            raise self._unavailable(f"looking up {key}", exc) from exc
        return True

    def local_file(self, key: str) -> Path | None:
        return None  # never on this machine's disk: read() streams it

    async def read(self, key: str) -> AsyncIterator[bytes]:
        validate_key(key)
        try:
            result = await obstore.get_async(self._s3, key)
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise self._unavailable(f"reading {key}", exc) from exc
        stream = result.stream(min_chunk_size=READ_CHUNK)
        try:
            async for chunk in stream:
                yield bytes(chunk)
        except Exception as exc:
            raise self._unavailable(f"reading {key}", exc) from exc

    async def presigned_url(self, key: str) -> str | None:
        """A URL of the S3 server that gives ``key`` to anyone holding it, valid for
        ``GENHOOK_ASSETS_S3_REDIRECT_SECONDS``; None when ``/assets`` streams instead."""
        if self._redirect is None:
            return None
        validate_key(key)
        try:
            return await obstore.sign_async(self._s3, "GET", key, self._redirect)
        except Exception as exc:  # signing is local, but needs credentials to sign with
            raise self._unavailable(f"signing {key}", exc) from exc

    async def check(self) -> None:
        """Can this process use the bucket? ``ConfigurationError`` naming the store and
        what the server said, if not (unreachable endpoint, no such bucket, refused
        credentials). Lists at most one page under the prefix; writes nothing."""
        listing = obstore.list(self._s3, chunk_size=1)
        try:
            with contextlib.suppress(StopAsyncIteration):
                await anext(listing)
        except Exception as exc:
            credentials = (
                "GENHOOK_ASSETS_S3_ACCESS_KEY_ID"
                if self._keyed
                else "credentials: none set, so the AWS chain was asked"
            )
            raise ConfigurationError(
                f"the asset store {self} cannot be used (check GENHOOK_ASSETS_STORE, "
                f"GENHOOK_ASSETS_S3_ENDPOINT, {credentials}): {_first_line(exc)}"
            ) from exc

    def _unavailable(self, doing: str, exc: Exception) -> AssetStoreUnavailableError:
        return AssetStoreUnavailableError(
            f"the asset store {self} failed {doing}: {_first_line(exc)}"
        )


_CAUSE = re.compile(r'message: "([^"]+)"')
_S3_CODE = re.compile(r"<Code>([A-Za-z]+)</Code>")


def _first_line(exc: Exception) -> str:
    """obstore's first line says what failed, a debug dump after it says why (the
    socket error, or the S3 error code in the response body): both, in one line."""
    text = str(exc).strip()
    line = text.split("\n", 1)[0].strip() or type(exc).__name__
    why = [*_S3_CODE.findall(text)[:1], *_CAUSE.findall(text)[-1:]]
    return f"{line} ({', '.join(why)})" if why else line
