"""One outbox reader per process: open streams cost no queries, and a stream that
falls behind catches up from the database without losing or repeating anything."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import event

from receiver.lifecycle import EventType
from receiver.services import Services
from receiver.stream import EventFilter, EventStream
from tests.conftest import make_settings
from tests.integration.test_event_stream import listen, read
from tests.support.delivery import emit, make_task
from tests.support.harness import running_genhook

QUIET = {"events_poll_seconds": 3600}  # the hub's safety tick out of the way


@contextlib.contextmanager
def outbox_reads(services: Services) -> Iterator[list[str]]:
    """Every statement that reads the outbox, as it is executed."""
    seen: list[str] = []

    def noted(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM outbox" in statement:
            seen.append(statement)

    engine = services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", noted)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", noted)


async def test_a_hundred_open_streams_read_the_outbox_as_often_as_one(
    tmp_path: Path, database_url: str
) -> None:
    async with running_genhook(make_settings(tmp_path, database_url, **QUIET)) as harness:
        services = harness.services
        task_id = await make_task(services)
        reads_per_event = []
        for count in (1, 100):
            async with contextlib.AsyncExitStack() as stack:
                streams = [
                    await stack.enter_async_context(listen(harness.client)) for _ in range(count)
                ]
                with outbox_reads(services) as seen:
                    ids = [await emit(services, task_id) for _ in range(3)]
                    got = await asyncio.gather(*(read(s, 3) for s in streams))
                assert all([m.id for m in messages] == ids for messages in got)
                reads_per_event.append(len(seen) / 3)
        # the hub's look per wake-up (index rows, then payloads; commits that come
        # while it reads may add one), whether one stream is open or a hundred
        assert all(reads <= 3 for reads in reads_per_event), reads_per_event


@contextlib.asynccontextmanager
async def small_queue(services: Services, limit: int) -> AsyncIterator[EventStream]:
    stream = EventStream(
        services.sessions, services.settings.events, services.wakeups, queue_limit=limit
    )
    try:
        yield stream
    finally:
        await stream.aclose()


async def test_a_stream_that_falls_behind_catches_up_from_the_database(
    tmp_path: Path, database_url: str
) -> None:
    async with running_genhook(make_settings(tmp_path, database_url, **QUIET)) as harness:
        services = harness.services
        task_id = await make_task(services)
        async with small_queue(services, limit=3) as stream:
            position = await stream.start(EventFilter())
            following = stream.follow(position, EventFilter())
            first = await emit(services, task_id, EventType.PROCESSING)
            assert (await asyncio.wait_for(anext(following), 10)).id == first
            # twenty more while nobody reads: the queue overflows after three
            made = [await emit(services, task_id) for _ in range(20)]
            await asyncio.sleep(0.2)  # the hub has offered them all by now
            got = [(await asyncio.wait_for(anext(following), 10)).id for _ in range(20)]
            assert got == made
            # and it is back on the hub, live
            later = await emit(services, task_id)
            assert (await asyncio.wait_for(anext(following), 10)).id == later
            await following.aclose()
