"""A commit in one process wakes the parts that act on it in another, with no tick.

The Procfile split, as real processes: a web process (``serve --no-background``)
takes a callback, and a separate ``genhook worker`` must deliver the webhook and
mirror the image; the worker's ``task.assets_ready`` must reach a live stream held
open on the web process. Every tick is set to an hour, so only the wake-up path
(LISTEN/NOTIFY on PostgreSQL, peer datagrams on SQLite) can make this happen in
seconds. On PostgreSQL the listening connections are then killed from the server
side (``pg_terminate_backend``): the processes reconnect and, from the outbox,
miss nothing that was committed while they were deaf.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.fixtures.apimodels import callback_body
from tests.support import database
from tests.support.cdn import Cdn, running_cdn
from tests.support.downstream import Downstream, downstream
from tests.support.process import GENHOOK, free_port, genhook_env, genhook_server
from tests.support.sse import Message, messages
from tests.support.waiting import eventually

HOUR = "3600"
TOKEN = "wake-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TICKS = {
    "GENHOOK_DISPATCH_TICK_SECONDS": HOUR,
    "GENHOOK_POLL_TICK_SECONDS": HOUR,
    "GENHOOK_ASSETS_TICK_SECONDS": HOUR,
    "GENHOOK_EVENTS_POLL_SECONDS": HOUR,
    "GENHOOK_RECONCILE_EVERY_SECONDS": HOUR,
}


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return _env(tmp_path, database_url)


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return genhook_env(
        tmp_path / "data",
        database_url,
        free_port(),
        GENHOOK_SECRET="wake-test-secret-0123456789",
        GENHOOK_API_TOKEN=TOKEN,
        GENHOOK_DELIVERY_ALLOW_PRIVATE_TARGETS="true",
        GENHOOK_ASSETS_ALLOW_PRIVATE="true",
        GENHOOK_ASSETS_DIR=str(tmp_path / "assets"),
        **TICKS,
    )


@contextlib.contextmanager
def worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``genhook worker``, ready once it says it runs."""
    with log.open("wb") as log_file:
        process = subprocess.Popen([GENHOOK, "worker"], env=env, stdout=log_file, stderr=log_file)
    try:
        deadline = time.monotonic() + 30
        while b"running" not in log.read_bytes():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.asynccontextmanager
async def world(env: dict[str, str], tmp_path: Path) -> AsyncIterator[tuple[str, Downstream, Cdn]]:
    base = f"http://127.0.0.1:{env['GENHOOK_PORT']}"
    async with downstream() as receiver, running_cdn() as cdn:
        with (
            genhook_server({**env, "GENHOOK_RUN_BACKGROUND": "false"}, tmp_path / "web.log"),
            worker(env, tmp_path / "worker.log"),
        ):
            yield base, receiver, cdn


async def callback(client: httpx.AsyncClient, image_url: str) -> str:
    created = (await client.post("/api/callback-urls", json={"provider": "apimodels"})).json()
    body = callback_body(
        task_id=f"p-{created['task_id']}", result_json=json.dumps({"resultUrls": [image_url]})
    )
    path = "/callbacks/apimodels/" + created["callback_url"].rsplit("/", 1)[1]
    assert (await client.post(path, content=body)).status_code == 200
    return str(created["task_id"])


async def next_message(stream: AsyncIterator[Message], within: float) -> Message:
    return await asyncio.wait_for(anext(stream), within)


async def delivered(receiver: Downstream, task_id: str, within: float) -> None:
    async def arrived() -> bool:
        return any(
            json.loads(r.body)["type"] == "task.completed"
            and json.loads(r.body)["data"]["id"] == task_id
            for r in receiver.received
        )

    await eventually(arrived, within=within)


async def test_a_commit_wakes_the_other_process_at_once(
    env: dict[str, str], tmp_path: Path
) -> None:
    async with (
        world(env, tmp_path) as (base, receiver, cdn),
        httpx.AsyncClient(base_url=base, timeout=10, headers=AUTH) as client,
    ):
        subscribed = await client.post("/api/subscribers", json={"url": receiver.url()})
        assert subscribed.status_code == 201
        async with client.stream(
            "GET", "/api/events", params={"type": "task.assets_ready"}, timeout=None
        ) as response:
            stream = messages(response)
            task_id = await callback(client, f"{cdn.url}/png")
            # the worker's dispatcher delivers the web process's event...
            await delivered(receiver, task_id, within=10)
            # ...and the web process streams the worker's
            ready = await next_message(stream, within=10)
            assert (ready.event, ready.data["data"]["id"]) == ("task.assets_ready", task_id)  # type: ignore[index]


@pytest.mark.postgres
async def test_listeners_reconnect_and_miss_nothing(tmp_path: Path, postgres_url: str) -> None:
    """LISTEN/NOTIFY is PostgreSQL's: this one runs there only."""
    await asyncio.to_thread(database.truncate_postgres, postgres_url)
    env = _env(tmp_path, postgres_url)
    dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(False)
    async with (
        world(env, tmp_path) as (base, receiver, cdn),
        httpx.AsyncClient(base_url=base, timeout=10, headers=AUTH) as client,
    ):
        await client.post("/api/subscribers", json={"url": receiver.url()})
        async with client.stream(
            "GET", "/api/events", params={"type": "task.assets_ready"}, timeout=None
        ) as response:
            stream = messages(response)
            connection = await asyncpg.connect(dsn)
            try:
                killed = await connection.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'genhook-listen' AND datname = current_database()"
                )
            finally:
                await connection.close()
            assert killed == 2  # the web process's listener and the worker's
            # committed while both were deaf: found again from the outbox
            first = await callback(client, f"{cdn.url}/png")
            await delivered(receiver, first, within=10)
            ready = await next_message(stream, within=10)
            assert ready.data["data"]["id"] == first  # type: ignore[index]
            # and listening again
            second = await callback(client, f"{cdn.url}/png")
            await delivered(receiver, second, within=10)
            ready = await next_message(stream, within=10)
            assert ready.data["data"]["id"] == second  # type: ignore[index]
