"""``genhook subscribers`` and ``genhook deliveries``, through the server's API.

They print what ``/api/subscribers`` and ``/api/deliveries`` answer, so the command
line and the API refuse the same input with the same words and show the same
fields. Single resources print as JSON, listings as a table or (``--output json``)
one JSON document per line.
"""

from __future__ import annotations

import itertools
from typing import Annotated

import typer

from receiver.cli.runner import (
    EXIT_USAGE,
    Output,
    err,
    fail,
    print_json,
    print_json_lines,
    print_table,
    talking,
)

subscribers_app = typer.Typer(
    help="Webhook subscribers: who receives task events.", no_args_is_help=True
)
deliveries_app = typer.Typer(
    help="Webhook deliveries: what was sent, what failed, replay.", no_args_is_help=True
)

OutputOption = Annotated[Output, typer.Option(help="table, or json (one per line)")]
JsonFlag = Annotated[bool, typer.Option("--json", help="the same as --output json")]


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
    with talking() as genhook:
        print_json(genhook.subscribers.add(url, events=events, secret=secret))


@subscribers_app.command("list")
def subscribers_list(
    task: Annotated[str | None, typer.Option(help="that task's own webhooks instead")] = None,
    output: OutputOption = Output.TABLE,
    as_json: JsonFlag = False,
) -> None:
    """List subscribers (secrets are not shown; `subscribers show ID` has them)."""
    from receiver import clock

    with talking() as genhook:
        found = genhook.subscribers.list(task_id=task)
    if as_json or output is Output.JSON:
        print_json_lines(found)
        return
    print_table(
        ["id", "url", "events", "state", "failing since"],
        (
            [
                s.id,
                s.url,
                ",".join(s.event_types) or "all",
                "active" if s.active else f"disabled: {s.disabled_reason}",
                clock.iso(s.failing_since) or "",
            ]
            for s in found
        ),
        ids=("id", "url"),
    )


@subscribers_app.command("show")
def subscribers_show(subscriber_id: Annotated[str, typer.Argument(help="sub_...")]) -> None:
    """Print one subscriber as JSON, with its signing secret."""
    with talking() as genhook:
        print_json(genhook.subscribers.get(subscriber_id))


@subscribers_app.command("remove")
def subscribers_remove(subscriber_id: Annotated[str, typer.Argument(help="sub_...")]) -> None:
    """Delete a subscriber with its deliveries and their history."""
    with talking() as genhook:
        genhook.subscribers.remove(subscriber_id)
    err.print(f"removed {subscriber_id}")


@subscribers_app.command("disable")
def subscribers_disable(
    subscriber_id: Annotated[str, typer.Argument(help="sub_...")],
    reason: Annotated[str | None, typer.Option(help="kept on the subscriber")] = None,
) -> None:
    """Stop sending to a subscriber; its pending deliveries are dead-lettered. Prints
    it as JSON, with how many were."""
    with talking() as genhook:
        print_json(genhook.subscribers.disable(subscriber_id, reason=reason))


@subscribers_app.command("enable")
def subscribers_enable(subscriber_id: Annotated[str, typer.Argument(help="sub_...")]) -> None:
    """Send to a disabled subscriber again (replay its dead deliveries if you want them)."""
    with talking() as genhook:
        print_json(genhook.subscribers.enable(subscriber_id))


@subscribers_app.command("rotate")
def subscribers_rotate(
    subscriber_id: Annotated[str, typer.Argument(help="sub_...")],
    secret: Annotated[
        str | None, typer.Option(help="new secret whsec_<base64>; default: generated")
    ] = None,
) -> None:
    """Switch to a new signing secret; the old one keeps signing for the rotation window."""
    with talking() as genhook:
        print_json(genhook.subscribers.rotate(subscriber_id, secret=secret))


# --- deliveries --------------------------------------------------------------------


@deliveries_app.command("list")
def deliveries_list(
    dead: Annotated[bool, typer.Option("--dead", help="only dead-lettered deliveries")] = False,
    subscriber: Annotated[str | None, typer.Option(help="only this subscriber")] = None,
    task: Annotated[str | None, typer.Option(help="only this task")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many")] = 50,
    output: OutputOption = Output.TABLE,
    as_json: JsonFlag = False,
) -> None:
    """Recent deliveries, newest first, with their last error."""
    from receiver import clock

    with talking() as genhook:
        listing = genhook.deliveries.list(
            subscriber=subscriber,
            status="dead" if dead else None,
            task_id=task,
            page_size=min(limit, 200),
        )
        found = list(itertools.islice(listing, limit))
    if as_json or output is Output.JSON:
        print_json_lines(found)
        return
    print_table(
        ["id", "event", "type", "subscriber", "status", "tries", "next", "last error"],
        (
            [
                str(d.id),
                d.event_id,
                d.event_type or "",
                d.subscriber_id,
                d.status,
                str(d.attempts),
                clock.iso(d.next_attempt_at) or "",
                d.last_error or "",
            ]
            for d in found
        ),
        ids=("id", "event", "subscriber"),
    )


@deliveries_app.command("show")
def deliveries_show(delivery_id: Annotated[int, typer.Argument(help="delivery id")]) -> None:
    """One delivery with its attempt history, as JSON."""
    with talking() as genhook:
        print_json(genhook.deliveries.get(delivery_id))


@deliveries_app.command("replay")
def deliveries_replay(
    subscriber: Annotated[str, typer.Option(help="the subscriber to send to again")],
    since: Annotated[
        str | None, typer.Option(help="events since: ISO 8601 time, or an age like 2h, 3d")
    ] = None,
    event: Annotated[str | None, typer.Option(help="only this event id (evt_...)")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="only dead-lettered deliveries")] = False,
) -> None:
    """Re-queue deliveries of a subscriber; they go out on the dispatcher's next pass.
    Prints ``{"requeued": n}``."""
    from receiver.errors import ApiRequestError

    with talking() as genhook:
        try:
            requeued = genhook.deliveries.replay(subscriber, since=since, event=event, dead=dead)
        except ApiRequestError as exc:
            if exc.field == "since":
                raise fail(str(exc), EXIT_USAGE) from None
            raise
    print_json({"requeued": requeued})
    err.print(f"re-queued {requeued} deliveries for {subscriber}")
