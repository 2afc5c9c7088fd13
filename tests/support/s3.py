"""A real S3 server on loopback for the S3 asset store's tests.

Which server: SeaweedFS is not packaged for Debian 12 (``apt-cache search seaweedfs``
finds nothing; neither MinIO nor Garage is packaged either), and no S3 server binary
ships on PyPI. moto's S3 server (``python -m moto.server``, a dev dependency) is the
next best: a separate process speaking S3's HTTP API on its own port, which genhook's
obstore client talks to exactly as to AWS or MinIO (SigV4-signed requests,
path-style URLs, multipart uploads, presigned GETs). What it does not do is check
signatures, so wrong credentials cannot be tested against it.

:func:`running_s3` starts it on a free loopback port with a temp dir as its working
directory and stops it (SIGTERM, then SIGKILL) at the end; the ``s3_server`` session
fixture in ``tests/conftest.py`` shares one per test session, and each test makes its
own bucket (:meth:`S3Server.bucket`). A missing moto is an error, never a skip.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import obstore
from obstore.store import S3Store

from tests.support.process import free_port

ACCESS_KEY_ID = "genhook-test"
SECRET_ACCESS_KEY = "genhook-test-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:<port>
    process: subprocess.Popen[bytes]

    def bucket(self, name: str | None = None) -> str:
        """A new empty bucket (a fresh random name unless ``name``)."""
        bucket = name or f"genhook-{secrets.token_hex(6)}"
        # moto takes unsigned admin requests; a real server would need a signed one
        answer = httpx.put(f"{self.endpoint}/{bucket}", timeout=10)
        answer.raise_for_status()
        return bucket

    def object(self, bucket: str, key: str) -> httpx.Response:
        """An object as the S3 server itself returns it, behind genhook's back: a GET
        signed here with obstore's presigning (the bucket is private)."""
        store = S3Store(
            bucket,
            endpoint=self.endpoint,
            region=REGION,
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET_ACCESS_KEY,
            virtual_hosted_style_request=False,
            client_options={"allow_http": True},
        )
        url = obstore.sign(store, "GET", key, timedelta(minutes=1))
        return httpx.get(url, timeout=10)

    def env(self, store: str) -> dict[str, str]:
        """The ``GENHOOK_ASSETS_*`` variables of a genhook process using ``store``."""
        return {
            "GENHOOK_ASSETS_STORE": store,
            "GENHOOK_ASSETS_S3_ENDPOINT": self.endpoint,
            "GENHOOK_ASSETS_S3_REGION": REGION,
            "GENHOOK_ASSETS_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "GENHOOK_ASSETS_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        }


@contextlib.contextmanager
def running_s3(workdir: Path, port: int | None = None) -> Iterator[S3Server]:
    """The S3 server on ``port`` (a free one by default) until the block ends."""
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:  # pragma: no cover - a dev dependency
        raise RuntimeError(
            "moto's S3 server is missing: pip install -e '.[dev]' (scripts/test does)"
        ) from exc
    port = port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "s3.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            cwd=workdir,
            stdout=log_file,
            stderr=log_file,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the S3 server exited:\n{log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{endpoint}/", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the S3 server did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield S3Server(endpoint, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
