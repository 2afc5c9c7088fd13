"""Crash: ``kill -9`` under callback load with deliveries in flight, three times.

Receiver-only tasks get their callbacks from many concurrent connections while a
slow subscriber keeps deliveries in flight; once a share of the round's callbacks
is acknowledged, ``genhook serve`` is killed with SIGKILL and started again on the
same database. After the last round, once every delivery has drained:

* acknowledged callbacks missing: a 200 was answered but the task is not completed;
* events missing: a completed task whose ``task.completed`` never reached the
  subscriber (redelivery after a crash is allowed; the event id stays the same);
* duplicate terminal events: a task with more than one terminal event id.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson

from scripts.trust.processes import (
    Server,
    free_port,
    genhook_env,
    kill_9,
    migrate,
    serve_genhook,
    stop,
)
from scripts.trust.subscriber import Subscriber, register, serving

TERMINAL = ("task.completed", "task.failed", "task.expired")


@dataclass(frozen=True)
class CrashScale:
    rounds: int = 3
    callbacks_per_round: int = 400
    kill_after: int = 150  # acknowledged callbacks in the round before the kill
    connections: int = 16
    delivery_delay: float = 0.2  # the subscriber's answer time: deliveries in flight


FULL = CrashScale()
SMALL = CrashScale(callbacks_per_round=40, kill_after=15, connections=8)


@dataclass
class CrashResult:
    rounds: int = 0
    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)
    pending_at_restart: list[int] = field(default_factory=list)
    events_missing: int = 0
    duplicate_terminal: int = 0
    received_duplicate_terminal: int = 0
    undrained: int = 0
    tracebacks: int = 0

    @property
    def ok(self) -> bool:
        return (
            not self.lost
            and self.events_missing == 0
            and self.duplicate_terminal == 0
            and self.received_duplicate_terminal == 0
            and self.undrained == 0
            and self.tracebacks == 0
            and self.acknowledged > 0
        )

    def rows(self) -> list[tuple[str, str]]:
        pending = " / ".join(str(n) for n in self.pending_at_restart)
        return [
            ("kill -9 rounds", f"{self.rounds}"),
            ("callbacks acknowledged before the kills", f"{self.acknowledged}"),
            ("acknowledged callbacks missing", f"{len(self.lost)}"),
            ("deliveries pending at each restart", pending or "-"),
            ("events missing at the subscriber", f"{self.events_missing}"),
            ("duplicate terminal events (genhook / subscriber)",
             f"{self.duplicate_terminal} / {self.received_duplicate_terminal}"),
            ("deliveries not drained after the last restart", f"{self.undrained}"),
            ("tracebacks in genhook's log", f"{self.tracebacks}"),
        ]  # fmt: skip


def callback_body(provider_task_id: str) -> bytes:
    """The documented apimodels callback, completed, with no images to fetch."""
    return orjson.dumps(
        {
            "code": 200,
            "msg": "success",
            "data": {
                "taskId": provider_task_id,
                "model": "google/gemini-3-pro-image-lite",
                "state": "completed",
                "param": "{}",
                "resultJson": '{"resultUrls":[]}',
                "failCode": None,
                "failMsg": None,
                "costTime": 12345,
                "completeTime": 1705123465000,
                "createTime": 1705123450000,
            },
        }
    )


async def run(database_url: str, workdir: Path, scale: CrashScale = FULL) -> CrashResult:
    result = CrashResult()
    async with serving(Subscriber(failure_rate=0.0, delay=scale.delivery_delay)) as subscriber:
        env = genhook_env(
            workdir / "data",
            database_url,
            free_port(),
            GENHOOK_DELIVERY_ALLOW_PRIVATE_TARGETS="true",
            GENHOOK_DELIVERY_SCHEDULE="[0.5, 1, 2, 4, 8, 8, 8]",
            # the default 20 s dispatch lease on purpose: a killed dispatcher's
            # deliveries stay pending past a slow restart, which counts them
            GENHOOK_DELIVERY_TIMEOUT_SECONDS="2",
        )
        if database_url.startswith("postgresql"):
            migrate(env)
        log = workdir / "genhook.log"
        server = serve_genhook(env, log)
        acknowledged: list[str] = []
        try:
            async with server.admin(timeout=30) as client:
                await register(client, subscriber)
            for _ in range(scale.rounds):
                acknowledged += await _round(server, scale)
                server = serve_genhook(env, log)  # the same database, after SIGKILL
                async with server.admin(timeout=30) as client:
                    pending = await client.get(
                        "/api/deliveries", params={"status": "pending", "limit": 200}
                    )
                    result.pending_at_restart.append(len(pending.json()["deliveries"]))
                result.rounds += 1
            async with server.admin(timeout=30) as client:
                result.undrained = await _drain(client, within=60)
                await _check(client, acknowledged, subscriber, result)
        finally:
            stop(server)
        result.tracebacks = server.tracebacks()
    result.acknowledged = len(acknowledged)
    return result


async def _round(server: Server, scale: CrashScale) -> list[str]:
    """One round of callbacks, killed part way; returns the acknowledged task ids."""
    limits = httpx.Limits(max_connections=scale.connections)
    acknowledged: list[str] = []
    async with server.admin(timeout=10, limits=limits) as client:
        paths = []
        for _ in range(scale.callbacks_per_round):
            created = await client.post("/api/callback-urls", json={"provider": "apimodels"})
            info = created.json()
            paths.append((info["task_id"], urlsplit(info["callback_url"]).path))
        killed = asyncio.Event()

        async def one(task_id: str, path: str) -> None:
            if killed.is_set():
                return
            try:
                response = await client.post(path, content=callback_body(f"p-{task_id}"))
            except httpx.HTTPError:
                return
            if response.status_code == 200:
                acknowledged.append(task_id)
                if len(acknowledged) >= scale.kill_after and not killed.is_set():
                    killed.set()
                    kill_9(server)

        await asyncio.gather(*(one(task_id, path) for task_id, path in paths))
        if not killed.is_set():
            kill_9(server)
    return acknowledged


async def _drain(client: httpx.AsyncClient, *, within: float) -> int:
    deadline = time.monotonic() + within
    while True:
        page = await client.get("/api/deliveries", params={"status": "pending", "limit": 200})
        pending = len(page.json()["deliveries"])
        if pending == 0 or time.monotonic() > deadline:
            return pending
        await asyncio.sleep(0.5)


async def _check(
    client: httpx.AsyncClient,
    acknowledged: list[str],
    subscriber: Subscriber,
    result: CrashResult,
) -> None:
    received = subscriber.distinct()
    terminal_received: Counter[str] = Counter(
        r.task_id for r in received.values() if r.type in TERMINAL and r.task_id
    )
    for task_id in acknowledged:
        task = (await client.get(f"/api/tasks/{task_id}")).json()
        if task.get("status") != "completed":
            result.lost.append(task_id)
            continue
        terminal = {e["id"] for e in task["events"] if e["type"] in TERMINAL}
        result.duplicate_terminal += len(terminal) > 1
        result.received_duplicate_terminal += terminal_received[task_id] > 1
        result.events_missing += sum(1 for e in task["events"] if e["id"] not in received)
