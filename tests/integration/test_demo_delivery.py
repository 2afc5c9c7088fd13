"""The demo's subscriber and stream panel (what ``scripts/run`` shows downstream)."""

from __future__ import annotations

import io
import random
from pathlib import Path

from rich.console import Console

from receiver.cli.demo_run import demo_webhooks
from receiver.lifecycle import EventType
from receiver.services import open_services
from tests.conftest import make_settings
from tests.support.delivery import emit, make_task
from tests.support.waiting import eventually


async def test_demo_shows_streamed_events_and_verified_webhooks(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(
        tmp_path, database_url, delivery_allow_private_targets=True, events_poll_seconds=0.02
    )
    async with open_services(settings) as services:
        task_ids: list[str] = []
        async with demo_webhooks(services, task_ids) as seen:
            other = await make_task(services)
            task_ids.append(await make_task(services))
            await emit(services, other)  # not the demo's: not shown
            await emit(services, task_ids[0], EventType.COMPLETED, status="completed")
            await services.dispatcher(holder="demo", rng=random.Random(0)).dispatch_once()

            async def shown() -> bool:
                return bool(seen.streamed) and seen.received_types(task_ids[0]) == {
                    "task.completed"
                }

            await eventually(shown)
            out = io.StringIO()
            Console(file=out, width=120).print(seen.table())
            text = out.getvalue()
            assert "task.completed" in text and "signature verified" in text
            assert other not in text
            assert [r[2] for r in seen.received] == [True, True]
        assert await services.subscribers.list() == []  # the demo cleans up after itself


async def test_demo_says_why_it_has_no_subscriber(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url)
    async with open_services(settings) as services, demo_webhooks(services, []) as seen:
        assert seen.note is not None and "private" in seen.note
