"""The demo's downstream side: a throwaway webhook subscriber and the live stream.

``genhook demo`` (started by ``scripts/run``) hosts a tiny webhook receiver on
loopback for its own duration, subscribes it, and shows two columns next to the
task table: the events as the live stream (:mod:`receiver.stream`) reports them,
and the webhooks the receiver got, each checked with the ``standardwebhooks``
reference library. So a first run shows the whole path: provider → callback →
event → signed webhook. The subscriber is removed when the demo ends.

Delivering to loopback needs ``GENHOOK_DELIVERY_ALLOW_PRIVATE_TARGETS=true`` in
the server and the demo (``scripts/run`` sets it when it starts the simulator);
without it the demo says so and shows the stream alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field

import uvicorn
from rich.table import Table
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.delivery.subscribers import Subscribers
from receiver.errors import InvalidSubscriberError
from receiver.services import Services
from receiver.stream import EventFilter, EventStream, Position, stream_for

SHOWN = 12  # rows of events shown


@dataclass
class DemoWebhooks:
    """What the demo saw downstream; ``note`` explains an empty webhook column."""

    task_ids: Collection[str] = ()  # the demo's tasks (filled as they are submitted)
    streamed: list[tuple[str, str]] = field(default_factory=list)  # (type, task id)
    received: list[tuple[str, str, bool]] = field(default_factory=list)  # + verified
    note: str | None = None

    def received_types(self, task_id: str) -> set[str]:
        return {event_type for event_type, task, _ in self.received if task == task_id}

    def table(self) -> Table:
        """One row per streamed event, with whether its signed webhook arrived."""
        table = Table("event (live stream)", "task", "signed webhook")
        verified = {(t, task): ok for t, task, ok in self.received}
        ours = [(t, task) for t, task in self.streamed if task in self.task_ids]
        for event_type, task in ours[-SHOWN:]:
            ok = verified.get((event_type, task))
            if ok is None:
                mark = f"[yellow]{self.note}[/yellow]" if self.note else "[yellow]…[/yellow]"
            else:
                mark = "[green]✓ signature verified[/green]" if ok else "[red]✗ bad signature[/red]"
            table.add_row(event_type, task, mark)
        return table


@contextlib.asynccontextmanager
async def demo_webhooks(
    services: Services, task_ids: Collection[str]
) -> AsyncIterator[DemoWebhooks]:
    """Subscribe a loopback receiver and follow the stream for ``task_ids`` (filled later)."""
    seen = DemoWebhooks(task_ids=task_ids)
    secret: list[str] = []

    async def receive(request: Request) -> Response:
        body = await request.body()
        try:
            payload = Webhook(secret[0]).verify(body, dict(request.headers))
            seen.received.append((payload["type"], payload["data"]["id"], True))
        except (WebhookVerificationError, IndexError, KeyError, ValueError):
            seen.received.append((request.headers.get("webhook-id", "?"), "?", False))
        return Response(status_code=204)

    app = Starlette(routes=[Route("/webhooks", receive, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    stream = stream_for(services)
    position = await stream.start(EventFilter())  # before the demo submits anything
    following = asyncio.create_task(_follow(stream, position, seen))
    subscriber_id: str | None = None
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/webhooks"
        try:
            subscriber = await Subscribers(services).add(url)
        except InvalidSubscriberError as exc:
            seen.note = f"no demo subscriber: {exc}"
        else:
            subscriber_id = subscriber.id
            secret.append(subscriber.secret)
        yield seen
    finally:
        if subscriber_id is not None:
            await Subscribers(services).remove(subscriber_id)
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
        server.should_exit = True
        await serving
        sock.close()


async def _follow(stream: EventStream, position: Position, seen: DemoWebhooks) -> None:
    async for event in stream.follow(position, EventFilter()):
        seen.streamed.append((event.type, event.task_id))
