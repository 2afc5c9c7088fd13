"""The Python client against a real genhook server (SQLite and PostgreSQL), the
provider simulator behind it: every operation, pagination, and every error type.

The blocking :class:`Genhook` runs in a thread (the server shares the test's event
loop); :class:`AsyncGenhook` runs in the loop itself.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.client import (
    ApiNotFoundError,
    ApiRequestError,
    AsyncGenhook,
    ClientTimeoutError,
    ConflictError,
    Genhook,
    UnauthorizedError,
    UnavailableError,
)
from receiver.lifecycle import Status
from receiver.settings import Settings
from tests.support.downstream import downstream
from tests.support.process import free_port
from tests.support.servers import serve
from tests.support.simulated import MODELS, Simulated, simulated_genhook


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[Simulated]:
    wired = settings.updated(
        run_background=True,
        dispatch_tick_seconds=0.05,
        poll_tick_seconds=0.1,
        events_poll_seconds=0.05,
        apimall_poll_first=(0.1, 0.2),
        apimall_poll_interval=(0.1, 0.2),
        delivery_allow_private_targets=True,
        delivery_schedule=(),
    )
    async with simulated_genhook(wired) as simulated:
        yield simulated


def client(world: Simulated, **options: Any) -> Genhook:
    return Genhook(world.genhook.base_url, world.genhook.token, **options)


def async_client(world: Simulated, **options: Any) -> AsyncGenhook:
    return AsyncGenhook(world.genhook.base_url, world.genhook.token, **options)


async def test_submit_then_wait_completes_through_the_simulator(world: Simulated) -> None:
    def flow() -> tuple[Any, Any, list[tuple[str, str | None]]]:
        seen: list[tuple[str, str | None]] = []
        with client(world) as genhook:
            task = genhook.submit("apimodels", model=MODELS["apimodels"], prompt="a fox")
            done = genhook.wait(
                task.id, timeout=20, on_update=lambda t, e: seen.append((t.status, e))
            )
        return task, done, seen

    task, done, seen = await asyncio.to_thread(flow)
    assert task.id.startswith("tsk_") and task.status is Status.PENDING
    assert done.id == task.id and done.status is Status.COMPLETED
    assert done.result_urls and done.last_source == "callback"
    assert seen[0] == (Status.PENDING, None)  # the state first, then the events
    assert seen[-1] == (Status.COMPLETED, "task.completed")


async def test_the_async_client_does_the_same(world: Simulated) -> None:
    async with async_client(world) as genhook:
        task = await genhook.submit("apimall", model=MODELS["apimall"], prompt="a fox")
        done = await genhook.wait(task.id, timeout=20)
        assert done.status is Status.COMPLETED and done.last_source == "poll"
        detail = await genhook.get(task.id)
        types = [e.type for e in detail.events]
        assert types[0] == "task.submitted" and "task.completed" in types
        listed = [t.id async for t in genhook.tasks(provider="apimall")]
        assert listed == [task.id]
        # wait on a finished task answers at once
        assert (await genhook.wait(task.id, timeout=1)).status is Status.COMPLETED


async def test_a_submit_retried_with_its_key_is_the_same_task(world: Simulated) -> None:
    def submits() -> tuple[str, str, ConflictError]:
        with client(world) as genhook:
            args: dict[str, Any] = {
                "model": MODELS["apimall"],
                "prompt": "a fox",
                "idempotency_key": "job-1",
            }
            first = genhook.submit("apimall", **args)
            again = genhook.submit("apimall", **args)
            with pytest.raises(ConflictError) as refused:
                genhook.submit("apimall", **{**args, "prompt": "a cat"})
        return first.id, again.id, refused.value

    first, again, refused = await asyncio.to_thread(submits)
    assert first == again
    assert len(world.sim.tasks) == 1
    assert (refused.status, refused.code, refused.task_id) == (409, "idempotency_key_reused", first)


async def test_tasks_iterates_over_every_page(world: Simulated) -> None:
    async with async_client(world) as genhook:
        made = [(await genhook.callback_url("apimodels")).task_id for _ in range(5)]
        listed = [t.id async for t in genhook.tasks(page_size=2)]
        assert listed == list(reversed(made))  # newest first, all three pages
        first_two = [t.id async for t in genhook.tasks(page_size=2)][:2]
        assert first_two == listed[:2]
    with client(world) as blocking:
        lazy = await asyncio.to_thread(
            lambda: [t.id for t in itertools.islice(blocking.tasks(page_size=2), 3)]
        )
    assert lazy == listed[:3]


async def test_every_error_is_its_own_type(world: Simulated) -> None:
    async with async_client(world) as genhook:
        with pytest.raises(ApiNotFoundError) as missing:
            await genhook.get("tsk_01M8VG4NA17JEGJCNX92WYYTKY")
        assert missing.value.code == "task_not_found"
        with pytest.raises(ApiRequestError) as refused:
            await genhook.submit("apimart", model="gpt-image-2", prompt="x", params={"n": 9})
        assert refused.value.field == "n" and refused.value.task_id is not None
        with pytest.raises(ApiRequestError) as no_callbacks:
            await genhook.callback_url("apimart")
        assert no_callbacks.value.code == "no_callbacks"

        task = await genhook.submit("apimall", model=MODELS["apimall"], prompt="a fox")
        assert task.provider_task_id is not None
        with pytest.raises(ConflictError) as tracked:
            await genhook.track("apimall", task.provider_task_id)
        assert tracked.value.code == "already_tracked"
        with pytest.raises(ConflictError):
            await genhook.settle(task.id, "failed")

        never = await genhook.submit("apimall", model=MODELS["apimall"], prompt="[sim:never]")
        with pytest.raises(ClientTimeoutError) as late:
            await genhook.wait(never.id, timeout=0.5)
        assert isinstance(late.value, TimeoutError) and late.value.task.id == never.id

    async with AsyncGenhook(world.genhook.base_url, "wrong-token") as stranger:
        with pytest.raises(UnauthorizedError) as unauthorized:
            await stranger.get(task.id)
        assert "GENHOOK_API_TOKEN" in str(unauthorized.value)

    nobody = f"http://127.0.0.1:{free_port()}"
    async with AsyncGenhook(nobody, "t", retry_seconds=0.5) as gone:
        with pytest.raises(UnavailableError) as unreachable:
            await gone.get(task.id)
    assert nobody in str(unreachable.value) and "genhook serve" in str(unreachable.value)


async def test_503_with_retry_after_is_retried_within_the_bound(world: Simulated) -> None:
    answers: list[int] = []
    real = await world.genhook.client.get("/api/tasks", params={"limit": 1})

    async def flaky(request: Request) -> Response:
        status = 503 if len(answers) < 2 else 200
        answers.append(status)
        if status == 503:
            body = b'{"error": {"code": "storage_unavailable", "message": "db down"}}'
            return Response(body, 503, {"Retry-After": "0.2"}, media_type="application/json")
        return Response(real.content, 200, media_type="application/json")

    app = Starlette(routes=[Route("/api/tasks", flaky)])
    async with serve(app) as url:
        async with AsyncGenhook(url, "t", retry_seconds=5) as genhook:
            assert [t async for t in genhook.tasks()] == []
        assert answers == [503, 503, 200]
        answers.clear()
        async with AsyncGenhook(url, "t", retry_seconds=0.3) as impatient:
            with pytest.raises(UnavailableError, match="db down"):
                [t async for t in impatient.tasks()]


async def test_events_follow_the_stream_with_filters(world: Simulated) -> None:
    async with async_client(world) as genhook:
        stream = genhook.events(types=["task.completed"])
        first = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.3)  # the stream is open: it starts from now
        task = await genhook.submit("apimall", model=MODELS["apimall"], prompt="a fox")
        event = await asyncio.wait_for(first, 20)
        assert (event.type, event.data.id) == ("task.completed", task.id)
        await stream.aclose()

        # resumed from an event id: exactly what followed it
        detail = await genhook.get(task.id)
        after_first = genhook.events(task_id=task.id, last_event_id=detail.events[0].id)
        resumed = await asyncio.wait_for(anext(after_first), 10)
        assert resumed.id == detail.events[1].id
        await after_first.aclose()


async def test_subscriber_and_delivery_operations(world: Simulated) -> None:
    async with async_client(world) as genhook, downstream() as receiver:
        added = await genhook.subscribers.add(receiver.url(), events=["task.completed"])
        assert added.secret.startswith("whsec_")
        assert [s.id for s in await genhook.subscribers.list()] == [added.id]
        assert (await genhook.subscribers.get(added.id)).secret == added.secret
        disabled = await genhook.subscribers.disable(added.id)
        assert disabled.active is False and disabled.dead_lettered == 0
        assert (await genhook.subscribers.enable(added.id)).active is True
        rotated = await genhook.subscribers.rotate(added.id)
        assert rotated.secret != added.secret and rotated.rotating_until is not None

        task = await genhook.submit("apimall", model=MODELS["apimall"], prompt="a fox")
        await genhook.wait(task.id, timeout=20)
        for _ in range(200):
            delivered = [d async for d in genhook.deliveries.list(subscriber=added.id)]
            if delivered and delivered[0].status == "succeeded":
                break
            await asyncio.sleep(0.05)
        (delivery,) = delivered
        detail = await genhook.deliveries.get(delivery.id)
        assert [a.status_code for a in detail.attempts] == [200]
        assert await genhook.deliveries.replay(added.id, event=delivery.event_id) == 1

        await genhook.subscribers.remove(added.id)
        with pytest.raises(ApiNotFoundError):
            await genhook.subscribers.get(added.id)


async def test_a_task_webhook_through_the_client(world: Simulated) -> None:
    async with async_client(world) as genhook, downstream() as receiver:
        task = await genhook.submit(
            "apimall",
            model=MODELS["apimall"],
            prompt="a fox",
            webhook={"url": receiver.url("mine"), "events": ["task.completed"]},
        )
        assert task.webhook is not None and task.webhook.task_id == task.id
        await genhook.wait(task.id, timeout=20)
        for _ in range(200):
            if receiver.received:
                break
            await asyncio.sleep(0.05)
        mine = await genhook.subscribers.list(task_id=task.id)
        assert [s.id for s in mine] == [task.webhook.id]
        assert await genhook.subscribers.list() == []
    assert [r.path for r in receiver.received] == ["/mine"]
