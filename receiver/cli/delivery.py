"""``genhook subscribers``, ``genhook deliveries`` and ``genhook watch``.

Like the task commands, these open the database directly with the server's
settings, so they work with or without a running server; they go through the same
:class:`~receiver.delivery.subscribers.Subscribers` and
:class:`~receiver.delivery.deliveries.Deliveries` as
``/api/subscribers`` and ``/api/deliveries``. ``cli.main`` registers them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer
from rich.console import Console
from rich.table import Table

from receiver import clock
from receiver.cli.watch import (
    EXIT_DOWNLOAD_FAILED,
    WatchDisplay,
    download_results,
    exit_code,
    follow_task,
)
from receiver.delivery.deliveries import (
    DEAD,
    Deliveries,
    DeliveryFilter,
    ReplayRequest,
    attempt_view,
    delivery_view,
    parse_since,
)
from receiver.delivery.subscribers import Subscribers, subscriber_view
from receiver.errors import GenhookError, TaskNotFoundError
from receiver.services import Services, open_services
from receiver.settings import Settings

subscribers_app = typer.Typer(
    help="Webhook subscribers: who receives task events.", no_args_is_help=True
)
deliveries_app = typer.Typer(
    help="Webhook deliveries: what was sent, what failed, replay.", no_args_is_help=True
)

err = Console(stderr=True)
T = TypeVar("T")

EXIT_NOT_FOUND = 2


def _run(work: Callable[[Services], Awaitable[T]], *, not_found_exit: int = 1) -> T:
    async def main() -> T:
        async with open_services(Settings()) as services:
            return await work(services)

    try:
        return asyncio.run(main())
    except GenhookError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(not_found_exit if isinstance(exc, TaskNotFoundError) else 1) from None


def _print_json(document: Any) -> None:
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


def _json_lines(documents: list[dict[str, Any]]) -> None:
    for document in documents:
        sys.stdout.write(orjson.dumps(document).decode() + "\n")


# --- subscribers -------------------------------------------------------------------


@subscribers_app.command("add")
def subscribers_add(
    url: Annotated[str, typer.Argument(help="where to POST events (http or https)")],
    events: Annotated[
        str | None,
        typer.Option(
            help="comma-separated event types, e.g. task.completed,task.failed; default: all"
        ),
    ] = None,
    secret: Annotated[
        str | None, typer.Option(help="signing secret whsec_<base64>; default: generated")
    ] = None,
) -> None:
    """Add a subscriber; prints it as JSON, with its signing secret."""

    async def work(services: Services) -> dict[str, Any]:
        return subscriber_view(
            await Subscribers(services).add(url, events, secret), with_secret=True
        )

    _print_json(_run(work))


@subscribers_app.command("list")
def subscribers_list(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON lines")] = False,
) -> None:
    """List subscribers (secrets are not shown; `subscribers show ID` has them)."""

    async def work(services: Services) -> list[dict[str, Any]]:
        return [subscriber_view(s) for s in await Subscribers(services).list()]

    views = _run(work)
    if as_json:
        _json_lines(views)
        return
    table = Table("id", "url", "events", "state", "failing since")
    for view in views:
        state = "active" if view["active"] else f"disabled: {view['disabled_reason']}"
        table.add_row(
            view["id"],
            view["url"],
            ",".join(view["event_types"]) or "all",
            state,
            view["failing_since"] or "",
        )
    Console().print(table)


@subscribers_app.command("show")
def subscribers_show(subscriber_id: Annotated[str, typer.Argument(help="sub_...")]) -> None:
    """Print one subscriber as JSON, with its signing secret."""

    async def work(services: Services) -> dict[str, Any]:
        return subscriber_view(await Subscribers(services).get(subscriber_id), with_secret=True)

    _print_json(_run(work))


@subscribers_app.command("remove")
def subscribers_remove(subscriber_id: Annotated[str, typer.Argument(help="sub_...")]) -> None:
    """Delete a subscriber with its deliveries and their history."""

    async def work(services: Services) -> None:
        await Subscribers(services).remove(subscriber_id)

    _run(work)
    err.print(f"removed {subscriber_id}")


@subscribers_app.command("disable")
def subscribers_disable(
    subscriber_id: Annotated[str, typer.Argument(help="sub_...")],
    reason: Annotated[str, typer.Option(help="kept on the subscriber")] = "disabled by an operator",
) -> None:
    """Stop sending to a subscriber; its pending deliveries are dead-lettered."""

    async def work(services: Services) -> int:
        return await Subscribers(services).disable(subscriber_id, reason)

    dead = _run(work)
    err.print(f"disabled {subscriber_id}; {dead} pending deliveries dead-lettered")


@subscribers_app.command("enable")
def subscribers_enable(subscriber_id: Annotated[str, typer.Argument(help="sub_...")]) -> None:
    """Send to a disabled subscriber again (replay its dead deliveries if you want them)."""

    async def work(services: Services) -> None:
        await Subscribers(services).enable(subscriber_id)

    _run(work)
    err.print(f"enabled {subscriber_id}")


@subscribers_app.command("rotate")
def subscribers_rotate(
    subscriber_id: Annotated[str, typer.Argument(help="sub_...")],
    secret: Annotated[
        str | None, typer.Option(help="new secret whsec_<base64>; default: generated")
    ] = None,
) -> None:
    """Switch to a new signing secret; the old one keeps signing for the rotation window."""

    async def work(services: Services) -> dict[str, Any]:
        return subscriber_view(
            await Subscribers(services).rotate(subscriber_id, secret), with_secret=True
        )

    _print_json(_run(work))


# --- deliveries --------------------------------------------------------------------


@deliveries_app.command("list")
def deliveries_list(
    dead: Annotated[bool, typer.Option("--dead", help="only dead-lettered deliveries")] = False,
    subscriber: Annotated[str | None, typer.Option(help="only this subscriber")] = None,
    task: Annotated[str | None, typer.Option(help="only this task")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON lines")] = False,
) -> None:
    """Recent deliveries, newest first, with their last error."""
    filters = DeliveryFilter(subscriber_id=subscriber, status=DEAD if dead else None, task_id=task)

    async def work(services: Services) -> list[dict[str, Any]]:
        rows = await Deliveries(services).list(filters, limit=limit)
        return [delivery_view(d, t) for d, t in rows]

    views = _run(work)
    if as_json:
        _json_lines(views)
        return
    table = Table("id", "event", "type", "subscriber", "status", "tries", "next", "last error")
    for view in views:
        table.add_row(
            str(view["id"]),
            view["event_id"],
            view["event_type"],
            view["subscriber_id"],
            view["status"],
            str(view["attempts"]),
            view["next_attempt_at"] or "",
            view["last_error"] or "",
        )
    Console().print(table)


@deliveries_app.command("show")
def deliveries_show(delivery_id: Annotated[int, typer.Argument(help="delivery id")]) -> None:
    """One delivery with its attempt history, as JSON."""

    async def work(services: Services) -> dict[str, Any]:
        delivery, event_type, attempts = await Deliveries(services).get(delivery_id)
        return {
            **delivery_view(delivery, event_type),
            "attempts": [attempt_view(a) for a in attempts],
        }

    _print_json(_run(work))


@deliveries_app.command("replay")
def deliveries_replay(
    subscriber: Annotated[str, typer.Option(help="the subscriber to send to again")],
    since: Annotated[
        str | None, typer.Option(help="events since: ISO 8601 time, or an age like 2h, 3d")
    ] = None,
    event: Annotated[str | None, typer.Option(help="only this event id (evt_...)")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="only dead-lettered deliveries")] = False,
) -> None:
    """Re-queue deliveries of a subscriber; they go out on the dispatcher's next pass."""
    now = clock.utcnow()
    try:
        since_at = parse_since(since, now) if since else None
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None

    async def work(services: Services) -> int:
        request = ReplayRequest(subscriber, since=since_at, event_id=event, dead_only=dead)
        return await Deliveries(services).replay(request, now)

    requeued = _run(work)
    err.print(f"re-queued {requeued} deliveries for {subscriber}")


