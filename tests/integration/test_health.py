"""Readiness and heartbeats with the real background jobs running."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func
from sqlmodel import select

from receiver import clock
from receiver.lifecycle import Status
from storage.claims import worker_id
from storage.engine import create_engine, create_session_factory
from storage.models import Task, Worker
from tests.conftest import make_settings
from tests.support.harness import Harness, running_genhook
from tests.support.waiting import eventually

JOBS = ["dispatch", "heartbeat", "mirror", "poll", "reconcile", "reroute"]


def fast_jobs(tmp_path: Path, database_url: str, **overrides: object):
    return make_settings(
        tmp_path,
        database_url,
        run_background=True,
        poll_tick_seconds=0.2,
        dispatch_tick_seconds=0.2,
        assets_tick_seconds=0.2,
        health_heartbeat_seconds=0.5,
        health_job_grace_seconds=1,
        **overrides,
    )


async def readiness(genhook: Harness) -> tuple[int, dict[str, object]]:
    response = await genhook.client.get("/readyz")
    return response.status_code, response.json()


async def test_a_stuck_background_job_makes_the_process_not_ready(tmp_path: Path) -> None:
    path = tmp_path / "genhook.db"
    async with running_genhook(fast_jobs(tmp_path, f"sqlite+aiosqlite:///{path}")) as genhook:

        async def ready() -> bool:
            return (await readiness(genhook))[0] == 200

        await eventually(ready, within=15, every=0.1)
        assert (await readiness(genhook))[1] == {"status": "ready"}

        # Another process holds SQLite's write lock: every write pass now waits in it.
        # It takes its turn between the jobs' writes (one may be writing right now).
        blocker = sqlite3.connect(path, isolation_level=None, timeout=0.2)

        def locked() -> bool:
            try:
                blocker.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                return False
            return True

        await eventually(locked, within=30, every=0.05)
        try:
            # Waited for until poll is named: the jobs wait in the lock from their own
            # tick, so the first 503 may name only another one (dispatch, mirror).
            async def poll_late() -> dict[str, object] | None:
                status, body = await readiness(genhook)
                late = status == 503 and "poll has not succeeded for" in str(body)
                return body if late else None

            body = await eventually(poll_late, within=8, every=0.1)
            error = body["error"]
            assert isinstance(error, dict)
            assert error["code"] == "jobs_late"
            assert "poll has not succeeded for" in str(error["message"])
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await eventually(ready, within=15, every=0.1)  # the jobs catch up: ready again


async def test_a_process_without_background_jobs_is_ready_when_the_database_is(
    genhook: Harness,
) -> None:
    assert await readiness(genhook) == (200, {"status": "ready"})
    assert not genhook.services.jobs.runs_jobs


async def test_the_worker_lists_itself_with_its_jobs_and_what_it_holds(
    tmp_path: Path, database_url: str
) -> None:
    settings = fast_jobs(tmp_path, database_url)
    me = worker_id()
    async with running_genhook(settings) as genhook:
        now = clock.utcnow()
        async with genhook.services.sessions() as session, session.begin():
            session.add(  # a task this worker is polling right now
                Task(
                    provider="apimall",
                    provider_task_id="p-1",
                    status=Status.PENDING.value,
                    created_at=now,
                    updated_at=now,
                    deadline_at=now + timedelta(hours=1),
                    next_poll_at=now - timedelta(seconds=1),
                    lease_holder=me,
                    lease_expires_at=now + timedelta(minutes=5),
                )
            )
            session.add(  # a worker that died an hour ago without saying so
                Worker(
                    id="gone:1",
                    kind="worker",
                    hostname="gone",
                    pid=1,
                    version="0",
                    started_at=now - timedelta(hours=2),
                    heartbeat_at=now - timedelta(hours=1),
                    jobs={},
                )
            )

        async def listed() -> bool:
            found = (await genhook.client.get("/api/workers")).json()["workers"]
            return bool(found) and all(job["last_ok_at"] for job in found[0]["jobs"][:4])

        await eventually(listed, within=15, every=0.1)
        [worker] = (await genhook.client.get("/api/workers")).json()["workers"]
        assert worker["id"] == me and worker["kind"] == "serve"
        assert [job["name"] for job in worker["jobs"]] == JOBS
        assert worker["holds"] == {"tasks": 1, "deliveries": 0, "assets": 0}
        page = (await genhook.client.get("/stats")).text
        assert f'data-worker="{me}"' in page and "gone:1" not in page

    # a clean stop removes the row: the worker is not listed as if it had died
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            ids = (await session.exec(select(Worker.id))).all()
            count = (await session.exec(select(func.count()).select_from(Worker))).one()
    finally:
        await engine.dispose()
    assert me not in ids and count == 1  # only the dead one is left, until it is pruned
