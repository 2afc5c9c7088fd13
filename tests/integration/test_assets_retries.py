"""What the mirror retries, what it gives up on at once, and catching up, over HTTP.

The README: network errors, timeouts, 404, 429 and 5xx are retried with backoff;
403 (like 410) is final; at most 5 redirects; ``GENHOOK_ASSETS_MIRROR=false`` still
notes every image, so switching it back on downloads them all. The image host is
``tests.support.cdn`` on loopback; time is a :class:`FakeClock`.
"""

from __future__ import annotations

import random
from pathlib import Path

from sqlmodel import col, select

from receiver.assets.fetch import MAX_REDIRECTS
from receiver.assets.mirror import Mirror
from storage.models import Asset
from tests.conftest import FakeClock, make_settings
from tests.support.callbacks import completed_receiver_task
from tests.support.cdn import Cdn
from tests.support.harness import Harness, running_genhook
from tests.support.process import free_port


def mirror(harness: Harness) -> Mirror:
    return harness.services.mirror(holder="test-mirror", rng=random.Random(0))


async def assets_of(harness: Harness, task_id: str) -> list[Asset]:
    async with harness.services.sessions() as session:
        rows = await session.exec(
            select(Asset).where(Asset.task_id == task_id).order_by(col(Asset.position))
        )
        return list(rows.all())


async def test_transient_failures_are_retried_and_403_is_final(
    tmp_path: Path, database_url: str, cdn: Cdn, fake_clock: FakeClock
) -> None:
    settings = make_settings(
        tmp_path, database_url, assets_allow_private=True, assets_timeout_seconds=0.5
    )
    closed = f"http://127.0.0.1:{free_port()}/png"  # nothing listens: connection refused
    retried = {
        f"{cdn.url}/status-404": "http_404",
        f"{cdn.url}/status-429": "http_429",
        f"{cdn.url}/status-502": "http_502",
        f"{cdn.url}/hang": "timeout",
        closed: "network",
    }
    async with running_genhook(settings) as harness:
        task_id = await completed_receiver_task(harness, [*retried, f"{cdn.url}/status-403"])
        report = await mirror(harness).mirror_once()
        assert (report.claimed, report.retrying, report.refused) == (6, 5, 1)
        *transient, forbidden = await assets_of(harness, task_id)
        assert {a.source_url: a.error_code for a in transient} == retried
        assert all(a.status == "pending" and a.attempts == 1 for a in transient)
        assert all(a.next_attempt_at and a.next_attempt_at > fake_clock.now for a in transient)
        assert (forbidden.status, forbidden.error_code) == ("refused", "http_403")
        assert forbidden.next_attempt_at is None

        cdn.healthy = True  # the host recovers; the closed port stays closed
        fake_clock.advance(settings.assets.retry_first_seconds * 2)
        report = await mirror(harness).mirror_once()
        assert report.claimed == 5  # 403 is never asked again
        after = {a.source_url: (a.status, a.attempts) for a in await assets_of(harness, task_id)}
        assert after == {
            **{url: ("stored", 2) for url in retried if url != closed},
            closed: ("pending", 2),
            f"{cdn.url}/status-403": ("refused", 1),
        }
        assert cdn.hits["status-403"] == 1


async def test_at_most_five_redirects_are_followed(
    tmp_path: Path, database_url: str, cdn: Cdn
) -> None:
    assert MAX_REDIRECTS == 5  # the README's number
    settings = make_settings(tmp_path, database_url, assets_allow_private=True)
    async with running_genhook(settings) as harness:
        task_id = await completed_receiver_task(
            harness,
            [f"{cdn.url}/chain?n={MAX_REDIRECTS}", f"{cdn.url}/chain?n={MAX_REDIRECTS + 1}"],
        )
        await mirror(harness).mirror_once()
        five, six = await assets_of(harness, task_id)
        assert (five.status, five.error_code) == ("stored", None)
        assert (six.status, six.error_code) == ("refused", "too_many_redirects")


async def test_switching_mirroring_back_on_catches_up(
    tmp_path: Path, database_url: str, cdn: Cdn
) -> None:
    off = make_settings(tmp_path, database_url, assets_allow_private=True, assets_mirror=False)
    async with running_genhook(off) as harness:
        task_id = await completed_receiver_task(harness, [f"{cdn.url}/png", f"{cdn.url}/png?2"])
        assert (await mirror(harness).mirror_once()).claimed == 0
        assert [a.status for a in await assets_of(harness, task_id)] == ["pending", "pending"]
    assert cdn.hits["png"] == 0

    on = off.updated(assets_mirror=True)  # the same database, restarted with it on
    async with running_genhook(on) as harness:
        assert (await mirror(harness).mirror_once()).stored == 2
        assert [a.status for a in await assets_of(harness, task_id)] == ["stored", "stored"]
        task = (await harness.client.get(f"/api/tasks/{task_id}")).json()
        assert len(task["asset_urls"]) == 2
        assert [e["type"] for e in task["events"]][-1] == "task.assets_ready"
