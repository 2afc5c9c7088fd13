"""A downstream subscriber for the chaos runs: verifies every signature, fails some.

It answers 500 to a share of deliveries (seeded), waits ``delay`` seconds before
answering (so deliveries are in flight when genhook is killed), and records every
verified event and every signature it had to reject.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Received:
    event_id: str
    type: str
    task_id: str | None


@dataclass
class Subscriber:
    failure_rate: float = 0.05
    delay: float = 0.0
    seed: int = 5
    secret: str | None = None  # set once genhook created the subscriber
    url: str = ""
    received: list[Received] = field(default_factory=list)
    rejected_signatures: int = 0
    failed_on_purpose: int = 0
    _rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.secret is None:
            return Response(status_code=503)
        try:
            event: Any = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.rejected_signatures += 1
            return Response(status_code=400)
        if self._rng.random() < self.failure_rate:
            self.failed_on_purpose += 1
            return Response(status_code=500)
        data = event.get("data") or {}
        task_id = data.get("id") if str(event.get("type", "")).startswith("task.") else None
        self.received.append(Received(event["id"], event["type"], task_id))
        return Response(orjson.dumps({"ok": True}), media_type="application/json")

    def distinct(self) -> dict[str, Received]:
        return {r.event_id: r for r in self.received}


@contextlib.asynccontextmanager
async def serving(subscriber: Subscriber) -> AsyncIterator[Subscriber]:
    app = Starlette(routes=[Route("/hook", subscriber.receive, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        subscriber.url = f"http://127.0.0.1:{port}/hook"
        yield subscriber
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, timeout=10)
        sock.close()


async def register(client: Any, subscriber: Subscriber) -> None:
    """Add ``subscriber`` to genhook (every task event) and keep its secret."""
    response = await client.post("/api/subscribers", json={"url": subscriber.url})
    response.raise_for_status()
    subscriber.secret = response.json()["secret"]
