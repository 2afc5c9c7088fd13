"""What ``genhook demo`` runs (:mod:`receiver.cli.demo` imports it when called):
submit one job to each gateway and show them finish, live.

``scripts/run`` starts it next to the server when no provider keys are set, so a new
user sees real work on the bundled simulator: submissions, callbacks arriving, tasks
completing, without a key or a public URL, and their events on the live stream and
as signed webhooks to a throwaway subscriber (:mod:`receiver.web.demo_receiver`),
removed when the demo ends.

Delivering to loopback needs ``GENHOOK_DELIVERY_ALLOW_PRIVATE_TARGETS=true`` in the
server and the demo (``scripts/run`` sets it when it starts the simulator); without
it the demo says so and shows the stream alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field

import uvicorn
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from receiver.errors import InvalidSubscriberError, SubmissionRefusedError
from receiver.lifecycle import Status
from receiver.services import Services
from receiver.stream import EventFilter, EventStream, Position
from receiver.submit import SubmitRequest
from receiver.web.demo_receiver import PATH, webhook_receiver
from storage.models import Task

SHOWN = 12  # rows of events shown

DEMO_JOBS: Sequence[SubmitRequest] = (
    SubmitRequest(
        "apimodels",
        "gemini-3-pro-image-lite",
        "A futuristic cityscape at sunset with flying cars",
        {"aspect_ratio": "16:9"},
    ),
    SubmitRequest(
        "apimall",
        "nano-banana",
        "A cinematic portrait of a cyberpunk fox in neon rain.",
        {"num_images": 2, "aspect_ratio": "1:1", "output_format": "png"},
    ),
    SubmitRequest(
        "apimart",
        "gemini-2.5-flash-image-preview",
        "A watercolor lighthouse on a cliff at dawn",
        {"n": 1, "size": "1:1"},
    ),
)


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
        table = Table("event (live stream)", "signed webhook")
        table.add_column("task", no_wrap=True)
        verified = {(t, task): ok for t, task, ok in self.received}
        ours = [(t, task) for t, task in self.streamed if task in self.task_ids]
        for event_type, task in ours[-SHOWN:]:
            ok = verified.get((event_type, task))
            if ok is None:
                mark = f"[yellow]{self.note}[/yellow]" if self.note else "[yellow]…[/yellow]"
            else:
                mark = "[green]✓ signature verified[/green]" if ok else "[red]✗ bad signature[/red]"
            table.add_row(event_type, mark, task)
        return table


@contextlib.asynccontextmanager
async def demo_webhooks(
    services: Services, task_ids: Collection[str]
) -> AsyncIterator[DemoWebhooks]:
    """Subscribe a loopback receiver and follow the stream for ``task_ids`` (filled later)."""
    seen = DemoWebhooks(task_ids=task_ids)
    secret: list[str] = []
    app = webhook_receiver(
        lambda: secret[0] if secret else None,
        lambda kind, task, ok: seen.received.append((kind, task, ok)),
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    position = await services.stream.start(EventFilter())  # before the demo submits anything
    following = asyncio.create_task(_follow(services.stream, position, seen))
    subscriber_id: str | None = None
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}{PATH}"
        try:
            subscriber = await services.subscribers.add(url)
        except InvalidSubscriberError as exc:
            seen.note = f"no demo subscriber: {exc}"
        else:
            subscriber_id = subscriber.id
            secret.append(subscriber.secret)
        yield seen
    finally:
        if subscriber_id is not None:
            await services.subscribers.remove(subscriber_id)
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
        server.should_exit = True
        await serving
        sock.close()


async def _follow(stream: EventStream, position: Position, seen: DemoWebhooks) -> None:
    async for event in stream.follow(position, EventFilter()):
        if event.task_id is not None:  # task events only (not subscriber.disabled)
            seen.streamed.append((event.type, event.task_id))


async def run_demo(services: Services, console: Console, *, within: float = 120) -> list[Task]:
    """Submit :data:`DEMO_JOBS` and render their progress until all are terminal."""
    submitter = services.submitter()
    task_ids: list[str] = []
    # A throwaway subscriber and the live stream, shown under the table.
    async with demo_webhooks(services, task_ids) as downstream:
        for job in DEMO_JOBS:
            try:
                task_ids.append((await submitter.submit(job)).id)
            except SubmissionRefusedError as exc:  # the catalog changed under the demo
                console.print(f"[red]demo job for {job.provider} refused:[/red] {exc}")

        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        tasks: list[Task] = []
        with Live(console=console, refresh_per_second=4) as live:
            while True:
                tasks = await _load(services, task_ids)
                live.update(Group(_table(tasks), downstream.table()))
                finished = all(Status(t.status).is_terminal for t in tasks)
                if finished and (downstream.note or _all_delivered(tasks, downstream)):
                    break
                if loop.time() > deadline:
                    break
                await asyncio.sleep(0.25)
    return tasks


def _all_delivered(tasks: Sequence[Task], downstream: DemoWebhooks) -> bool:
    """Each task's final event has reached the demo subscriber."""
    return all(f"task.{t.status}" in downstream.received_types(t.id) for t in tasks)


async def _load(services: Services, task_ids: Sequence[str]) -> list[Task]:
    async with services.sessions() as session:
        loaded = [await session.get(Task, task_id) for task_id in task_ids]
    return [t for t in loaded if t is not None]


def _table(tasks: Sequence[Task]) -> Table:
    """One row per demo task; the id is never cut (it is what a person copies), and
    the images are counted here and shown on the dashboard."""
    table = Table(title="genhook demo")
    table.add_column("task", no_wrap=True)
    for name in ("provider", "model", "status", "via", "images"):
        table.add_column(name, overflow="fold")
    colours = {"completed": "green", "failed": "red", "expired": "red"}
    for task in tasks:
        colour = colours.get(task.status, "yellow")
        table.add_row(
            task.id,
            task.provider,
            task.model or "",
            f"[{colour}]{task.status}[/{colour}]",
            task.last_source or "",
            str(len(task.result_urls)),
        )
    return table
