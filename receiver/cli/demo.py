"""``genhook demo``: submit one job to each gateway and watch them finish, live.

It runs locally, on this machine's settings (see :mod:`receiver.cli.demo_run`);
the web stack and the database layer are imported only when it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from receiver.cli.runner import err, run_locally

if TYPE_CHECKING:
    from receiver.services import Services
    from storage.models import Task


def demo(
    within: Annotated[float, typer.Option(help="stop watching after this many seconds")] = 120,
) -> None:
    """Submit one job to each gateway and watch them finish (use with `genhook simulate`)."""
    from rich.console import Console

    from receiver.cli.demo_run import run_demo
    from receiver.lifecycle import Status

    async def work(services: Services) -> list[Task]:
        return await run_demo(services, Console(), within=within)

    tasks = run_locally(work)
    unfinished = [t for t in tasks if not Status(t.status).is_terminal]
    if unfinished:
        err.print(f"{len(unfinished)} task(s) still running; follow them with `genhook tasks`.")
