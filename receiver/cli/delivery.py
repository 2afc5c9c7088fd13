"""``genhook subscribers`` and ``genhook deliveries``.

They go through the same :class:`~receiver.delivery.subscribers.Subscribers` and
:class:`~receiver.delivery.deliveries.Deliveries` as ``/api/subscribers`` and
``/api/deliveries``, and print the same resources, so both refuse the same input
with the same words and show the same fields.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from receiver import clock, resources, views
from receiver.cli.runner import err, fail, print_json, print_json_lines, run, validated
from receiver.delivery.deliveries import ReplayRequest
from receiver.params import MAX_PAGE, DeliveryQuery, parse_since
from receiver.services import Services

subscribers_app = typer.Typer(
    help="Webhook subscribers: who receives task events.", no_args_is_help=True
)
deliveries_app = typer.Typer(
    help="Webhook deliveries: what was sent, what failed, replay.", no_args_is_help=True
)


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

    async def work(services: Services) -> resources.SubscriberWithSecret:
        return views.subscriber_with_secret(await services.subscribers.add(url, events, secret))

    print_json(run(work))


@subscribers_app.command("list")
def subscribers_list(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON lines")] = False,
) -> None:
    """List subscribers (secrets are not shown; `subscribers show ID` has them)."""

    async def work(services: Services) -> list[resources.Subscriber]:
        return [views.subscriber(s) for s in await services.subscribers.list()]

    found = run(work)
    if as_json:
        print_json_lines(found)
        return
    table = Table("id", "url", "events", "state", "failing since")
    for subscriber in found:
        state = "active" if subscriber.active else f"disabled: {subscriber.disabled_reason}"
        table.add_row(
            subscriber.id,
            subscriber.url,
            ",".join(subscriber.event_types) or "all",
            state,
            clock.iso(subscriber.failing_since) or "",
        )
    Console().print(table)


@subscribers_app.command("show")
def subscribers_show(subscriber_id: Annotated[str, typer.Argument(help="sub_...")]) -> None:
    """Print one subscriber as JSON, with its signing secret."""

    async def work(services: Services) -> resources.SubscriberWithSecret:
        return views.subscriber_with_secret(await services.subscribers.get(subscriber_id))

    print_json(run(work))


@subscribers_app.command("remove")
def subscribers_remove(subscriber_id: Annotated[str, typer.Argument(help="sub_...")]) -> None:
    """Delete a subscriber with its deliveries and their history."""

    async def work(services: Services) -> None:
        await services.subscribers.remove(subscriber_id)

    run(work)
    err.print(f"removed {subscriber_id}")


@subscribers_app.command("disable")
def subscribers_disable(
    subscriber_id: Annotated[str, typer.Argument(help="sub_...")],
    reason: Annotated[str, typer.Option(help="kept on the subscriber")] = "disabled by an operator",
) -> None:
    """Stop sending to a subscriber; its pending deliveries are dead-lettered."""

    async def work(services: Services) -> int:
        return await services.subscribers.disable(subscriber_id, reason)

    dead = run(work)
    err.print(f"disabled {subscriber_id}; {dead} pending deliveries dead-lettered")


@subscribers_app.command("enable")
def subscribers_enable(subscriber_id: Annotated[str, typer.Argument(help="sub_...")]) -> None:
    """Send to a disabled subscriber again (replay its dead deliveries if you want them)."""

    async def work(services: Services) -> None:
        await services.subscribers.enable(subscriber_id)

    run(work)
    err.print(f"enabled {subscriber_id}")


@subscribers_app.command("rotate")
def subscribers_rotate(
    subscriber_id: Annotated[str, typer.Argument(help="sub_...")],
    secret: Annotated[
        str | None, typer.Option(help="new secret whsec_<base64>; default: generated")
    ] = None,
) -> None:
    """Switch to a new signing secret; the old one keeps signing for the rotation window."""

    async def work(services: Services) -> resources.SubscriberWithSecret:
        return views.subscriber_with_secret(
            await services.subscribers.rotate(subscriber_id, secret)
        )

    print_json(run(work))


# --- deliveries --------------------------------------------------------------------


@deliveries_app.command("list")
def deliveries_list(
    dead: Annotated[bool, typer.Option("--dead", help="only dead-lettered deliveries")] = False,
    subscriber: Annotated[str | None, typer.Option(help="only this subscriber")] = None,
    task: Annotated[str | None, typer.Option(help="only this task")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON lines")] = False,
) -> None:
    """Recent deliveries, newest first, with their last error."""
    query = validated(
        DeliveryQuery,
        subscriber=subscriber,
        status="dead" if dead else None,
        task_id=task,
        limit=limit,
    )

    async def work(services: Services) -> list[resources.Delivery]:
        return [views.delivery(d, t) for d, t in await services.deliveries.list(query)]

    found = run(work)
    if as_json:
        print_json_lines(found)
        return
    table = Table("id", "event", "type", "subscriber", "status", "tries", "next", "last error")
    for delivery in found:
        table.add_row(
            str(delivery.id),
            delivery.event_id,
            delivery.event_type or "",
            delivery.subscriber_id,
            delivery.status,
            str(delivery.attempts),
            clock.iso(delivery.next_attempt_at) or "",
            delivery.last_error or "",
        )
    Console().print(table)


@deliveries_app.command("show")
def deliveries_show(delivery_id: Annotated[int, typer.Argument(help="delivery id")]) -> None:
    """One delivery with its attempt history, as JSON."""

    async def work(services: Services) -> resources.DeliveryDetail:
        return views.delivery_detail(*await services.deliveries.get(delivery_id))

    print_json(run(work))


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
        raise fail(str(exc), 2) from None

    async def work(services: Services) -> int:
        request = ReplayRequest(subscriber, since=since_at, event_id=event, dead_only=dead)
        return await services.deliveries.replay(request, now)

    requeued = run(work)
    err.print(f"re-queued {requeued} deliveries for {subscriber}")
