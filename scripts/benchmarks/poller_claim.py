"""Poller claim cost with 10, 10^4 and 10^6 idle tasks next to 100 due ones.

The claim must cost the same however many idle tasks there are: it is a range scan
of the ``next_poll_at`` index up to "now", so it should only ever touch due rows.
Each size gets a fresh database, filled with one INSERT ... SELECT (fast enough for a
million rows), then ``claim_due`` for 100 tasks is timed repeatedly, each time rolled
back so every repetition sees the same state. Printed: median and p95 per size, and
the ratio of each median to the smallest size's, measured in the same run.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.claims import claim_due
from storage.engine import create_engine, create_session_factory
from storage.migrate import upgrade
from storage.models import Task

IDLE_SIZES = (10, 10_000, 1_000_000)
DUE = 100
REPEATS = 30

_FILL = {
    # One statement per dialect; row n is due when n <= :due, else idle for an hour.
    "sqlite": """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :total)
        INSERT INTO tasks (id, provider, provider_task_id, origin, status, result_urls,
                           anomalies, created_at, updated_at, deadline_at, next_poll_at,
                           poll_attempts)
        SELECT printf('tsk_bench_%09d', i), 'apimart', printf('task_%09d', i), 'submit',
               'pending', '[]', '[]', :created, :created, :deadline,
               CASE WHEN i <= :due THEN :due_at ELSE :idle_at END, 0
        FROM n
    """,
    "postgresql": """
        INSERT INTO tasks (id, provider, provider_task_id, origin, status, result_urls,
                           anomalies, created_at, updated_at, deadline_at, next_poll_at,
                           poll_attempts)
        SELECT 'tsk_bench_' || lpad(i::text, 9, '0'), 'apimart',
               'task_' || lpad(i::text, 9, '0'), 'submit', 'pending', '[]', '[]',
               CAST(:created AS timestamptz), CAST(:created AS timestamptz),
               CAST(:deadline AS timestamptz),
               CASE WHEN i <= :due THEN CAST(:due_at AS timestamptz)
                    ELSE CAST(:idle_at AS timestamptz) END, 0
        FROM generate_series(1, :total) AS i
    """,
}


async def _fill(engine: AsyncEngine, total: int, now: datetime) -> None:
    def stamp(value: datetime) -> object:
        # SQLite keeps naive UTC text, as storage.types.UTCDateTime writes it
        return value.replace(tzinfo=None) if engine.dialect.name == "sqlite" else value

    params = {
        "total": total,
        "due": DUE,
        "created": stamp(now - timedelta(minutes=1)),
        "deadline": stamp(now + timedelta(hours=2)),
        "due_at": stamp(now - timedelta(seconds=1)),
        "idle_at": stamp(now + timedelta(hours=1)),
    }
    async with engine.begin() as connection:
        await connection.execute(text(_FILL[engine.dialect.name]), params)
        if engine.dialect.name == "postgresql":
            await connection.execute(text("ANALYZE tasks"))


async def _time_claims(engine: AsyncEngine, now: datetime) -> list[float]:
    sessions = create_session_factory(engine)
    timings = []
    for _ in range(REPEATS):
        async with sessions() as session:
            transaction = await session.begin()
            started = time.perf_counter()
            claimed = await claim_due(
                session,
                Task,
                due_column="next_poll_at",
                now=now,
                holder="bench",
                lease=timedelta(seconds=60),
                limit=DUE,
            )
            timings.append((time.perf_counter() - started) * 1000)
            await transaction.rollback()
        assert len(claimed) == DUE, f"claimed {len(claimed)}, expected {DUE}"
    return timings


async def _plan(engine: AsyncEngine, now: datetime) -> str:
    if engine.dialect.name != "sqlite":
        return ""
    query = (
        "EXPLAIN QUERY PLAN SELECT id FROM tasks WHERE next_poll_at <= :now "
        "AND (lease_expires_at IS NULL OR lease_expires_at <= :now) "
        "ORDER BY next_poll_at LIMIT 100"
    )
    async with engine.connect() as connection:
        rows = await connection.execute(text(query), {"now": now.replace(tzinfo=None)})
        return "; ".join(str(row[-1]) for row in rows)


async def measure(postgres_url: str | None) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    results = []
    for idle in IDLE_SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            url = postgres_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            engine = create_engine(url)
            try:
                if postgres_url:
                    async with engine.begin() as connection:  # a clean slate each size
                        await connection.execute(text("DROP SCHEMA public CASCADE"))
                        await connection.execute(text("CREATE SCHEMA public"))
                await upgrade(engine)
                started = time.perf_counter()
                await _fill(engine, idle + DUE, now)
                fill_s = time.perf_counter() - started
                timings = await _time_claims(engine, now)
                plan = await _plan(engine, now)
            finally:
                await engine.dispose()
        results.append(
            {
                "idle": idle,
                "median_ms": statistics.median(timings),
                "p95_ms": statistics.quantiles(timings, n=20)[-1],
                "fill_s": fill_s,
                "plan": plan,
            }
        )
    return results


def run(postgres_url: str | None) -> list[list[str]]:
    """Rows for the bench table: size, median, p95, ratio to the smallest size."""
    results = asyncio.run(measure(postgres_url))
    base = float(str(results[0]["median_ms"]))
    rows = []
    for r in results:
        median = float(str(r["median_ms"]))
        rows.append(
            [
                f"poller claim: {DUE} due + {r['idle']:,} idle tasks",
                f"{median:.2f} ms median",
                f"{float(str(r['p95_ms'])):.2f} ms p95",
                f"x{median / base:.2f} vs {IDLE_SIZES[0]} idle",
            ]
        )
    if results[-1]["plan"]:
        rows.append(["claim query plan (SQLite)", str(results[-1]["plan"]), "", ""])
    return rows
