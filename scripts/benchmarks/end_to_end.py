"""End to end: a provider callback arrives → a subscriber holds the signed event.

genhook runs as real processes: ``genhook serve`` (the embedded default), and with
``--postgres`` also the Procfile split (``serve --no-background`` for the callbacks
and a separate ``genhook worker`` that delivers). A subscriber on loopback verifies
every webhook with the ``standardwebhooks`` reference implementation and notes when
it arrived; the callbacks' result images are served on loopback too, so the mirror
works as it would. 60 callbacks are sent 50 ms apart, and for each, on one monotonic
clock, the time until the subscriber has that task's ``task.completed`` is measured.

The ``sse`` section instead holds 1,000 idle streams open on ``/api/events`` and
measures callback → event on one more stream, and (on PostgreSQL, from
``pg_stat_database``) the database transactions per second with 0 and 1,000 idle
streams: one outbox reader per process, so the streams must not multiply them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import orjson
import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import make_url
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.simulator.images import task_image
from storage.engine import create_engine
from storage.migrate import upgrade

CALLBACKS = 60
SPACING_S = 0.05
IDLE_STREAMS = 1_000
API_TOKEN = "bench-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {API_TOKEN}"}
BIN = Path(sys.executable).parent
PNG = task_image("bench", 0, 64)
BODY = (
    '{"code":200,"msg":"success","data":{"taskId":"%s","model":"google/gemini-3-pro-image",'
    '"state":"completed","param":"{}","resultJson":"{\\"resultUrls\\":[\\"%s\\"]}",'
    '"failCode":null,"failMsg":null,"costTime":1,'
    '"completeTime":1705123465000,"createTime":1705123450000}}'
)


class Downstream:
    """The subscriber (records when each task's ``task.completed`` arrived, after
    verifying it) and the result-image host."""

    def __init__(self) -> None:
        self.secret = ""
        self.arrived: dict[str, float] = {}
        self.bad_signatures = 0
        self.app = Starlette(
            routes=[
                Route("/hook", self.receive, methods=["POST"]),
                Route("/image.png", lambda request: Response(PNG, media_type="image/png")),
            ]
        )

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        try:
            Webhook(self.secret).verify(body, dict(request.headers))
        except Exception:
            self.bad_signatures += 1
            return Response(status_code=400)
        event = orjson.loads(body)
        if event["type"] == "task.completed":
            self.arrived.setdefault(event["data"]["id"], time.monotonic())
        return Response(status_code=204)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def _serve(app: Starlette, port: int) -> AsyncIterator[None]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            raise RuntimeError("the subscriber's server did not start")
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


async def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await upgrade(engine)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def _genhook(
    tmp: Path, database_url: str | None, *, split: bool
) -> AsyncIterator[tuple[str, list[asyncio.subprocess.Process]]]:
    """genhook's processes, until the block ends; yields the base URL."""
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENHOOK_")}
    env.update(
        GENHOOK_DATA_DIR=str(tmp / "data"),
        GENHOOK_PORT=str(port),
        GENHOOK_PUBLIC_URL=f"http://127.0.0.1:{port}",
        GENHOOK_LOG_LEVEL="warning",
        GENHOOK_API_TOKEN=API_TOKEN,
        GENHOOK_DELIVERY_ALLOW_PRIVATE_TARGETS="true",
        GENHOOK_ASSETS_ALLOW_PRIVATE="true",
    )
    if database_url:
        env["GENHOOK_DATABASE_URL"] = database_url
    commands = [["serve", "--no-background"], ["worker"]] if split else [["serve"]]
    processes = []
    logs = []
    try:
        for number, command in enumerate(commands):
            log = (tmp / f"genhook-{number}.log").open("wb")
            logs.append(log)
            processes.append(
                await asyncio.create_subprocess_exec(
                    str(BIN / "genhook"), *command, env=env, stdout=log, stderr=log
                )
            )
        base = f"http://127.0.0.1:{port}"
        await _wait_healthy(base)
        yield base, processes
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in processes:
            await asyncio.wait_for(process.wait(), 15)
        for log in logs:
            log.close()