# --- watch -------------------------------------------------------------------------


def watch(
    task_id: Annotated[str, typer.Argument(help="genhook task id (tsk_...)")],
    download: Annotated[
        Path | None, typer.Option(help="save the result images into this directory")
    ] = None,
    timeout: Annotated[float, typer.Option(help="give up after this many seconds")] = 1800,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the final task as JSON on stdout")
    ] = False,
) -> None:
    """Follow a task live until it finishes.

    Exit code: 0 completed, 1 failed or expired, 2 no such task, 3 still running at
    --timeout, 4 completed but a result image could not be downloaded.
    """
    display = WatchDisplay(err if as_json else Console())

    async def work(services: Services) -> tuple[dict[str, Any], list[Path] | str]:
        with display.running():
            view = await follow_task(services, task_id, within=timeout, on_update=display.update)
        saved: list[Path] | str = []
        if download is not None and view["result_urls"]:
            try:
                saved = await download_results(services.http, view, download)
            except Exception as exc:  # report any download failure, keep the task result
                saved = f"{type(exc).__name__}: {exc}"
        return view, saved

    view, saved = _run(work, not_found_exit=EXIT_NOT_FOUND)
    display.summary(view)
    if as_json:
        _print_json(view)
    code = exit_code(view)
    if isinstance(saved, str):
        err.print(f"[red]download failed:[/red] {saved}", highlight=False)
        code = code or EXIT_DOWNLOAD_FAILED
    else:
        for path in saved:
            err.print(f"saved {path}", highlight=False)
    raise typer.Exit(code)
