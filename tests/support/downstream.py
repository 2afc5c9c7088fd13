"""A real downstream webhook receiver for tests: a small ASGI app on loopback.

It records every request (headers, exact body bytes, arrival time) and answers as
the test scripts it: ``answer(request, n)`` says how to reply to the ``n``-th
(0-based) request for an event id on a path (tests give each subscriber its own
path). It also counts the requests for one event id on one path that are in flight
at the same time, which is how tests prove that no event is ever delivered twice
concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.servers import serve


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    path: str
    event_id: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()


Answer = Callable[["Received", int], Reply]


def always(reply: Reply) -> Answer:
    return lambda request, n: reply


def fail_then_accept(failures: int, status: int = 500) -> Answer:
    """Fail the first ``failures`` requests of every event id, then accept."""
    return lambda request, n: Reply(status) if n < failures else Reply(200)


class Downstream:
    def __init__(self, answer: Answer | None = None) -> None:
        self.answer: Answer = answer or always(Reply(200))
        self.received: list[Received] = []
        self.in_flight: Counter[tuple[str, str]] = Counter()
        self.max_in_flight_per_event = 0
        self.base_url = ""
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])

    def url(self, path: str = "hook") -> str:
        return f"{self.base_url}/{path}"

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        event_id = request.headers.get("webhook-id", "")
        path = request.url.path
        seen = sum(1 for r in self.received if r.event_id == event_id and r.path == path)
        received = Received(
            path=path,
            event_id=event_id,
            headers=dict(request.headers),
            body=body,
            at=time.monotonic(),
        )
        self.received.append(received)
        key = (request.url.path, event_id)
        self.in_flight[key] += 1
        self.max_in_flight_per_event = max(self.max_in_flight_per_event, self.in_flight[key])
        try:
            reply = self.answer(received, seen)
            if reply.delay:
                await asyncio.sleep(reply.delay)
            return Response(reply.body, status_code=reply.status, headers=reply.headers)
        finally:
            self.in_flight[key] -= 1

    def for_event(self, event_id: str, path: str | None = None) -> list[Received]:
        return [
            r for r in self.received if r.event_id == event_id and (path is None or r.path == path)
        ]


@contextlib.asynccontextmanager
async def downstream(answer: Answer | None = None) -> AsyncIterator[Downstream]:
    receiver = Downstream(answer)
    async with serve(receiver.app) as base_url:
        receiver.base_url = base_url
        yield receiver
