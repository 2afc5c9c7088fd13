"""Webhook delivery end to end on SQLite and PostgreSQL: fan-out, dispatcher, receiver.

Events are written through ``record_event`` (the seam every change uses); a real
downstream receiver runs on loopback (``tests/support/downstream.py``); tests call
``dispatch_once()`` directly, and where the schedule matters they move a fake clock
(``receiver.clock.utcnow``) so that "5 minutes later" costs nothing and is exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select
from standardwebhooks import Webhook, WebhookVerificationError

from receiver import clock
from receiver.delivery.deliveries import ReplayRequest
from receiver.delivery.dispatcher import Dispatcher
from receiver.delivery.schedule import Policy, schedule_bounds
from receiver.errors import InvalidSubscriberError
from receiver.events import record_event
from receiver.lifecycle import EventType
from receiver.params import DeliveryQuery
from receiver.services import Services, open_services
from receiver.stream import EventFilter
from storage.models import Delivery, OutboxEvent, Subscriber, Task
from tests.conftest import FakeClock, make_settings
from tests.support.delivery import attempts, deliveries, emit, make_task, subscriber
from tests.support.downstream import Reply, always, downstream, fail_then_accept
from tests.support.harness import running_genhook
from tests.support.waiting import eventually

ALLOW = {"delivery_allow_private_targets": True}


@contextlib.asynccontextmanager
async def opened(tmp_path: Path, database_url: str, **overrides: Any) -> AsyncIterator[Services]:
    settings = make_settings(tmp_path, database_url, **{**ALLOW, **overrides})
    async with open_services(settings) as services:
        yield services


def dispatcher(services: Services, holder: str = "d1", seed: int = 0) -> Dispatcher:
    return services.dispatcher(holder=holder, rng=random.Random(seed))


async def run_clock(d: Dispatcher, fake: FakeClock, seconds: float, step: float = 1.0) -> None:
    """Advance the fake clock in steps, one dispatcher pass per step."""
    elapsed = 0.0
    while elapsed < seconds:
        await d.dispatch_once()
        fake.advance(step)
        elapsed += step
    await d.dispatch_once()


async def settle(d: Dispatcher, services: Services, fake: FakeClock, passes: int = 50) -> None:
    """Pass after pass, moving the fake clock straight to the next due delivery."""
    for _ in range(passes):
        await d.dispatch_once()
        async with services.sessions() as session:
            due = (
                await session.exec(
                    select(func.min(Delivery.next_attempt_at)).where(Delivery.status == "pending")
                )
            ).one()
        if due is None:
            return
        fake.now = max(fake.now, due)
    raise AssertionError(f"deliveries still pending after {passes} passes")


async def test_fails_then_accepts_exactly_once_on_the_schedule(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> None:
    schedule = (5.0, 20.0, 60.0, 90.0)
    async with (
        opened(tmp_path, database_url, delivery_schedule=schedule, delivery_jitter=0.2) as s,
        downstream(fail_then_accept(3)) as receiver,
    ):
        sub = await s.subscribers.add(receiver.url())
        events = [await emit(s, await make_task(s)) for _ in range(2)]
        await settle(dispatcher(s), s, fake_clock)

        bounds = schedule_bounds(Policy(schedule=schedule, jitter=0.2))
        for event_id in events:
            got = receiver.for_event(event_id)
            assert len(got) == 4  # three failures, one success, nothing after it
            assert all(r.headers["webhook-id"] == event_id for r in got)
            (delivery,) = await deliveries(s, event_id=event_id)
            assert delivery.subscriber_id == sub.id
            assert delivery.status == "succeeded"
            assert delivery.attempts == 4
            assert delivery.next_attempt_at is None
            assert delivery.last_status_code == 200
            assert delivery.delivered_at is not None
            assert delivery.id is not None
            history = await attempts(s, delivery.id)
            assert [a.status_code for a in history] == [500, 500, 500, 200]
            assert [a.number for a in history] == [1, 2, 3, 4]
            assert [a.response_body for a in history] == ["ok"] * 4
            assert all(a.latency_ms >= 0 and a.error is None for a in history)
            gaps = [
                (b.attempted_at - a.attempted_at).total_seconds()
                for a, b in itertools.pairwise(history)
            ]
            for gap, (low, high) in zip(gaps, bounds, strict=False):
                assert low <= gap <= high
        assert (await subscriber(s, sub.id)).failing_since is None


async def test_signature_verifies_with_the_reference_library_across_rotation(
    tmp_path: Path, database_url: str
) -> None:
    async with opened(tmp_path, database_url) as s, downstream() as receiver:
        manager = s.subscribers
        sub = await manager.add(receiver.url())
        old_secret = sub.secret
        d = dispatcher(s)
        task_id = await make_task(s)

        first = await emit(s, task_id)
        await d.dispatch_once()
        (request,) = receiver.for_event(first)
        payload = Webhook(old_secret).verify(request.body, request.headers)
        assert payload["id"] == first
        assert payload["type"] == "task.processing"
        assert payload["data"]["id"] == task_id
        assert request.headers["content-type"] == "application/json"

        rotated = await manager.rotate(sub.id)
        assert rotated.secret != old_secret
        second = await emit(s, task_id, EventType.COMPLETED, status="completed")
        await d.dispatch_once()
        (request,) = receiver.for_event(second)
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        Webhook(old_secret).verify(request.body, request.headers)
        Webhook(rotated.secret).verify(request.body, request.headers)

        # the window ends: only the new secret signs
        async with s.sessions() as session, session.begin():
            row = await session.get(Subscriber, sub.id)
            assert row is not None
            row.previous_secret_expires_at = clock.utcnow() - timedelta(seconds=1)
            session.add(row)
        third = await emit(s, task_id, EventType.ANOMALY)
        await d.dispatch_once()
        (request,) = receiver.for_event(third)
        Webhook(rotated.secret).verify(request.body, request.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old_secret).verify(request.body, request.headers)


async def test_redirects_are_failures_and_not_followed(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> None:
    async with opened(tmp_path, database_url, delivery_jitter=0) as s, downstream() as receiver:
        receiver.answer = always(Reply(302, {"location": receiver.url("elsewhere")}))
        await s.subscribers.add(receiver.url())
        event_id = await emit(s, await make_task(s))
        report = await dispatcher(s).dispatch_once()
        assert report.verdicts == {"retry": 1}
        assert [r.path for r in receiver.received] == ["/hook"]
        (delivery,) = await deliveries(s)
        assert delivery.status == "pending"
        assert delivery.last_status_code == 302
        assert delivery.last_error == "HTTP 302: redirects are not followed"
        assert delivery.next_attempt_at == fake_clock.now + timedelta(seconds=5)
        assert receiver.for_event(event_id, "/elsewhere") == []


async def test_410_disables_the_subscriber_and_only_it(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> None:
    async with opened(tmp_path, database_url) as s, downstream() as receiver:
        gone = await s.subscribers.add(receiver.url("gone"))
        fine = await s.subscribers.add(receiver.url("fine"))
        receiver.answer = lambda r, n: Reply(410 if r.path == "/gone" else 200)
        task_a, task_b = await make_task(s), await make_task(s)
        await emit(s, task_a)
        await dispatcher(s).dispatch_once()  # first → 410 for "gone", 200 for "fine"

        after_gone = await subscriber(s, gone.id)
        assert after_gone.active is False
        assert "410" in (after_gone.disabled_reason or "")
        assert after_gone.disabled_at == fake_clock.now

        second = await emit(s, task_b)  # no delivery to a disabled subscriber
        await dispatcher(s).dispatch_once()
        assert [d.subscriber_id for d in await deliveries(s, event_id=second)] == [fine.id]
        assert [r.path for r in receiver.for_event(second)] == ["/fine"]
        (dead,) = await deliveries(s, subscriber_id=gone.id)
        assert dead.status == "dead"
        assert dead.last_status_code == 410


async def test_disabling_a_subscriber_is_an_event_for_those_who_ask(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> None:
    """410 and failing too long each disable with a ``subscriber.disabled`` event, as
    Standard Webhooks advises; it goes to subscribers that list the type (signed like
    any webhook), never to one that asked for everything (task events), and it is on
    the live stream."""
    overrides = {"delivery_schedule": (30,) * 10, "delivery_disable_after_seconds": 50}
    async with opened(tmp_path, database_url, **overrides) as s, downstream() as receiver:
        ops = await s.subscribers.add(receiver.url("ops"), "subscriber.disabled")
        tasks_only = await s.subscribers.add(receiver.url("tasks"))
        gone = await s.subscribers.add(receiver.url("gone"))
        flaky = await s.subscribers.add(receiver.url("flaky"))
        answers = {"/gone": 410, "/flaky": 500}
        receiver.answer = lambda r, n: Reply(answers.get(r.path, 200))
        position = await s.stream.start(EventFilter(types=frozenset({"subscriber.disabled"})))
        await emit(s, await make_task(s))
        d = dispatcher(s)
        for _ in range(3):  # 410 at once; 500s for 60 s > 50 s
            await d.dispatch_once()
            fake_clock.advance(30)
        await d.dispatch_once()

        assert not (await subscriber(s, gone.id)).active
        assert not (await subscriber(s, flaky.id)).active
        told = [
            Webhook(ops.secret).verify(r.body, r.headers)
            for r in receiver.received
            if r.path == "/ops"
        ]
        assert sorted(e["data"]["id"] for e in told) == sorted([gone.id, flaky.id])
        assert {e["type"] for e in told} == {"subscriber.disabled"}
        assert all(e["data"]["active"] is False and e["data"]["disabled_reason"] for e in told)
        assert all("secret" not in e["data"] for e in told)
        assert {r.event_id for r in receiver.received if r.path == "/tasks"} <= {
            d.event_id for d in await deliveries(s, subscriber_id=tasks_only.id)
        }
        assert all(
            json.loads(r.body)["type"].startswith("task.")
            for r in receiver.received
            if r.path == "/tasks"
        )
        streamed = await s.stream.read(
            position, EventFilter(types=frozenset({"subscriber.disabled"}))
        )
        assert sorted(e.payload["data"]["id"] for e in streamed) == sorted([gone.id, flaky.id])


async def test_disabling_dead_letters_pending_deliveries(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> None:
    async with opened(tmp_path, database_url) as s:
        sub = await s.subscribers.add("http://127.0.0.1:9/hook")
        for _ in range(3):
            await emit(s, await make_task(s))
        assert await s.subscribers.disable(sub.id, "maintenance") == 3
        rows = await deliveries(s)
        assert {d.status for d in rows} == {"dead"}
        assert {d.last_error for d in rows} == {"subscriber disabled: maintenance"}
        assert {d.next_attempt_at for d in rows} == {None}
        assert (await dispatcher(s).dispatch_once()).claimed == 0


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured_and_clamped(
    tmp_path: Path, database_url: str, fake_clock: FakeClock, status: int
) -> None:
    async with (
        opened(tmp_path, database_url, delivery_retry_after_max_seconds=300) as s,
        downstream() as receiver,
    ):
        asks = iter(["120", "99999"])
        receiver.answer = lambda r, n: (
            Reply(status, {"retry-after": next(asks)}) if n < 2 else Reply(200)
        )
        await s.subscribers.add(receiver.url())
        event_id = await emit(s, await make_task(s))
        d = dispatcher(s)
        start = fake_clock.now
        await d.dispatch_once()
        (delivery,) = await deliveries(s)
        assert delivery.next_attempt_at == start + timedelta(seconds=120)

        fake_clock.advance(119)
        assert (await d.dispatch_once()).claimed == 0
        fake_clock.advance(1)
        await d.dispatch_once()
        (delivery,) = await deliveries(s)
        assert delivery.next_attempt_at == fake_clock.now + timedelta(seconds=300)  # clamped

        fake_clock.advance(300)
        await d.dispatch_once()
        assert [r.headers["webhook-id"] for r in receiver.received] == [event_id] * 3
        (delivery,) = await deliveries(s)
        assert delivery.status == "succeeded"


async def test_dead_letter_after_the_last_attempt_then_replay_delivers(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> None:
    async with (
        opened(tmp_path, database_url, delivery_schedule=(1, 1), delivery_jitter=0) as s,
        downstream(always(Reply(500, body=b"boom"))) as receiver,
    ):
        sub = await s.subscribers.add(receiver.url())
        task_id = await make_task(s)
        kept = await emit(s, task_id)
        event_id = await emit(s, task_id, EventType.COMPLETED)
        await run_clock(dispatcher(s), fake_clock, 10)
        # three attempts for the first event, then dead; then three for the second
        assert len(receiver.for_event(kept)) == 3
        assert len(receiver.for_event(event_id)) == 3
        dead = await s.deliveries.list(DeliveryQuery(status="dead", limit=10))
        assert [(d.event_id, t) for d, t in dead] == [
            (event_id, "task.completed"),
            (kept, "task.processing"),
        ]
        assert all("dead-lettered" in (d.last_error or "") for d, _ in dead)
        assert all(d.next_attempt_at is None for d, _ in dead)

        receiver.answer = always(Reply(204))
        requeued = await s.deliveries.replay(
            ReplayRequest(sub.id, event_id=event_id, dead_only=True), clock.utcnow()
        )
        assert requeued == 1
        await dispatcher(s).dispatch_once()
        assert len(receiver.for_event(event_id)) == 4
        assert len(receiver.for_event(kept)) == 3  # not asked for
        (delivery,) = await deliveries(s, event_id=event_id)
        assert delivery.status == "succeeded"
        assert delivery.id is not None
        history = await attempts(s, delivery.id)
        assert [a.status_code for a in history] == [500, 500, 500, 204]
        assert history[0].response_body == "boom"

        # replay everything since a time re-sends succeeded ones too, same event ids
        requeued = await s.deliveries.replay(
            ReplayRequest(sub.id, since=fake_clock.now - timedelta(hours=1)), clock.utcnow()
        )
        assert requeued == 2
        await dispatcher(s).dispatch_once()
        await dispatcher(s).dispatch_once()
        assert len(receiver.for_event(kept)) == 4
        assert len(receiver.for_event(event_id)) == 5


async def test_two_dispatchers_never_send_one_delivery_twice(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, **ALLOW, dispatch_batch_size=5)
    async with (
        open_services(settings) as one,
        open_services(settings) as two,
        downstream(always(Reply(200, delay=0.02))) as receiver,
    ):
        for path in ("a", "b"):
            await one.subscribers.add(receiver.url(path))
        events = []
        for _ in range(10):
            task_id = await make_task(one)
            events += [await emit(one, task_id), await emit(one, task_id, EventType.COMPLETED)]

        claimed = {"one": 0, "two": 0}

        async def work(name: str, d: Dispatcher) -> None:
            for _ in range(200):
                report = await d.dispatch_once()
                claimed[name] += report.claimed
                if len(receiver.received) >= 2 * len(events):
                    return
                if not report.claimed:
                    await asyncio.sleep(0.01)

        await asyncio.gather(
            work("one", one.dispatcher(holder="one")), work("two", two.dispatcher(holder="two"))
        )
        sent = [(r.path, r.event_id) for r in receiver.received]
        assert sorted(sent) == sorted((f"/{p}", e) for p in ("a", "b") for e in events)
        assert receiver.max_in_flight_per_event == 1
        assert claimed["one"] > 0 and claimed["two"] > 0
        assert {d.status for d in await deliveries(one)} == {"succeeded"}


async def test_one_task_in_order_without_blocking_others(
    tmp_path: Path, database_url: str, fake_clock: FakeClock
) -> None:
    async with (
        opened(tmp_path, database_url, delivery_jitter=0) as s,
        downstream() as receiver,
    ):
        slow = await s.subscribers.add(receiver.url("slow"))
        await s.subscribers.add(receiver.url("fast"))
        task_a, task_b = await make_task(s), await make_task(s)
        a1 = await emit(s, task_a)
        a2 = await emit(s, task_a, EventType.COMPLETED)
        b1 = await emit(s, task_b)
        # "slow" refuses task A's first event twice
        receiver.answer = lambda r, n: (
            Reply(500) if r.path == "/slow" and r.event_id == a1 and n < 2 else Reply(200)
        )

        d = dispatcher(s)
        await d.dispatch_once()
        first_pass = [(r.path, r.event_id) for r in receiver.received]
        # a1 fails on /slow, so a2 waits there; everything else goes at once
        assert ("/slow", a2) not in first_pass
        assert {("/slow", a1), ("/slow", b1), ("/fast", a1), ("/fast", b1)} <= set(first_pass)
        await d.dispatch_once()  # /fast: a2 after a1 succeeded
        assert ("/fast", a2) in [(r.path, r.event_id) for r in receiver.received]
        (waiting,) = await deliveries(s, event_id=a2, subscriber_id=slow.id)
        assert waiting.status == "pending" and waiting.attempts == 0
        # the waiting follower moved along with its leader's retry
        (leader,) = await deliveries(s, event_id=a1, subscriber_id=slow.id)
        assert waiting.next_attempt_at == leader.next_attempt_at

        await settle(d, s, fake_clock)
        slow_order = [r.event_id for r in receiver.received if r.path == "/slow"]
        assert slow_order.index(a2) > max(i for i, e in enumerate(slow_order) if e == a1)
        assert slow_order.count(a1) == 3 and slow_order.count(a2) == 1
        assert {d.status for d in await deliveries(s)} == {"succeeded"}


async def test_a_subscriber_failing_too_long_is_disabled(
    tmp_path: Path, database_url: str, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    overrides = {
        "delivery_schedule": (30,) * 10,
        "delivery_jitter": 0,
        "delivery_disable_after_seconds": 100,
    }
    async with (
        opened(tmp_path, database_url, **overrides) as s,
        downstream(always(Reply(500))) as receiver,
    ):
        sub = await s.subscribers.add(receiver.url())
        d = dispatcher(s)
        await emit(s, await make_task(s))
        started = fake_clock.now
        await d.dispatch_once()
        assert (await subscriber(s, sub.id)).failing_since == started

        receiver.answer = always(Reply(200))  # one success ends the failing run
        fake_clock.advance(30)
        await d.dispatch_once()
        assert (await subscriber(s, sub.id)).failing_since is None

        receiver.answer = always(Reply(500))
        await emit(s, await make_task(s))
        await emit(s, await make_task(s))
        caplog.set_level("WARNING", logger="receiver.delivery.subscribers")
        await run_clock(d, fake_clock, 60, step=30)  # failing for 60 s: still active
        assert (await subscriber(s, sub.id)).active
        await run_clock(d, fake_clock, 60, step=30)  # 120 s > 100 s: disabled
        disabled = await subscriber(s, sub.id)
        assert not disabled.active
        assert (disabled.disabled_reason or "").startswith("failing continuously since")
        assert {x.status for x in await deliveries(s)} == {"succeeded", "dead"}
        assert any("subscriber.disabled" in r.getMessage() for r in caplog.records)


async def test_private_targets_are_refused_unless_allowed(
    tmp_path: Path, database_url: str
) -> None:
    strict = {"delivery_allow_private_targets": False}
    async with opened(tmp_path, database_url, **strict) as s:
        with pytest.raises(InvalidSubscriberError, match="loopback") as info:
            await s.subscribers.add("http://127.0.0.1:8080/hook")
        assert info.value.code == "target_refused"
    async with opened(tmp_path, database_url) as allowed:
        await allowed.subscribers.add("http://127.0.0.1:9/hook")
        await emit(allowed, await make_task(allowed))
    # a dispatcher that does not allow them refuses at send time too (DNS may change)
    async with opened(tmp_path, database_url, **strict) as s:
        report = await dispatcher(s).dispatch_once()
        assert report.verdicts == {"retry": 1}
        (delivery,) = await deliveries(s)
        assert (delivery.last_error or "").startswith("target refused:")
        assert delivery.id is not None
        (attempt,) = await attempts(s, delivery.id)
        assert attempt.status_code is None


async def test_timeouts_and_connection_errors_are_retried(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        opened(tmp_path, database_url, delivery_timeout_seconds=0.1) as s,
        downstream(always(Reply(200, delay=0.4))) as receiver,
    ):
        await s.subscribers.add(receiver.url())
        await s.subscribers.add("http://127.0.0.1:9/closed")  # nothing listens there
        await emit(s, await make_task(s))
        report = await dispatcher(s).dispatch_once()
        assert report.verdicts == {"retry": 2}
        errors = sorted((d.last_error or "") for d in await deliveries(s))
        assert errors[0].startswith("ConnectError")
        assert errors[1] == "timed out after 0.1 s"


async def test_response_bodies_are_kept_truncated(tmp_path: Path, database_url: str) -> None:
    async with (
        opened(tmp_path, database_url) as s,
        downstream(always(Reply(200, body=b"x" * 5000))) as receiver,
    ):
        await s.subscribers.add(receiver.url())
        await emit(s, await make_task(s))
        await dispatcher(s).dispatch_once()
        (delivery,) = await deliveries(s)
        assert delivery.id is not None
        (attempt,) = await attempts(s, delivery.id)
        assert attempt.response_body == "x" * 1024


async def test_fan_out_follows_filters_and_the_transaction(
    tmp_path: Path, database_url: str
) -> None:
    async with opened(tmp_path, database_url) as s:
        manager = s.subscribers
        everything = await manager.add("http://127.0.0.1:9/all")
        finished = await manager.add("http://127.0.0.1:9/done", "task.completed,task.failed", None)
        off = await manager.add("http://127.0.0.1:9/off")
        await manager.disable(off.id)
        task_id = await make_task(s)
        processing = await emit(s, task_id)
        completed = await emit(s, task_id, EventType.COMPLETED)
        assert {d.subscriber_id for d in await deliveries(s, event_id=processing)} == {
            everything.id
        }
        assert {d.subscriber_id for d in await deliveries(s, event_id=completed)} == {
            everything.id,
            finished.id,
        }

        # an event whose transaction rolls back leaves no delivery behind
        with pytest.raises(RuntimeError):
            async with s.sessions() as session, session.begin():
                task = await session.get(Task, task_id)
                assert task is not None
                await record_event(session, task, EventType.FAILED, clock.utcnow())
                raise RuntimeError("crash before commit")
        async with s.sessions() as session:
            outbox = (
                await session.exec(
                    select(func.count())
                    .select_from(OutboxEvent)
                    .where(OutboxEvent.task_id == task_id)
                )
            ).one()
            rows = (await session.exec(select(func.count()).select_from(Delivery))).one()
        assert (outbox, rows) == (2, 3)  # (the disabling's subscriber.disabled went to nobody)


async def test_the_background_job_retries_on_the_scaled_schedule_in_real_time(
    tmp_path: Path, database_url: str
) -> None:
    schedule = (0.15, 0.3)
    settings = make_settings(
        tmp_path,
        database_url,
        **ALLOW,
        run_background=True,
        dispatch_tick_seconds=0.02,
        delivery_schedule=schedule,
        delivery_jitter=0.2,
    )
    async with (
        downstream(fail_then_accept(2)) as receiver,
        running_genhook(settings) as harness,
    ):
        await harness.services.subscribers.add(receiver.url())
        event_id = await emit(harness.services, await make_task(harness.services))

        async def delivered() -> bool:
            return bool(await deliveries(harness.services, status="succeeded"))

        await eventually(delivered)
        got = receiver.for_event(event_id)
        assert len(got) == 3
        gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
        for gap, (low, high) in zip(gaps, schedule_bounds(Policy(schedule, 0.2)), strict=True):
            # never early; late by a few ticks at most (generous: CI machines are busy)
            assert low - 0.01 <= gap <= high + 3.0, gaps


async def test_events_and_deliveries_written_in_one_flush(
    tmp_path: Path, database_url: str
) -> None:
    """Batched ingest applies many snapshots with autoflush off and flushes once at
    commit: each event must still be inserted before the deliveries that refer to it."""
    async with opened(tmp_path, database_url) as s:
        await s.subscribers.add("http://127.0.0.1:9/hook")
        task_ids = [await make_task(s) for _ in range(3)]
        async with s.sessions() as session:
            tasks = [await session.get(Task, task_id) for task_id in task_ids]
        # tasks from another session: only events and deliveries are in this flush
        async with s.sessions() as session, session.begin():
            with session.no_autoflush:
                for task in tasks:
                    assert task is not None
                    for event_type in (EventType.PROCESSING, EventType.COMPLETED):
                        await record_event(session, task, event_type, clock.utcnow())
        rows = await deliveries(s)
        assert len(rows) == 6
        assert len({d.event_id for d in rows}) == 6


async def test_an_unexpected_send_error_is_one_failed_attempt(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with opened(tmp_path, database_url) as s:
        await s.subscribers.add("http://127.0.0.1:9/hook")
        await emit(s, await make_task(s))

        def broken(*args: object, **kwargs: object) -> None:
            raise ValueError("boom")

        monkeypatch.setattr(s.webhook_http, "stream", broken)
        report = await dispatcher(s).dispatch_once()
        assert report.verdicts == {"retry": 1}
        (delivery,) = await deliveries(s)
        assert delivery.last_error == "ValueError: boom"
        assert delivery.lease_holder is None
