"""The S3 asset store against a real S3 server on loopback (``tests.support.s3``).

The store on its own (put, look up, stream back, multipart, prefix, content type),
then the mirror and the ``/assets`` route on it, on SQLite and PostgreSQL: images
land in the bucket and nowhere on local disk, and come back byte-identical, streamed
or through a presigned redirect. Then what goes wrong: a store that cannot be used
stops the start with a message naming it; an S3 server that goes away later makes
``/assets`` answer 503 and the mirror retry, and both recover when it is back.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from receiver.assets.location import S3Location
from receiver.assets.s3 import S3AssetStore
from receiver.errors import AssetStoreUnavailableError, ConfigurationError
from receiver.services import open_services
from receiver.simulator.config import SimulatorConfig
from tests.conftest import FakeClock, make_settings
from tests.integration.test_assets import (
    IMAGE_SIZE,
    WORLD_SETTINGS,
    assets_of,
    completed_task,
    mirror,
    stored_files,
)
from tests.support.process import free_port
from tests.support.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server, running_s3
from tests.support.simulated import SIM_KEY, Simulated, simulated_genhook


def s3_settings(server: S3Server, store: str, **more: object) -> dict[str, object]:
    return {
        "assets_store": store,
        "assets_s3_endpoint": server.endpoint,
        "assets_s3_region": REGION,
        "assets_s3_access_key_id": ACCESS_KEY_ID,
        "assets_s3_secret_access_key": SECRET_ACCESS_KEY,
        **more,
    }


def store_on(server: S3Server, bucket: str, prefix: str, staging: Path) -> S3AssetStore:
    return S3AssetStore(
        S3Location(bucket, prefix),
        staging,
        endpoint=server.endpoint,
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        timeout_seconds=10,
    )


async def read_all(store: S3AssetStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(key)])


async def test_the_store_keeps_and_gives_back_objects_under_its_prefix(
    s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.bucket()
    store = store_on(s3_server, bucket, "genhook/assets", tmp_path / "staging")
    await store.check()
    key = "tsk_01ABC/1.png"
    assert not await store.exists(key)
    with pytest.raises(FileNotFoundError):
        await read_all(store, key)

    small = os.urandom(70_000)
    staged = store.staging_file()
    staged.write_bytes(small)
    await store.put(key, staged)
    assert not staged.exists()  # consumed
    assert await store.exists(key)
    assert await read_all(store, key) == small
    assert store.local_file(key) is None  # served by streaming, never from this disk

    # as the S3 server itself has it: under the prefix, with the image's content type
    raw = await asyncio.to_thread(s3_server.object, bucket, f"genhook/assets/{key}")
    assert raw.status_code == 200
    assert raw.content == small
    assert raw.headers["content-type"] == "image/png"

    # above the part size: a multipart upload, still one whole object
    large = os.urandom(9 * 1024 * 1024 + 123)
    staged = store.staging_file()
    staged.write_bytes(large)
    await store.put("tsk_01ABC/2.webp", staged)
    back = await read_all(store, "tsk_01ABC/2.webp")
    assert hashlib.sha256(back).digest() == hashlib.sha256(large).digest()

    # replacing a key replaces the object whole
    staged = store.staging_file()
    staged.write_bytes(b"second")
    await store.put(key, staged)
    assert await read_all(store, key) == b"second"

    with pytest.raises(ValueError, match="not an asset key"):
        await store.exists("../etc/passwd")


@pytest.fixture
async def s3_world(
    tmp_path: Path, database_url: str, fake_clock: FakeClock, s3_server: S3Server
) -> AsyncIterator[tuple[Simulated, str]]:
    bucket = s3_server.bucket()
    settings = make_settings(
        tmp_path,
        database_url,
        **WORLD_SETTINGS,
        **s3_settings(s3_server, f"s3://{bucket}/images"),
    )
    config = SimulatorConfig(
        api_key=SIM_KEY, task_duration=5, seed=3, retry_after=0, image_size=IMAGE_SIZE
    )
    async with simulated_genhook(settings, config) as simulated:
        yield simulated, bucket


async def test_mirrored_images_live_in_the_bucket_and_are_served_byte_identical(
    s3_world: tuple[Simulated, str], fake_clock: FakeClock, s3_server: S3Server
) -> None:
    world, bucket = s3_world
    harness = world.genhook
    task = await completed_task(world, fake_clock, images=2)
    report = await mirror(harness).mirror_once()
    assert (report.claimed, report.stored, report.tasks_ready) == (2, 2, 1)

    async with httpx.AsyncClient() as client:
        originals = [(await client.get(url)).content for url in task.result_urls]
    assets = await assets_of(harness, task.id)
    assert [a.status for a in assets] == ["stored", "stored"]
    for asset, original in zip(assets, originals, strict=True):
        assert asset.sha256 == hashlib.sha256(original).hexdigest()
        in_bucket = await asyncio.to_thread(s3_server.object, bucket, f"images/{asset.local_path}")
        assert in_bucket.content == original
        served = await harness.client.get(f"/assets/{asset.local_path}")
        assert served.status_code == 200
        assert served.content == original
        assert served.headers["content-type"] == "image/png"
        assert "immutable" in served.headers["cache-control"]
    # nothing kept on this machine's disk (the staging dir is empty again)
    assert stored_files(harness.services.settings) == []
    assert (await harness.client.get(f"/assets/{task.id}/3.png")).status_code == 404
    detail = (await harness.client.get(f"/api/tasks/{task.id}")).json()
    assert detail["asset_urls"] == [
        f"{harness.services.settings.public_url}/assets/{task.id}/{n}.png" for n in (1, 2)
    ]


async def test_redirect_mode_answers_with_a_presigned_url_of_the_bucket(
    tmp_path: Path, fake_clock: FakeClock, s3_server: S3Server
) -> None:
    bucket = s3_server.bucket()
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'genhook.db'}",
        **WORLD_SETTINGS,
        **s3_settings(
            s3_server, f"s3://{bucket}", assets_s3_serve="redirect", assets_s3_redirect_seconds=60
        ),
    )
    config = SimulatorConfig(
        api_key=SIM_KEY, task_duration=5, seed=3, retry_after=0, image_size=IMAGE_SIZE
    )
    async with simulated_genhook(settings, config) as world:
        harness = world.genhook
        task = await completed_task(world, fake_clock, images=1)
        assert (await mirror(harness).mirror_once()).stored == 1
        async with httpx.AsyncClient() as client:
            original = (await client.get(task.result_urls[0])).content
            answer = await harness.client.get(f"/assets/{task.id}/1.png")
            assert answer.status_code == 307
            assert answer.headers["cache-control"] == "no-store"
            location = answer.headers["location"]
            assert location.startswith(f"{s3_server.endpoint}/{bucket}/{task.id}/1.png?")
            assert "X-Amz-Expires=60" in location and "X-Amz-Signature=" in location
            fetched = await client.get(location)  # no genhook token: the URL is the key
        assert fetched.status_code == 200
        assert fetched.content == original
        assert fetched.headers["content-type"] == "image/png"
        # a missing image is still genhook's 404, not a redirect to one
        assert (await harness.client.get(f"/assets/{task.id}/2.png")).status_code == 404


async def test_an_unreachable_endpoint_stops_the_start_quickly_and_names_the_store(
    tmp_path: Path, s3_server: S3Server
) -> None:
    closed = free_port()  # nothing listens there
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'genhook.db'}",
        **{
            **s3_settings(s3_server, "s3://genhook-assets/x"),
            "assets_s3_endpoint": f"http://127.0.0.1:{closed}",
            "assets_s3_timeout_seconds": 3,
        },
    )
    started = time.monotonic()
    with pytest.raises(ConfigurationError) as refused:
        async with open_services(settings):
            pass
    assert time.monotonic() - started < 10  # not obstore's default three minutes of retries
    message = str(refused.value)
    assert f"s3://genhook-assets/x at http://127.0.0.1:{closed}" in message
    assert "GENHOOK_ASSETS_S3_ENDPOINT" in message
    assert "Connection refused" in message
    assert "\n" not in message  # one line, not obstore's debug dump


async def test_wrong_credentials_stop_the_start(tmp_path: Path, s3_server: S3Server) -> None:
    bucket = s3_server.bucket()
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'genhook.db'}",
        **s3_settings(s3_server, f"s3://{bucket}", assets_s3_secret_access_key="not-the-secret"),
    )
    with pytest.raises(ConfigurationError) as refused:
        async with open_services(settings):
            pass
    message = str(refused.value)
    assert f"s3://{bucket}" in message and "\n" not in message
    assert "SignatureDoesNotMatch" in message or "AccessDenied" in message, message


async def test_a_missing_bucket_stops_the_start(tmp_path: Path, s3_server: S3Server) -> None:
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'genhook.db'}",
        **s3_settings(s3_server, "s3://no-such-bucket-here"),
    )
    with pytest.raises(ConfigurationError, match="NoSuchBucket"):
        async with open_services(settings):
            pass


async def test_an_s3_outage_answers_503_and_the_mirror_retries_until_it_is_back(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    """Its own S3 server, stopped and started again on the same port and data dir:
    what was stored before the outage is still served after it."""
    workdir = tmp_path / "s3"
    with running_s3(workdir) as server:
        port = server.endpoint.rsplit(":", 1)[1]
        bucket = server.bucket()
        settings = make_settings(
            tmp_path,
            f"sqlite+aiosqlite:///{tmp_path / 'genhook.db'}",
            **WORLD_SETTINGS,
            **s3_settings(server, f"s3://{bucket}", assets_s3_timeout_seconds=2),
        )
        config = SimulatorConfig(
            api_key=SIM_KEY, task_duration=5, seed=3, retry_after=0, image_size=IMAGE_SIZE
        )
        async with simulated_genhook(settings, config) as world:
            harness = world.genhook
            first = await completed_task(world, fake_clock, images=1)
            assert (await mirror(harness).mirror_once()).stored == 1

            server.process.terminate()
            await asyncio.to_thread(server.process.wait, 10)

            answer = await harness.client.get(f"/assets/{first.id}/1.png")
            assert answer.status_code == 503
            assert answer.json()["error"]["code"] == "asset_store_unavailable"
            assert "Retry-After" in answer.headers

            second = await completed_task(world, fake_clock, images=1)
            report = await mirror(harness).mirror_once()
            assert (report.claimed, report.stored) == (1, 0)
            [failed] = await assets_of(harness, second.id)
            assert failed.status == "pending"  # retried on its schedule, not given up
            assert failed.error_code == "asset_store_unavailable"
            assert "the asset store" in (failed.error_message or "")
            assert stored_files(harness.services.settings) == []  # staging cleaned up

            with running_s3(workdir, int(port)):
                fake_clock.advance(3600)  # past the retry's backoff
                report = await mirror(harness).mirror_once()
                assert report.stored == 1
                served = await harness.client.get(f"/assets/{second.id}/1.png")
                assert served.status_code == 200
                async with httpx.AsyncClient() as client:
                    original = (await client.get(second.result_urls[0])).content
                assert served.content == original
                before = await harness.client.get(f"/assets/{first.id}/1.png")
                assert before.status_code == 200  # kept on the server's disk


async def test_store_errors_say_which_store_and_what_failed(tmp_path: Path) -> None:
    store = S3AssetStore(
        S3Location("genhook-assets", ""),
        tmp_path,
        endpoint=f"http://127.0.0.1:{free_port()}",
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        timeout_seconds=2,
    )
    with pytest.raises(AssetStoreUnavailableError, match=r"looking up tsk_1/1\.png"):
        await store.exists("tsk_1/1.png")
    staged = store.staging_file()
    staged.write_bytes(b"x")
    with pytest.raises(AssetStoreUnavailableError, match="storing"):
        await store.put("tsk_1/1.png", staged)
    assert not staged.exists()  # consumed even when the upload failed
