"""``/stats`` over HTTP on SQLite and PostgreSQL: windows select tasks by creation
time, and deliveries, lags and credits are what the rows say."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from receiver import clock
from receiver.lifecycle import EventType, Status
from receiver.settings import Settings
from storage.models import Task
from tests.conftest import make_settings
from tests.support.delivery import emit
from tests.support.downstream import downstream
from tests.support.harness import Harness


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, delivery_allow_private_targets=True)


async def add_task(genhook: Harness, age: timedelta, **fields: object) -> str:
    now = clock.utcnow()
    created = now - age
    values: dict[str, object] = {
        "provider": "apimall",
        "model": "nano-banana",
        "status": Status.COMPLETED.value,
        "last_source": "poll",
        "created_at": created,
        "updated_at": now,
        "submitted_at": created,
        "terminal_at": created + timedelta(seconds=12),
        "deadline_at": created + timedelta(hours=1),
        **fields,
    }
    task = Task(**values)  # type: ignore[arg-type]
    async with genhook.services.sessions() as session, session.begin():
        session.add(task)
    return task.id


def cell(page: str, section: str, marker: str) -> str:
    """The text of the first cell carrying ``marker`` inside ``section``."""
    start = page.index(f'data-section="{section}"')
    found = re.search(rf"{re.escape(marker)}[^>]*>([^<]*)<", page[start:])
    assert found, f"{marker} not in {section}"
    return found.group(1).strip()


async def test_windows_deliveries_and_credits(genhook: Harness) -> None:
    await add_task(genhook, timedelta(minutes=5), credits_used=8.0)
    await add_task(genhook, timedelta(minutes=20), credits_used=16.0, credits_refunded=16.0)
    await add_task(
        genhook,
        timedelta(hours=3),
        status=Status.FAILED.value,
        error_code="451",
        terminal_at=None,
    )
    async with downstream() as receiver:
        await genhook.services.subscribers.add(receiver.url(), [], None)
        recent = await add_task(genhook, timedelta(minutes=1))
        await emit(genhook.services, recent, EventType.COMPLETED)
        await genhook.services.dispatcher(holder="stats-test").dispatch_once()

    hour = (await genhook.client.get("/stats?window=hour")).text
    assert 'data-tile="tasks">3<' in hour
    assert cell(hour, "outcomes", 'data-count="completed"') == "3"
    assert "451" not in hour  # the failure is three hours old
    assert cell(hour, "deliveries", 'data-count="succeeded"') == "1"
    assert cell(hour, "timings", '<td class="num"') == "3"  # three completed tasks
    assert "12.0 s" in hour  # p50 and p95 of three 12-second tasks
    credits = hour[hour.index('data-section="credits"') :]
    assert re.search(r"<td class=\"num\">24</td><td class=\"num\">16</td>", credits)

    day = (await genhook.client.get("/stats?window=day")).text
    assert 'data-tile="tasks">4<' in day
    assert cell(day, "failures", 'data-code="451"') == "451"

    fallback = await genhook.client.get("/stats?window=decade")
    assert fallback.status_code == 200 and 'data-window="day"' in fallback.text