async def _wait_healthy(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    await asyncio.sleep(0.5)  # a worker started next to it gets going too
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("genhook did not start")


async def _callback_paths(client: httpx.AsyncClient, count: int) -> list[tuple[str, str]]:
    paths = []
    for _ in range(count):
        info = (await client.post("/api/callback-urls", json={"provider": "apimodels"})).json()
        paths.append((info["task_id"], urlsplit(info["callback_url"]).path))
    return paths


async def _send_paced(
    client: httpx.AsyncClient, paths: Sequence[tuple[str, str]], image_url: str
) -> dict[str, float]:
    """The callbacks, ``SPACING_S`` apart; returns when each was sent."""
    sent: dict[str, float] = {}

    async def one(i: int, task_id: str, path: str) -> None:
        await asyncio.sleep(i * SPACING_S)
        sent[task_id] = time.monotonic()
        response = await client.post(path, content=BODY % (f"e2e-{task_id}", image_url))
        response.raise_for_status()

    await asyncio.gather(*(one(i, t, p) for i, (t, p) in enumerate(paths)))
    return sent


async def measure(database_url: str | None, *, split: bool) -> tuple[list[float], int, int]:
    downstream = Downstream()
    sub_port = _port()
    with tempfile.TemporaryDirectory() as tmp:
        if database_url:
            await _reset_postgres(database_url)
        async with (
            _serve(downstream.app, sub_port),
            _genhook(Path(tmp), database_url, split=split) as (base, _),
            httpx.AsyncClient(base_url=base, headers=ADMIN, timeout=30) as client,
        ):
            created = await client.post(
                "/api/subscribers",
                json={
                    "url": f"http://127.0.0.1:{sub_port}/hook",
                    "event_types": ["task.completed"],
                },
            )
            created.raise_for_status()
            downstream.secret = created.json()["secret"]
            paths = await _callback_paths(client, CALLBACKS)
            sent = await _send_paced(client, paths, f"http://127.0.0.1:{sub_port}/image.png")
            await _until(lambda: len(downstream.arrived) >= CALLBACKS)
    latencies = [(downstream.arrived[t] - sent[t]) * 1000 for t in sent if t in downstream.arrived]
    return latencies, CALLBACKS - len(latencies), downstream.bad_signatures


async def _until(done: Callable[[], bool], within: float = 30) -> None:
    """Wait (a bounded number of short looks) until ``done()``; the caller counts
    what is still missing."""
    for _ in range(int(within / 0.05)):
        if done():
            return
        await asyncio.sleep(0.05)


def _row(label: str, latencies: list[float], note: str) -> list[str]:
    quantiles = statistics.quantiles(latencies, n=100)
    return [
        label,
        f"p50 {statistics.median(latencies):.1f} ms",
        f"p99 {quantiles[98]:.1f} ms",
        note,
    ]


def run(postgres_url: str | None) -> list[list[str]]:
    rows = []
    deployments = [("one genhook serve", False)]
    if postgres_url:
        deployments.append(("Procfile split: web --no-background + worker", True))
    for name, split in deployments:
        latencies, missing, bad = asyncio.run(measure(postgres_url, split=split))
        rows.append(
            _row(
                f"callback → subscriber holds signed task.completed, {name} "
                f"({CALLBACKS} callbacks {SPACING_S * 1000:.0f} ms apart)",
                latencies,
                f"{missing} missing, {bad} bad signatures",
            )
        )
    return rows


# --- the live stream with many idle readers -----------------------------------------


async def _transactions(database_url: str) -> int:
    """Transactions the database has seen (PostgreSQL's own counter)."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    connection = await asyncpg.connect(dsn)
    try:
        value = await connection.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        )
        return int(value)
    finally:
        await connection.close()


async def _rate(database_url: str | None, seconds: float = 5.0) -> str:
    if database_url is None:
        return "n/a on SQLite"
    await asyncio.sleep(0.5)
    before = await _transactions(database_url)
    await asyncio.sleep(seconds)
    after = await _transactions(database_url)
    return f"{(after - before - 2) / seconds:.1f} transactions/s"  # -2: our own reads


async def measure_streams(database_url: str | None) -> tuple[list[float], str, str]:
    downstream = Downstream()
    sub_port = _port()
    with tempfile.TemporaryDirectory() as tmp:
        if database_url:
            await _reset_postgres(database_url)
        async with (
            _serve(downstream.app, sub_port),
            _genhook(Path(tmp), database_url, split=False) as (base, _),
            httpx.AsyncClient(
                base_url=base, headers=ADMIN, timeout=httpx.Timeout(30, read=None)
            ) as client,
            # the idle streams on a client of their own: its pool of 1,000 connections
            # would slow down every request the measuring side makes
            httpx.AsyncClient(
                base_url=base,
                headers=ADMIN,
                timeout=httpx.Timeout(30, read=None),
                limits=httpx.Limits(max_connections=IDLE_STREAMS + 1),
            ) as idle,
        ):
            paths = await _callback_paths(client, CALLBACKS)
            idle_rate = await _rate(database_url)
            async with contextlib.AsyncExitStack() as streams:
                for _ in range(IDLE_STREAMS):
                    await streams.enter_async_context(
                        idle.stream("GET", "/api/events", params={"type": "task.processing"})
                    )
                busy_rate = await _rate(database_url)
                arrived: dict[str, float] = {}
                async with client.stream(
                    "GET", "/api/events", params={"type": "task.completed"}
                ) as live:

                    async def read() -> None:
                        async for line in live.aiter_lines():
                            if line.startswith("data:"):
                                event = orjson.loads(line[5:])
                                arrived.setdefault(event["data"]["id"], time.monotonic())

                    reader = asyncio.create_task(read())
                    sent = await _send_paced(
                        client, paths, f"http://127.0.0.1:{sub_port}/image.png"
                    )
                    await _until(lambda: len(arrived) >= CALLBACKS)
                    reader.cancel()
    latencies = [(arrived[t] - sent[t]) * 1000 for t in sent if t in arrived]
    return latencies, idle_rate, busy_rate


def run_streams(postgres_url: str | None) -> list[list[str]]:
    latencies, idle_rate, busy_rate = asyncio.run(measure_streams(postgres_url))
    return [
        _row(
            f"callback → SSE client holds task.completed, {IDLE_STREAMS:,} idle streams open",
            latencies,
            f"{CALLBACKS - len(latencies)} missing",
        ),
        ["database load with 0 idle streams", idle_rate, "", ""],
        [f"database load with {IDLE_STREAMS:,} idle streams", busy_rate, "", ""],
    ]
