"""Result mirroring against real servers, on SQLite and PostgreSQL.

The happy path, retries and idempotency run against the provider simulator's real
PNGs (its ``/files`` route, with its fault injection for the transient 5xx); the
refusals run against a deliberately bad image host (``tests.support.cdn``). Time is
a :class:`FakeClock` shared by genhook and the simulator, and tests call
``Mirror.mirror_once()`` directly, like the poller tests call ``poll_once()``.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, select

from receiver import netguard
from receiver.assets.mirror import Mirror
from receiver.lifecycle import Status
from receiver.settings import Settings
from receiver.simulator.config import SimulatorConfig
from receiver.simulator.images import png_dimensions
from receiver.submit import SubmitRequest
from storage.models import Asset, Task
from tests.conftest import FakeClock, make_settings
from tests.support.callbacks import completed_receiver_task
from tests.support.cdn import PNG, Cdn
from tests.support.events import event_types
from tests.support.harness import Harness, running_genhook
from tests.support.simulated import SIM_KEY, Simulated, simulated_genhook

IMAGE_SIZE = 80
WORLD_SETTINGS = {
    "assets_allow_private": True,  # the simulator is on loopback
    "provider_retry_attempts": 1,
    "provider_retry_budget_seconds": 0,
}


@pytest.fixture
async def world(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> AsyncIterator[Simulated]:
    settings = make_settings(tmp_path, database_url, **WORLD_SETTINGS)
    config = SimulatorConfig(
        api_key=SIM_KEY, task_duration=5, seed=3, retry_after=0, image_size=IMAGE_SIZE
    )
    async with simulated_genhook(settings, config) as simulated:
        yield simulated


def mirror(harness: Harness, holder: str = "test-mirror") -> Mirror:
    return harness.services.mirror(holder=holder, rng=random.Random(0))


async def completed_task(world: Simulated, clock: FakeClock, images: int = 2) -> Task:
    """An API Mall task, submitted and polled to completion by the real poller."""
    services = world.genhook.services
    task = await services.submitter(rng=random.Random(1)).submit(
        SubmitRequest("apimall", "nano-banana", "a lighthouse", {"num_images": images})
    )
    poller = services.poller(holder="test-poller", rng=random.Random(0))
    for _ in range(60):
        clock.advance(1)
        await poller.poll_once()
        task = await load_task(world.genhook, task.id)
        if task.status == Status.COMPLETED:
            assert len(task.result_urls) == images
            return task
    raise AssertionError(f"task did not complete: {task.status}")


async def load_task(harness: Harness, task_id: str) -> Task:
    async with harness.services.sessions() as session:
        task = await session.get(Task, task_id)
    assert task is not None
    return task


async def assets_of(harness: Harness, task_id: str) -> list[Asset]:
    async with harness.services.sessions() as session:
        rows = await session.exec(
            select(Asset).where(Asset.task_id == task_id).order_by(col(Asset.position))
        )
        return list(rows.all())


def stored_files(settings: Settings) -> list[Path]:
    root = settings.resolved_assets_dir
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_result_pngs_are_mirrored_measured_and_served_back_byte_identical(
    world: Simulated, fake_clock: FakeClock
) -> None:
    harness = world.genhook
    task = await completed_task(world, fake_clock, images=2)
    pending = await assets_of(harness, task.id)
    assert [(a.position, a.status, a.source_url) for a in pending] == [
        (0, "pending", task.result_urls[0]),
        (1, "pending", task.result_urls[1]),
    ]

    report = await mirror(harness).mirror_once()
    assert (report.claimed, report.stored, report.tasks_ready) == (2, 2, 1)

    async with httpx.AsyncClient() as client:
        originals = [(await client.get(url)).content for url in task.result_urls]
    assets = await assets_of(harness, task.id)
    for asset, original in zip(assets, originals, strict=True):
        assert asset.status == "stored"
        assert asset.local_path == f"{task.id}/{asset.position + 1}.png"  # numbered from 1
        assert asset.content_type == "image/png"
        assert asset.byte_size == len(original)
        assert asset.sha256 == hashlib.sha256(original).hexdigest()
        assert (asset.width, asset.height) == png_dimensions(original) == (IMAGE_SIZE, IMAGE_SIZE)
        assert asset.downloaded_at == fake_clock.now
        assert asset.next_attempt_at is None and asset.lease_holder is None

        served = await harness.client.get(f"/assets/{asset.local_path}")
        assert served.status_code == 200
        assert served.content == original
        assert served.headers["content-type"] == "image/png"
        assert "immutable" in served.headers["cache-control"]
        assert served.headers["x-content-type-options"] == "nosniff"
    assert originals[0] != originals[1]  # two different images, not one twice

    base = harness.services.settings.public_url
    expected_urls = [f"{base}/assets/{task.id}/1.png", f"{base}/assets/{task.id}/2.png"]
    detail = (await harness.client.get(f"/api/tasks/{task.id}")).json()
    assert detail["result_urls"] == task.result_urls  # the provider's, kept
    assert detail["asset_urls"] == expected_urls
    assert [a["status"] for a in detail["assets"]] == ["stored", "stored"]
    assert detail["assets"][0]["sha256"] == assets[0].sha256
    assert [e["type"] for e in detail["events"]][-1] == "task.assets_ready"
    assert detail["events"][-1]["data"]["asset_urls"] == expected_urls
    assert (await harness.client.get(f"/assets/{task.id}/3.png")).status_code == 404  # two images


async def test_mirroring_twice_stores_each_image_once_and_announces_once(
    world: Simulated, fake_clock: FakeClock
) -> None:
    harness = world.genhook
    task = await completed_task(world, fake_clock, images=3)
    world.sim.reset()
    # two workers at once, then more passes: every image is fetched exactly once
    reports = await asyncio.gather(
        mirror(harness, "worker-a").mirror_once(), mirror(harness, "worker-b").mirror_once()
    )
    assert sum(r.claimed for r in reports) == 3
    for _ in range(3):
        fake_clock.advance(3600)
        assert (await mirror(harness).mirror_once()).claimed == 0
    assert world.sim.stats.endpoints["files"] == 3
    assert [a.status for a in await assets_of(harness, task.id)] == ["stored"] * 3
    assert len(stored_files(harness.services.settings)) == 3
    assert (await event_types(harness.services, task.id)).count("task.assets_ready") == 1


async def test_a_transient_5xx_is_retried_with_backoff(
    world: Simulated, fake_clock: FakeClock
) -> None:
    harness = world.genhook
    task = await completed_task(world, fake_clock, images=1)
    world.sim.configure(server_error_rate=1.0, fault_scope=("/files",))

    report = await mirror(harness).mirror_once()
    assert (report.claimed, report.stored, report.retrying) == (1, 0, 1)
    [asset] = await assets_of(harness, task.id)
    assert (asset.status, asset.error_code, asset.attempts) == ("pending", "http_503", 1)
    assert asset.next_attempt_at is not None and asset.next_attempt_at > fake_clock.now
    assert (await mirror(harness).mirror_once()).claimed == 0  # not before its time
    assert "task.assets_ready" not in await event_types(harness.services, task.id)

    world.sim.configure(server_error_rate=0.0)
    fake_clock.advance((asset.next_attempt_at - fake_clock.now).total_seconds())
    report = await mirror(harness).mirror_once()
    assert report.stored == 1
    [asset] = await assets_of(harness, task.id)
    assert (asset.status, asset.attempts, asset.error_code) == ("stored", 2, None)
    assert (await event_types(harness.services, task.id))[-1] == "task.assets_ready"


async def test_a_download_that_keeps_failing_gives_up_at_the_horizon(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> None:
    settings = make_settings(
        tmp_path, database_url, **WORLD_SETTINGS, assets_retry_horizon_seconds=120
    )
    config = SimulatorConfig(api_key=SIM_KEY, task_duration=5, seed=3, retry_after=0)
    async with simulated_genhook(settings, config) as world:
        task = await completed_task(world, fake_clock, images=1)
        world.sim.configure(server_error_rate=1.0, fault_scope=("/files",))
        attempts = 0
        for _ in range(40):
            attempts += (await mirror(world.genhook).mirror_once()).claimed
            fake_clock.advance(15)
        [asset] = await assets_of(world.genhook, task.id)
        assert asset.status == "failed"
        assert asset.next_attempt_at is None
        assert asset.error_message is not None and "gave up" in asset.error_message
        assert 3 <= attempts == asset.attempts <= 8  # backed off, not once per pass
        assert "task.assets_ready" not in await event_types(world.genhook.services, task.id)


async def test_mirroring_switched_off_downloads_nothing(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> None:
    settings = make_settings(tmp_path, database_url, **WORLD_SETTINGS, assets_mirror=False)
    async with simulated_genhook(settings) as world:
        task = await completed_task(world, fake_clock, images=1)
        assert (await mirror(world.genhook).mirror_once()).claimed == 0
        assert world.sim.stats.endpoints["files"] == 0
        [asset] = await assets_of(world.genhook, task.id)
        assert asset.status == "pending"  # noted, so switching it on later catches up
        assert stored_files(world.genhook.services.settings) == []


# --- refusals: a misbehaving image host -------------------------------------------


async def test_images_we_must_not_keep_are_refused_with_a_reason(
    tmp_path: Path, database_url: str, cdn: Cdn
) -> None:
    settings = make_settings(
        tmp_path, database_url, assets_allow_private=True, assets_max_bytes=20_000
    )
    cases = {
        "html": "not_an_image",
        "svg": "not_an_image",
        "fake-png": "not_an_image",
        "big": "too_large",
        "endless": "too_large",
        "gone": "http_410",
        "loop": "too_many_redirects",
    }
    async with running_genhook(settings) as harness:
        task_id = await completed_receiver_task(harness, [f"{cdn.url}/{name}" for name in cases])
        report = await mirror(harness).mirror_once()
        assert (report.claimed, report.refused, report.stored) == (len(cases), len(cases), 0)
        assets = await assets_of(harness, task_id)
        assert {a.source_url.rsplit("/", 1)[1]: a.error_code for a in assets} == cases
        assert all(a.status == "refused" and a.next_attempt_at is None for a in assets)
        assert all(a.error_message for a in assets)
        assert stored_files(settings) == []  # nothing kept, not even a staging file
        assert (await mirror(harness).mirror_once()).claimed == 0  # refusals are final
        assert "task.assets_ready" not in await event_types(harness.services, task_id)
        detail = (await harness.client.get(f"/api/tasks/{task_id}")).json()
        assert detail["asset_urls"] == []
        assert detail["assets"][0]["error"]["code"] == "not_an_image"


async def test_untyped_bytes_are_kept_under_the_type_their_bytes_say(
    tmp_path: Path, database_url: str, cdn: Cdn
) -> None:
    settings = make_settings(tmp_path, database_url, assets_allow_private=True)
    async with running_genhook(settings) as harness:
        task_id = await completed_receiver_task(
            harness, [f"{cdn.url}/untyped", f"{cdn.url}/redirect?to={cdn.url}/png"]
        )
        assert (await mirror(harness).mirror_once()).stored == 2
        assets = await assets_of(harness, task_id)
        assert [(a.content_type, a.sha256) for a in assets] == [
            ("image/png", hashlib.sha256(PNG).hexdigest())
        ] * 2
        served = await harness.client.get(f"/assets/{assets[0].local_path}")
        assert served.headers["content-type"] == "image/png" and served.content == PNG


async def test_private_addresses_are_refused_unless_allowed(
    tmp_path: Path, database_url: str, cdn: Cdn
) -> None:
    settings = make_settings(tmp_path, database_url)  # assets_allow_private defaults to False
    async with running_genhook(settings) as harness:
        task_id = await completed_receiver_task(
            harness, [f"{cdn.url}/png", cdn.url.replace("127.0.0.1", "localhost") + "/png"]
        )
        report = await mirror(harness).mirror_once()
        assert report.refused == 2
        assets = await assets_of(harness, task_id)
        assert [a.error_code for a in assets] == ["private_address"] * 2
        assert "GENHOOK_ASSETS_ALLOW_PRIVATE" in (assets[0].error_message or "")
        assert cdn.hits == {}  # refused before any request


async def test_a_redirect_into_a_private_network_is_refused(
    tmp_path: Path, database_url: str, cdn: Cdn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend the CDN's own address (127.0.0.1) is public; every other address stays
    # private. The redirect target is on loopback, so even a bug sends nothing away.
    real = netguard.is_public_address
    monkeypatch.setattr(netguard, "is_public_address", lambda a: str(a) == "127.0.0.1" or real(a))
    port = cdn.url.rsplit(":", 1)[1]
    settings = make_settings(tmp_path, database_url)
    async with running_genhook(settings) as harness:
        task_id = await completed_receiver_task(
            harness,
            [
                f"{cdn.url}/redirect?to=http://127.0.0.2:{port}/png",
                f"{cdn.url}/redirect?to=http://[::1]:{port}/png",
                f"{cdn.url}/redirect?to={cdn.url}/png",  # control: a public target is fine
            ],
        )
        await mirror(harness).mirror_once()
        assets = await assets_of(harness, task_id)
        assert [(a.status, a.error_code) for a in assets] == [
            ("refused", "private_address"),
            ("refused", "private_address"),
            ("stored", None),
        ]
        assert cdn.hits == {"redirect": 3, "png": 1}
