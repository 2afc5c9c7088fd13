"""End to end: a provider callback arrives → the subscriber holds the signed event.

genhook serves with its background jobs (as ``genhook serve`` does by default); a
subscriber on loopback verifies every webhook with the ``standardwebhooks`` reference
implementation and notes when it arrived. For each of 1,000 tasks the bench sends
the apimodels callback and measures, on one monotonic clock, the time until the
subscriber has that task's ``task.completed``. Callbacks are sent with a few in
flight, as a provider finishing a batch would.
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
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
import uvicorn
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

TASKS = int(os.environ.get("E2E_TASKS", "1000"))
IN_FLIGHT = int(os.environ.get("E2E_IN_FLIGHT", "4"))
PACE = float(os.environ.get("E2E_PACE", "0"))
BIN = Path(sys.executable).parent
BODY = (
    '{"code":200,"msg":"success","data":{"taskId":"%s","model":"google/gemini-3-pro-image",'
    '"state":"completed","param":"{}","resultJson":"{\\"resultUrls\\":[\\"https://r2.apimodels'
    '.app/images/x.png\\"]}","failCode":null,"failMsg":null,"costTime":1,'
    '"completeTime":1705123465000,"createTime":1705123450000}}'
)


class Subscriber:
    """Records when each task's ``task.completed`` arrived, after verifying it."""

    def __init__(self) -> None:
        self.secret = ""
        self.arrived: dict[str, float] = {}
        self.arrival = asyncio.Event()
        self.bad_signatures = 0

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
            self.arrival.set()
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


async def _wait_healthy(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("genhook did not start")


async def measure(database_url: str | None) -> tuple[list[float], int, int]:
    subscriber = Subscriber()
    sub_port, port = _port(), _port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GENHOOK_")}
        env.update(
            GENHOOK_DATA_DIR=str(Path(tmp) / "data"),
            GENHOOK_PORT=str(port),
            GENHOOK_PUBLIC_URL=f"http://127.0.0.1:{port}",
            GENHOOK_LOG_LEVEL="warning",
            GENHOOK_DELIVERY_ALLOW_PRIVATE_TARGETS="true",
        )
        if database_url:
            env["GENHOOK_DATABASE_URL"] = database_url
        log = (Path(tmp) / "genhook.log").open("wb")
        server = await asyncio.create_subprocess_exec(
            str(BIN / "genhook"), "serve", env=env, stdout=log, stderr=log
        )
        app = Starlette(routes=[Route("/hook", subscriber.receive, methods=["POST"])])
        try:
            async with (
                _serve(app, sub_port),
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
            ):
                await _wait_healthy(f"http://127.0.0.1:{port}")
                created = await client.post(
                    "/api/subscribers",
                    json={
                        "url": f"http://127.0.0.1:{sub_port}/hook",
                        "event_types": ["task.completed"],
                    },
                )
                created.raise_for_status()
                subscriber.secret = created.json()["secret"]
                paths = []
                for _ in range(TASKS):
                    made = await client.post("/api/callback-urls", json={"provider": "apimodels"})
                    info = made.json()
                    paths.append((info["task_id"], urlsplit(info["callback_url"]).path))

                sent: dict[str, float] = {}
                gate = asyncio.Semaphore(IN_FLIGHT)

                async def one(i: int, task_id: str, path: str) -> None:
                    if PACE:
                        await asyncio.sleep(i * PACE)
                    async with gate:
                        sent[task_id] = time.monotonic()
                        response = await client.post(path, content=BODY % f"e2e-{i}")
                        response.raise_for_status()

                await asyncio.gather(*(one(i, t, p) for i, (t, p) in enumerate(paths)))
                deadline = time.monotonic() + 60
                while len(subscriber.arrived) < TASKS and time.monotonic() < deadline:
                    subscriber.arrival.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(subscriber.arrival.wait(), 1)
        finally:
            server.terminate()
            await asyncio.wait_for(server.wait(), 10)
            log.close()
    latencies = [(subscriber.arrived[t] - sent[t]) * 1000 for t in sent if t in subscriber.arrived]
    if os.environ.get("E2E_SHOW"):
        print([round(x) for x in latencies])
    return latencies, TASKS - len(latencies), subscriber.bad_signatures


def run(postgres_url: str | None) -> list[list[str]]:
    latencies, missing, bad = asyncio.run(measure(postgres_url))
    quantiles = statistics.quantiles(latencies, n=100)
    return [
        [
            f"end to end: callback → signed task.completed ({TASKS:,} tasks)",
            f"p50 {statistics.median(latencies):.1f} ms",
            f"p99 {quantiles[98]:.1f} ms",
            f"{missing} missing, {bad} bad signatures",
        ]
    ]
