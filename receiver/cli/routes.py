"""Routes and what they cost, through the server's API: ``routes`` (the routes jobs
can be submitted to, their targets in order) and ``usage`` (the cost ledger, added
up). The table rows are made by pure functions, the commands only fetch and print.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from receiver.cli.runner import EXIT_USAGE, fail, print_json, print_table, talking

if TYPE_CHECKING:
    from receiver.resources import RouteView, Usage
    from receiver.views import AttemptRecord

THEN = " → "  # between a route's targets, in the order they are tried
NONE = "—"


class GroupBy(StrEnum):  # receiver.params.UsageGrouping, not imported for --help
    PROVIDER = "provider"
    MODEL = "model"
    DAY = "day"


def routes(
    as_json: Annotated[bool, typer.Option("--json", help="the routes as JSON")] = False,
) -> None:
    """List the routes jobs can be submitted to (`submit --route`), targets in order."""
    with talking() as genhook:
        found = genhook.routes()
    if as_json:
        print_json({"routes": [route.model_dump(mode="json") for route in found]})
        return
    print_table(["route", "targets", "description"], route_rows(found), ids=("route",))


def usage(
    since: Annotated[
        str | None, typer.Option(help="from this time on (ISO 8601; a date is its UTC midnight)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="before this time (ISO 8601)")] = None,
    group_by: Annotated[GroupBy, typer.Option(help="add up by provider, model or day")] = (
        GroupBy.PROVIDER
    ),
    as_json: Annotated[bool, typer.Option("--json", help="the usage document as JSON")] = False,
) -> None:
    """What provider attempts cost, from the ledger: attempts, images and cost, per unit."""
    try:
        since_at, until_at = moment(since, "--since"), moment(until, "--until")
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    with talking() as genhook:
        found = genhook.usage(since=since_at, until=until_at, group_by=group_by.value)
    if as_json:
        print_json(found)
        return
    columns, rows = usage_table(found)
    print_table(columns, rows, ids=(columns[0],))


def moment(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 time from the command line; one without a zone is UTC."""
    from datetime import UTC

    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{option} wants an ISO 8601 time (2026-12-01 or 2026-12-01T08:00:00Z), got {value!r}"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def route_rows(found: Iterable[RouteView]) -> list[list[str]]:
    """One line per route: its name, its targets as provider/model in the order a job
    tries them, its description."""
    return [
        [
            route.name,
            THEN.join(f"{t.provider}/{t.model}" for t in route.targets) or NONE,
            route.description or "",
        ]
        for route in found
    ]


def amount(value: float | None) -> str:
    """A cost as people write it: ``16``, ``0.117``, ``1234.5`` (no float noise)."""
    if value is None:
        return NONE
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def usage_table(found: Usage) -> tuple[list[str], list[list[str]]]:
    """Columns and rows for ``genhook usage``: the key's own column (provider, model
    or day, where a row is a day's provider), then unit, attempts, images, cost."""
    grouping = str(found.group_by)
    columns = [grouping, "provider"] if grouping == GroupBy.DAY else [grouping]
    columns += ["unit", "attempts", "images", "cost"]
    rows = []
    for row in found.rows:
        line = [row.key, row.provider] if grouping == GroupBy.DAY else [row.key]
        line += [row.unit, str(row.attempts), str(row.images), amount(row.cost)]
        rows.append(line)
    return columns, rows


ATTEMPT_COLUMNS = [
    "#",
    "target",
    "provider task id",
    "outcome",
    "error",
    "cost",
    "started",
    "ended",
]


def attempt_rows(attempts: Sequence[AttemptRecord]) -> list[list[str]]:
    """One line per provider try, first first: the outcome with what the provider
    reported late (``failed, late: completed``), the error, the cost in its unit."""
    from receiver import clock

    rows = []
    for attempt in sorted(attempts, key=lambda a: a.number):
        outcome = str(attempt.outcome)
        if attempt.late_outcome:
            outcome += f", late: {attempt.late_outcome}"
        error = ": ".join(str(p) for p in (attempt.error_code, attempt.error_message) if p)
        cost = amount(attempt.cost)
        if attempt.cost is not None and attempt.cost_unit:
            cost += f" {attempt.cost_unit}"
        rows.append(
            [
                str(attempt.number),
                f"{attempt.provider}/{attempt.model}" if attempt.model else attempt.provider,
                attempt.provider_task_id or NONE,
                outcome,
                error or NONE,
                cost,
                clock.iso(attempt.started_at) or NONE,
                clock.iso(attempt.ended_at) or NONE,
            ]
        )
    return rows
