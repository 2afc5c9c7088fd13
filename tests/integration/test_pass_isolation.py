"""A row that fails is that row's problem: poll, dispatch, mirror and reconcile passes.

The failure is real, not faked: a database trigger refuses one row's write (the
way a value no column can hold, a constraint or a bad page would), on SQLite and
PostgreSQL. Each test checks that the pass still returns, that the neighbours'
work is written, and that the failing row is recorded with the reason and retried
on its own schedule (or, where even that cannot be written, left to its lease).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from receiver import clock
from receiver.lifecycle import EventType, Status
from receiver.services import Services
from receiver.submit import SubmitRequest
from storage.models import Asset, Delivery, Snapshot, Task
from tests.conftest import FakeClock, make_settings
from tests.support.cdn import running_cdn
from tests.support.delivery import emit, make_task
from tests.support.downstream import downstream
from tests.support.harness import running_genhook
from tests.support.simulated import MODELS, Simulated, simulated_genhook

_names = itertools.count()
Poison = Callable[[str, str], Awaitable[None]]


@pytest.fixture
async def poison(database_url: str) -> AsyncIterator[Callable[[Services], Poison]]:
    """``poison(services)(table, condition)``: every UPDATE of ``table`` for which
    ``condition`` (over ``NEW``/``OLD``) holds fails, as a poisoned row would."""
    made: list[tuple[Services, str, str]] = []

    def bind(services: Services) -> Poison:
        async def add(table: str, condition: str) -> None:
            name = f"poison_{next(_names)}"
            async with services.engine.begin() as connection:
                if services.engine.dialect.name == "sqlite":
                    await connection.execute(
                        text(
                            f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} FOR EACH ROW "
                            f"WHEN {condition} BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
                        )
                    )
                else:
                    await connection.execute(
                        text(
                            "CREATE OR REPLACE FUNCTION genhook_poison() RETURNS trigger AS "
                            "$$ BEGIN RAISE EXCEPTION 'poisoned row'; END $$ LANGUAGE plpgsql"
                        )
                    )
                    await connection.execute(
                        text(
                            f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} FOR EACH ROW "
                            f"WHEN ({condition}) EXECUTE FUNCTION genhook_poison()"
                        )
                    )
            made.append((services, table, name))

        return add

    yield bind
    for services, table, name in made:
        if services.engine.dialect.name != "sqlite":  # SQLite files are per test
            async with services.engine.begin() as connection:
                await connection.execute(text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))


async def cure(services: Services) -> None:
    """Drop every poison trigger (the row becomes writable again)."""
    async with services.engine.begin() as connection:
        if services.engine.dialect.name == "sqlite":
            rows = await connection.execute(
                text("SELECT name FROM sqlite_master WHERE type='trigger' AND name LIKE 'poison_%'")
            )
            for (name,) in rows.all():
                await connection.execute(text(f"DROP TRIGGER {name}"))
        else:
            rows = await connection.execute(
                text(
                    "SELECT tgname, tgrelid::regclass FROM pg_trigger WHERE tgname LIKE 'poison_%'"
                )
            )
            for name, table in rows.all():
                await connection.execute(text(f"DROP TRIGGER {name} ON {table}"))


async def test_a_poll_answer_that_cannot_be_written_stalls_only_its_task(
    polled: Simulated, fake_clock: FakeClock, poison: Callable[[Services], Poison]
) -> None:
    services = polled.genhook.services
    submitter = services.submitter(rng=random.Random(1))
    ids = [
        (await submitter.submit(SubmitRequest("apimart", MODELS["apimart"], f"fox {i}", {}))).id
        for i in range(3)
    ]
    bad = ids[1]
    await poison(services)("tasks", f"NEW.id = '{bad}' AND NEW.status = 'completed'")
    fake_clock.advance(25)
    poller = services.poller(holder="p", rng=random.Random(0))
    report = await poller.poll_once()  # used to raise: the pass rolled back for all three
    assert (report.claimed, report.applied, report.deferred) == (3, 2, 1)
    async with services.sessions() as session:
        tasks = {t.id: t for t in (await session.exec(select(Task))).all()}
        [kept] = (
            await session.exec(
                select(Snapshot).where(Snapshot.task_id == bad, Snapshot.outcome == "quarantined")
            )
        ).all()
    assert {tasks[i].status for i in ids if i != bad} == {Status.COMPLETED}
    stalled = tasks[bad]
    assert stalled.status != Status.COMPLETED
    assert stalled.lease_holder is None  # not left to its lease: on its own schedule
    assert stalled.next_poll_at is not None and stalled.next_poll_at > fake_clock.now
    assert "poll answer not stored" in (kept.detail or "")

    await cure(services)
    fake_clock.advance(60)
    await poller.poll_once()
    async with services.sessions() as session:
        healed = await session.get(Task, bad)
    assert healed is not None and healed.status == Status.COMPLETED


async def test_a_delivery_outcome_that_cannot_be_written_costs_only_that_delivery(
    tmp_path: Path, database_url: str, poison: Callable[[Services], Poison]
) -> None:
    settings = make_settings(tmp_path, database_url, delivery_allow_private_targets=True)
    async with downstream() as receiver, running_genhook(settings) as genhook:
        services = genhook.services
        await services.subscribers.add(receiver.url())
        events = [await emit(services, await make_task(services)) for _ in range(3)]
        async with services.sessions() as session:
            bad = (await session.exec(select(Delivery).where(Delivery.event_id == events[1]))).one()
        await poison(services)("deliveries", f"NEW.id = {bad.id} AND NEW.attempts > OLD.attempts")
        report = await services.dispatcher(holder="d").dispatch_once()
        assert report.verdicts == {"succeeded": 2}
        async with services.sessions() as session:
            rows = {d.event_id: d for d in (await session.exec(select(Delivery))).all()}
    # the two others are recorded as delivered (they used to be sent again, too)
    assert {rows[e].status for e in (events[0], events[2])} == {"succeeded"}
    assert rows[events[1]].status == "pending"
    assert rows[events[1]].lease_holder == "d"  # left to its lease: sent again after it
    assert sorted(r.event_id for r in receiver.received) == sorted(events)


async def test_an_image_that_cannot_be_recorded_is_retried_on_its_schedule(
    tmp_path: Path, database_url: str, poison: Callable[[Services], Poison]
) -> None:
    settings = make_settings(tmp_path, database_url, assets_allow_private=True)
    async with running_cdn() as cdn, running_genhook(settings) as genhook:
        services = genhook.services
        tasks = [await make_task(services) for _ in range(2)]
        for task_id in tasks:
            await emit(
                services,
                task_id,
                EventType.COMPLETED,
                status=Status.COMPLETED.value,
                result_urls=[f"{cdn.url}/png"],
            )
        async with services.sessions() as session:
            assets = (await session.exec(select(Asset).order_by(col(Asset.id)))).all()
        bad = assets[0]
        await poison(services)("assets", f"NEW.id = {bad.id} AND NEW.status = 'stored'")
        report = await services.mirror(holder="m").mirror_once()  # used to raise
        assert (report.stored, report.retrying, report.tasks_ready) == (1, 1, 1)
        async with services.sessions() as session:
            failed = await session.get(Asset, bad.id)
        assert failed is not None and failed.status == "pending"
        assert failed.attempts == 1 and failed.error_code == "internal"
        assert "not recorded" in (failed.error_message or "")
        assert failed.lease_holder is None
        assert failed.next_attempt_at is not None and failed.next_attempt_at > clock.utcnow()


async def test_a_resubmission_that_cannot_be_written_does_not_stop_the_others(
    tmp_path: Path, database_url: str, poison: Callable[[Services], Poison]
) -> None:
    settings = make_settings(tmp_path, database_url)
    async with simulated_genhook(settings) as world:
        services = world.genhook.services
        ids = []
        for i in range(3):  # as a crash between the row and the create leaves them
            now = clock.utcnow()
            task = Task(
                provider="apimall",
                origin="submit",
                model=MODELS["apimall"],
                request={"model": MODELS["apimall"], "prompt": f"fox {i}", "params": {}},
                status=Status.SUBMITTING.value,
                created_at=now,
                updated_at=now,
                deadline_at=now + timedelta(minutes=30),
                next_poll_at=now + timedelta(minutes=30),
            )
            async with services.sessions() as session, session.begin():
                session.add(task)
            ids.append(task.id)
        bad = ids[0]
        await poison(services)("tasks", f"NEW.id = '{bad}' AND NEW.submitted_at IS NOT NULL")
        verdicts = dict(await services.submitter().reconcile_unconfirmed())  # used to raise
        assert verdicts[ids[1]] == verdicts[ids[2]] == "resubmitted"
        assert verdicts[bad].startswith("not settled")
        async with services.sessions() as session:
            stranded = await session.get(Task, bad)
        assert stranded is not None and stranded.status == Status.SUBMITTING

        await cure(services)
        async with services.sessions() as session, session.begin():
            stranded = await session.get(Task, bad)
            assert stranded is not None
            stranded.lease_expires_at = None  # as after its lease ran out
            session.add(stranded)
        assert dict(await services.submitter().reconcile_unconfirmed()) == {bad: "resubmitted"}
