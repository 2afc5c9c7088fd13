"""``genhook demo``: submit one job to each gateway and show them finish, live.

``scripts/run`` starts it next to the server when no provider keys are set, so a new
user sees real work on the bundled simulator: submissions, callbacks arriving, and
tasks completing, without a key or a public URL, and (``receiver.cli.demo_delivery``)
their events on the live stream and as signed webhooks to a demo subscriber.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from receiver.cli.demo_delivery import DemoWebhooks, demo_webhooks
from receiver.lifecycle import Status
from receiver.services import Services
from receiver.submit import SubmissionRefused, SubmitRequest, Submitter
from storage.models import Task

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


async def run_demo(services: Services, console: Console, *, within: float = 120) -> list[Task]:
    """Submit :data:`DEMO_JOBS` and render their progress until all are terminal."""
    submitter = Submitter(services)
    task_ids: list[str] = []
    # A throwaway subscriber and the live stream, shown under the table.
    async with demo_webhooks(services, task_ids) as downstream:
        for job in DEMO_JOBS:
            try:
                task_ids.append((await submitter.submit(job)).id)
            except SubmissionRefused as exc:  # the catalog changed under the demo
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
    table = Table("provider", "model", "status", "via", "images", "task", title="genhook demo")
    colours = {"completed": "green", "failed": "red", "expired": "red"}
    for task in tasks:
        colour = colours.get(task.status, "yellow")
        table.add_row(
            task.provider,
            task.model or "",
            f"[{colour}]{task.status}[/{colour}]",
            task.last_source or "",
            "\n".join(task.result_urls) or "-",
            task.id,
        )
    return table
