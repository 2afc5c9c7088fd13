"""``GET /api/events`` over real HTTP (SSE), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver import clock
from receiver.events import record_event
from receiver.lifecycle import EventType
from receiver.stream import EventFilter
from storage.models import Task
from tests.conftest import make_settings
from tests.support import database
from tests.support.delivery import emit, make_task
from tests.support.harness import Harness, running_genhook
from tests.support.sse import Message, messages

FAST = {"events_poll_seconds": 0.02}


@pytest.fixture
async def live(tmp_path: Path, database_url: str) -> AsyncIterator[Harness]:
    async with running_genhook(make_settings(tmp_path, database_url, **FAST)) as harness:
        yield harness


@contextlib.asynccontextmanager
async def listen(client: httpx.AsyncClient, **kwargs: Any) -> AsyncIterator[httpx.Response]:
    """Connect; once the headers are in, the server has taken the stream's position."""
    async with client.stream("GET", "/api/events", **kwargs) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield response


async def read(response: httpx.Response, count: int, within: float = 10) -> list[Message]:
    got: list[Message] = []
    async with asyncio.timeout(within):
        async for message in messages(response):
            got.append(message)
            if len(got) == count:
                break
    return got


async def take(
    client: httpx.AsyncClient, count: int, within: float = 10, **kwargs: Any
) -> list[Message]:
    """Open the stream, read ``count`` messages, then disconnect."""
    async with listen(client, **kwargs) as response:
        return await read(response, count, within)


async def test_reconnect_with_last_event_id_gets_every_event_once(live: Harness) -> None:
    services = live.services
    task_ids = [await make_task(services) for _ in range(3)]
    await emit(services, task_ids[0])  # before anyone listens: not part of a live start

    emitted: list[str] = []

    async def produce() -> None:
        for i in range(12):
            emitted.append(await emit(services, task_ids[i % 3]))
            await asyncio.sleep(0.01)

    async with listen(live.client) as response:
        producer = asyncio.create_task(produce())
        first = await read(response, 4)
    # disconnected; events keep coming
    await producer
    resumed = await take(
        live.client, len(emitted) - len(first), headers={"last-event-id": first[-1].id}
    )
    received = [m.id for m in first + resumed]
    assert received == emitted
    assert all(m.event == "task.processing" for m in first + resumed)
    assert all(m.data["id"] == m.id and m.data["type"] == m.event for m in first + resumed)

    # and nothing more is waiting after the last one
    with pytest.raises(TimeoutError):
        await take(live.client, 1, within=0.5, headers={"last-event-id": emitted[-1]})


async def test_filters_by_task_and_type(live: Harness) -> None:
    services = live.services
    one, two = await make_task(services), await make_task(services)
    history = [await emit(services, one), await emit(services, two)]
    # a task filter without Last-Event-ID starts with the task's history
    got = await take(live.client, 1, params={"task_id": one})
    assert [m.id for m in got] == history[:1]

    async with listen(live.client, params={"type": "task.completed,task.failed"}) as response:
        made = [
            await emit(services, two, EventType.PROCESSING),
            await emit(services, one, EventType.COMPLETED),
            await emit(services, two, EventType.FAILED),
        ]
        got = await read(response, 2)
    assert [(m.id, m.event) for m in got] == [
        (made[1], "task.completed"),
        (made[2], "task.failed"),
    ]
    got = await take(live.client, 1, params=[("task_id", two), ("type", "task.failed")])
    assert [m.id for m in got] == [made[2]]


async def test_refusals_are_clear(live: Harness) -> None:
    cases = [
        ({"type": "task.nope"}, 422, "unknown_event_type"),
        ({"task_id": "tsk_nope"}, 404, "task_not_found"),
        ({"last_event_id": "evt_nope"}, 400, "event_not_found"),
    ]
    for params, status, code in cases:
        response = await live.client.get("/api/events", params=params)
        assert response.status_code == status, params
        assert response.json()["error"]["code"] == code


@pytest.mark.postgres
async def test_an_event_still_committing_is_not_skipped(tmp_path: Path, postgres_url: str) -> None:
    """PostgreSQL hands out seq numbers at insert and shows rows at commit: the stream
    must not move past a number whose transaction is still open. (SQLite serialises
    writers, so its rows always appear in seq order: nothing to test there.)"""
    await asyncio.to_thread(database.truncate_postgres, postgres_url)  # a clean slate
    settings = make_settings(tmp_path, postgres_url, events_gap_seconds=30)
    async with running_genhook(settings) as harness:
        services = harness.services
        task_a, task_b = await make_task(services), await make_task(services)
        stream = services.stream
        position = await stream.start(EventFilter())
        async with services.sessions() as slow, slow.begin():
            task = await slow.get(Task, task_a)
            assert task is not None
            late_id = await record_event(slow, task, EventType.PROCESSING, clock.utcnow())
            await slow.flush()  # it has its seq now, but is not committed
            early = await emit(services, task_b)  # a higher seq, committed first
            assert await stream.read(position, EventFilter()) == []
        got = await stream.read(position, EventFilter())
        assert [e.id for e in got] == [late_id, early]
