"""The split deployment on the S3 asset store, as real processes.

A web process (``serve --no-background``) and a ``genhook worker`` share the
database and the bucket, and nothing else: each has its own data directory, so the
web process cannot see a file the worker wrote. The web process takes a callback
whose result image is on a loopback CDN; the worker mirrors it into the bucket
(``GENHOOK_ASSETS_STORE=s3://...``); then the worker is stopped and its whole data
directory deleted, and the web process still serves the image byte-identical from
S3. Nothing of the image is left on either process's disk.

Run on SQLite (the database file in a third directory both are pointed at) and on
PostgreSQL; the S3 server is ``tests.support.s3``'s real one on loopback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from tests.fixtures.apimodels import callback_body
from tests.support.cdn import PNG, running_cdn
from tests.support.process import GENHOOK, free_port, genhook_env, genhook_server
from tests.support.s3 import S3Server
from tests.support.waiting import eventually

TOKEN = "split-s3-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def env_for(data_dir: Path, database_url: str, port: int, s3: dict[str, str]) -> dict[str, str]:
    return genhook_env(
        data_dir,
        database_url,
        port,
        GENHOOK_SECRET="split-s3-test-secret-0123456789",
        GENHOOK_API_TOKEN=TOKEN,
        GENHOOK_ASSETS_ALLOW_PRIVATE="true",  # the CDN is on loopback
        **s3,
    )


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``genhook worker``, once it says it runs (so its store check passed)."""
    with log.open("wb") as log_file:
        process = subprocess.Popen([GENHOOK, "worker"], env=env, stdout=log_file, stderr=log_file)
    deadline = time.monotonic() + 30
    while b"running" not in log.read_bytes():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def images_under(root: Path) -> list[Path]:
    return [p for p in files_under(root) if p.suffix in (".png", ".part")]


async def test_a_worker_mirrors_into_s3_and_another_process_serves_it(
    tmp_path: Path, database_url: str, s3_server: S3Server
) -> None:
    bucket = s3_server.bucket()
    s3 = s3_server.env(f"s3://{bucket}/genhook")
    port = free_port()
    web_dir, worker_dir = tmp_path / "web", tmp_path / "worker"
    web_env = env_for(web_dir, database_url, port, s3)
    worker_env = env_for(worker_dir, database_url, port, s3)  # asset URLs name the web process
    base = f"http://127.0.0.1:{port}"
    async with running_cdn() as cdn:
        with genhook_server({**web_env, "GENHOOK_RUN_BACKGROUND": "false"}, tmp_path / "web.log"):
            worker = start_worker(worker_env, tmp_path / "worker.log")
            try:
                async with httpx.AsyncClient(base_url=base, timeout=10, headers=AUTH) as client:
                    task_id = await callback(client, f"{cdn.url}/png")

                    async def mirrored() -> bool:
                        detail = (await client.get(f"/api/tasks/{task_id}")).json()
                        return bool(detail.get("asset_urls"))

                    await eventually(mirrored, within=20, every=0.1)
            finally:
                stop(worker)
            # the worker and everything it had on disk are gone
            assert images_under(worker_dir) == []
            shutil.rmtree(worker_dir)

            async with httpx.AsyncClient(base_url=base, timeout=10, headers=AUTH) as client:
                detail = (await client.get(f"/api/tasks/{task_id}")).json()
                assert detail["asset_urls"] == [f"{base}/assets/{task_id}/1.png"]
                assert [a["status"] for a in detail["assets"]] == ["stored"]
                served = await client.get(f"/assets/{task_id}/1.png")
                assert served.status_code == 200
                assert served.content == PNG
                assert served.headers["content-type"] == "image/png"
                assert (await client.get(f"/assets/{task_id}/2.png")).status_code == 404
            assert cdn.hits["png"] == 1  # downloaded once, by the worker

    in_bucket = s3_server.object(bucket, f"genhook/{task_id}/1.png")
    assert in_bucket.status_code == 200 and in_bucket.content == PNG
    assert images_under(web_dir) == []  # the web process never had a copy


async def callback(client: httpx.AsyncClient, image_url: str) -> str:
    created = (await client.post("/api/callback-urls", json={"provider": "apimodels"})).json()
    body = callback_body(
        task_id=f"p-{created['task_id']}", result_json=json.dumps({"resultUrls": [image_url]})
    )
    path = "/callbacks/apimodels/" + created["callback_url"].rsplit("/", 1)[1]
    assert (await client.post(path, content=body)).status_code == 200
    return str(created["task_id"])


def test_a_process_with_an_unusable_store_refuses_to_start(
    tmp_path: Path, s3_server: S3Server
) -> None:
    env = env_for(
        tmp_path / "data",
        f"sqlite+aiosqlite:///{tmp_path / 'genhook.db'}",
        free_port(),
        s3_server.env("s3://no-such-bucket-anywhere"),
    )
    for command in ("worker", "serve"):
        done = subprocess.run(
            [GENHOOK, command], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode != 0
        assert "the asset store s3://no-such-bucket-anywhere" in done.stderr
        assert "NoSuchBucket" in done.stderr
        assert "Traceback" not in done.stderr

    bad = {**env, "GENHOOK_ASSETS_STORE": "https://bucket.example/x"}
    done = subprocess.run(
        [GENHOOK, "serve"], env=bad, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert "GENHOOK_ASSETS_STORE: must be s3://bucket or s3://bucket/prefix" in done.stderr
    assert "Traceback" not in done.stderr
