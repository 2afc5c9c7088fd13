"""A database that hangs, then refuses, behind a TCP proxy the test controls in front
of the shared PostgreSQL (which is never stopped), with a real ``genhook serve``
running its background jobs too (their passes meet the outage as well).

While the database is away, callbacks are answered 503 with ``Retry-After`` within
``GENHOOK_DB_WRITE_TIMEOUT_SECONDS`` (each one, however many arrive behind a stuck
batch), the admin API answers 503 ``storage_unavailable`` (never 500) and
``/readyz`` says 503 within 2 s. When it is back the process recovers by itself,
and nothing was acknowledged that is not committed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.fixtures.apimodels import callback_body
from tests.support import database
from tests.support.fleet import AUTH, TOKEN, Proc, clean_log, start_web
from tests.support.process import free_port, genhook_env
from tests.support.tcpproxy import Mode, TcpProxy, tcp_proxy
from tests.support.waiting import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]

WRITE_TIMEOUT = 6.0  # the default GENHOOK_DB_WRITE_TIMEOUT_SECONDS
SLACK = 1.5  # a loaded CI machine's answer on top of it


@pytest.fixture
def pg(postgres_url: str) -> str:
    database.truncate_postgres(postgres_url)
    return postgres_url


def through(proxy: TcpProxy, url: str) -> str:
    return (
        make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    )


async def new_task(client: httpx.AsyncClient) -> tuple[str, str]:
    created = (await client.post("/api/callback-urls", json={"provider": "apimodels"})).json()
    return created["task_id"], "/callbacks/apimodels/" + created["callback_url"].rsplit("/", 1)[1]


async def send(client: httpx.AsyncClient, task: tuple[str, str]) -> tuple[int, float, str | None]:
    task_id, path = task
    body = callback_body(task_id=f"p-{task_id}", result_json='{"resultUrls": []}')
    began = time.monotonic()
    response = await client.post(path, content=body)
    return response.status_code, time.monotonic() - began, response.headers.get("retry-after")


async def statuses(url: str, ids: list[str]) -> dict[str, str]:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT id, status FROM tasks WHERE id = ANY($1)", ids)
    finally:
        await connection.close()
    return {row["id"]: row["status"] for row in rows}


Answer = tuple[int, float, str | None]
Read = tuple[int, float, dict[str, Any]]


async def outage(
    client: httpx.AsyncClient, tasks: list[tuple[str, str]]
) -> tuple[list[Answer], Read, Read]:
    """Callbacks arriving one after another while the database is away, an API read
    and a readiness check at the same time."""

    async def staggered(n: int, task: tuple[str, str]) -> tuple[int, float, str | None]:
        await asyncio.sleep(n * 0.7)
        return await send(client, task)

    async def timed(path: str) -> Read:
        began = time.monotonic()
        response = await client.get(path)
        return response.status_code, time.monotonic() - began, response.json()

    callbacks, listing, ready = await asyncio.gather(
        asyncio.gather(*(staggered(n, task) for n, task in enumerate(tasks))),
        timed("/api/tasks"),
        timed("/readyz"),
    )
    return list(callbacks), listing, ready


@pytest.mark.parametrize("mode", ["hang", "refuse"])
async def test_a_database_that_goes_away_gets_503s_in_time_and_recovery_by_itself(
    tmp_path: Path, pg: str, mode: Mode
) -> None:
    target = make_url(pg)
    port = free_port()
    with tcp_proxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        env = genhook_env(
            tmp_path / "data",
            through(proxy, pg),
            port,
            GENHOOK_SECRET="outage-test-secret-0123456789",
            GENHOOK_API_TOKEN=TOKEN,
        )
        web: Proc = await asyncio.to_thread(start_web, "web", env, tmp_path, port)
        try:
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=60
            ) as client:
                before = await new_task(client)
                assert (await send(client, before))[0] == 200
                away = [await new_task(client) for _ in range(5)]

                proxy.set_mode(mode)
                callbacks, listing, ready = await outage(client, away)

                proxy.set_mode("pass")

                async def recovered() -> bool:
                    return (await client.get("/readyz")).status_code == 200

                await eventually(recovered, within=20, every=0.2)
                after = await new_task(client)
                assert (await send(client, after))[0] == 200
                resent = [await send(client, task) for task in away]  # the providers' retries
        finally:
            web.ensure_stopped()

    answered = ", ".join(f"{s:.1f}" for _, s, _ in callbacks)
    print(f"\n{mode}: callbacks 503 after {answered} s; /api/tasks 503 after {listing[1]:.1f} s; "
          f"/readyz 503 after {ready[1]:.1f} s")  # fmt: skip
    for status, seconds, retry_after in callbacks:
        assert status == 503 and retry_after is not None, callbacks
        assert seconds < WRITE_TIMEOUT + SLACK, callbacks
    status, seconds, body = listing
    assert status == 503 and body["error"]["code"] == "storage_unavailable", body
    assert seconds < 10, seconds
    status, seconds, body = ready
    assert status == 503 and seconds < 2.5, (status, seconds, body)
    assert [status for status, _, _ in resent] == [200] * len(away)
    # everything acknowledged is committed
    ids = [before[0], after[0], *(task_id for task_id, _ in away)]
    assert set((await statuses(pg, ids)).values()) == {"completed"}
    assert clean_log(web.text()) == [], web.text()  # warnings, not tracebacks
