"""``scripts/bench assets``: what the S3 asset store costs against the local disk.

Real processes on loopback: SeaweedFS's S3 gateway (``weed mini``, the one the tests
use) and ``genhook serve --no-background`` three times, on the
local disk, on S3 streaming and on S3 redirecting. The same images are put in each
store (``S3AssetStore.put`` is timed: one PUT, and a multipart upload above 8 MiB),
then ``GET /assets/...`` is timed sequentially from one client: latency for a
100 KiB image, throughput for a 20 MiB one. SeaweedFS on the same two cores is not
AWS: the S3 figures are genhook's own overhead plus a local S3 server, not a
prediction for a remote one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from receiver.assets.location import S3Location
from receiver.assets.s3 import S3AssetStore
from receiver.assets.store import LocalAssetStore
from scripts.seaweed import create_bucket, weed_command

SMALL, LARGE = 100 * 1024, 20 * 1024 * 1024
KEYS = {"tsk_bench/1.png": SMALL, "tsk_bench/2.png": LARGE}
TOKEN = "bench-assets-token"
KEY_ID, SECRET = "bench", "bench-secret"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited")
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=1)
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@contextlib.contextmanager
def process(args: list[str], url: str, env: dict[str, str] | None = None) -> Iterator[None]:
    proc = subprocess.Popen(
        args,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tempfile.gettempdir(),
    )
    try:
        wait_up(url, proc)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def genhook_env(data: Path, port: int, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENHOOK_")}
    env.update(
        GENHOOK_DATA_DIR=str(data),
        GENHOOK_PORT=str(port),
        GENHOOK_API_TOKEN=TOKEN,
        GENHOOK_RUN_BACKGROUND="false",
        **extra,
    )
    return env


def timed_gets(base: str, key: str, times: int, follow: bool) -> list[float]:
    seconds = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, headers=headers, follow_redirects=follow) as client:
        for _ in range(times):
            started = time.perf_counter()
            answer = client.get(f"/assets/{key}")
            answer.raise_for_status()
            assert len(answer.content) == KEYS[key]
            seconds.append(time.perf_counter() - started)
    return seconds


def run(postgres_url: str | None) -> list[list[str]]:
    """The same on either database: ``/assets`` does not touch it."""
    work = Path(tempfile.mkdtemp(prefix="genhook-bench-assets-"))
    try:
        return measure(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(work: Path) -> list[list[str]]:
    rows: list[list[str]] = []
    s3_port = free_port()
    endpoint = f"http://127.0.0.1:{s3_port}"
    weed = weed_command(work / "s3", s3_port, KEY_ID, SECRET)
    with process(weed, endpoint):
        create_bucket(endpoint, "bench", KEY_ID, SECRET)
        store = S3AssetStore(
            S3Location("bench", "assets"),
            work / "staging",
            endpoint=endpoint,
            region="us-east-1",
            access_key_id=KEY_ID,
            secret_access_key=SECRET,
            timeout_seconds=30,
        )
        local = LocalAssetStore(work / "local" / "assets")
        started = time.perf_counter()
        asyncio.run(store.check())
        rows.append(
            [
                "S3 start-up check (one ListObjectsV2)",
                f"{(time.perf_counter() - started) * 1e3:.0f} ms",
                "",
                "",
            ]
        )
        for key, size in KEYS.items():
            data = os.urandom(size)
            for target in (store, local):
                staged = target.staging_file()
                staged.write_bytes(data)
                started = time.perf_counter()
                asyncio.run(target.put(key, staged))
                took = time.perf_counter() - started
                if target is store:
                    rows.append(
                        [
                            f"S3 put, {size // 1024} KiB",
                            f"{took * 1e3:.0f} ms",
                            f"{size / took / 2**20:.0f} MiB/s",
                            "",
                        ]
                    )
        s3_env = {
            "GENHOOK_ASSETS_STORE": "s3://bench/assets",
            "GENHOOK_ASSETS_S3_ENDPOINT": endpoint,
            "GENHOOK_ASSETS_S3_ACCESS_KEY_ID": KEY_ID,
            "GENHOOK_ASSETS_S3_SECRET_ACCESS_KEY": SECRET,
        }
        variants = {
            "local disk": {},
            "S3, stream": s3_env,
            "S3, redirect (307 + presigned GET)": {**s3_env, "GENHOOK_ASSETS_S3_SERVE": "redirect"},
        }
        baseline: float | None = None
        for n, (name, extra) in enumerate(variants.items()):
            port = free_port()
            # the local-disk server reads what LocalAssetStore put in work/local/assets
            data_dir = work / "local" if not extra else work / f"s3-{n}"
            env = genhook_env(data_dir, port, extra)
            base = f"http://127.0.0.1:{port}"
            genhook = [str(Path(sys.executable).with_name("genhook")), "serve"]
            with process(genhook, f"{base}/healthz", env):
                timed_gets(base, "tsk_bench/1.png", 20, True)  # warm up
                small = statistics.median(timed_gets(base, "tsk_bench/1.png", 200, True))
                large = timed_gets(base, "tsk_bench/2.png", 10, True)
            baseline = baseline or small
            rows.append(
                [
                    f"GET /assets 100 KiB, {name}",
                    f"p50 {small * 1e3:.1f} ms",
                    "",
                    f"{small / baseline:.1f}x",
                ]
            )
            rate = LARGE / statistics.median(large) / 2**20
            rows.append([f"GET /assets 20 MiB, {name}", f"{rate:.0f} MiB/s", "", ""])
    return rows
