"""Task commands, all through the server's API: ``submit``, ``track``,
``callback-url``, ``status``, ``tasks`` (and ``tasks settle``); ``providers`` reads
the catalog shipped with genhook."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Annotated, Any

import typer

from receiver.cli.runner import (
    EXIT_REFUSED,
    EXIT_USAGE,
    Output,
    err,
    fail,
    print_json,
    print_json_lines,
    print_table,
    talking,
)

if TYPE_CHECKING:
    from receiver import resources

MAX_PAGE = 200  # the API's page limit (receiver.params.MAX_PAGE)
UNCONFIRMED_CODE = "create_unconfirmed"  # receiver.submit.UNCONFIRMED_CODE

tasks_app = typer.Typer(
    help="Recent tasks (with --stuck: unfinished ones and why); `tasks settle` for a lost create.",
    invoke_without_command=True,
)


def callback_url(
    provider: Annotated[str, typer.Argument(help="provider that will call back (apimodels)")],
) -> None:
    """Create a task awaiting its callback and print its callback URL as JSON."""
    with talking() as genhook:
        print_json(genhook.callback_url(provider))


def submit(
    prompt: Annotated[str, typer.Option(help="what to generate")],
    provider: Annotated[
        str | None, typer.Argument(help="apimodels, apimall or apimart (or give --route)")
    ] = None,
    model: Annotated[str | None, typer.Option(help="provider model name (with PROVIDER)")] = None,
    route: Annotated[
        str | None,
        typer.Option(help="a route instead of PROVIDER and --model: its targets in order"),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(help="extra request field KEY=VALUE; VALUE is read as JSON if it parses"),
    ] = None,
    webhook: Annotated[
        str | None, typer.Option(help="also POST this task's events to this URL, signed")
    ] = None,
    wait: Annotated[bool, typer.Option(help="return only when the task has finished")] = False,
    timeout: Annotated[float, typer.Option(help="with --wait: give up after seconds")] = 1800,
) -> None:
    """Submit a generation job through genhook; prints the task as JSON.

    To PROVIDER --model M, or to --route NAME: a route tries its targets in order,
    failing over from one provider to the next (`genhook routes` lists them).

    Exit code 1 when the job was refused, or its create could not be confirmed (the
    message says how to settle it). With --wait: 0 completed, 1 failed or expired,
    3 still running at --timeout.
    """
    from receiver.errors import ClientTimeoutError

    try:
        check_target(provider, model, route)
        params = parse_params(param or [])
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    with talking() as genhook:
        task: resources.Task = genhook.submit(
            provider,
            model=model,
            route=route,
            prompt=prompt,
            params=params,
            webhook={"url": webhook} if webhook else None,
        )
        if not_submitted(task):
            print_json(task)
            raise typer.Exit(EXIT_REFUSED)
        if wait:
            try:
                task = genhook.wait(task.id, timeout=timeout)
            except ClientTimeoutError as exc:
                print_json(exc.task)
                raise fail(str(exc), 3) from None
    print_json(task)
    if wait:
        from receiver.cli.watch import exit_code

        raise typer.Exit(exit_code(task))


def check_target(provider: str | None, model: str | None, route: str | None) -> None:
    """Exactly one of PROVIDER (with --model) and --route, or a ``ValueError`` saying so."""
    if route is not None and (provider is not None or model is not None):
        raise ValueError(
            "give PROVIDER --model M or --route NAME, not both: the route decides "
            "the provider and the model"
        )
    if route is None and provider is None:
        raise ValueError("give PROVIDER --model M, or --route NAME (see `genhook routes`)")
    if route is None and model is None:
        raise ValueError(f"--model is required with PROVIDER ({provider})")


def not_submitted(task: resources.Task) -> bool:
    """Say why a job did not reach the provider, if it did not (stderr)."""
    if task.status == "failed" and task.error is not None:
        err.print(
            f"[red]error:[/red] {task.provider} refused task {task.id}: "
            f"{task.error.code}: {task.error.message}",
            markup=True,
        )
        return True
    if task.status == "submitting" and task.error and task.error.code == UNCONFIRMED_CODE:
        err.print(
            f"[red]error:[/red] {task.error.message}. Task {task.id} is unconfirmed: "
            "genhook resubmits it by itself where the provider's create is idempotent; "
            f"else, once you know, `genhook tasks settle {task.id} --failed` "
            "(the provider has no job) or `--resubmit` (create it again)",
            markup=True,
        )
        return True
    return False


def track(
    provider: Annotated[str, typer.Argument(help="apimodels, apimall or apimart")],
    provider_task_id: Annotated[str, typer.Argument(help="the provider's task id")],
    model: Annotated[str | None, typer.Option(help="model, for your records")] = None,
) -> None:
    """Adopt a task created elsewhere so genhook follows it; prints it as JSON."""
    with talking() as genhook:
        print_json(genhook.track(provider, provider_task_id, model=model))


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``["n=2", "size=1:1", "flag=true"]`` → ``{"n": 2, "size": "1:1", "flag": True}``."""
    import orjson

    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--param wants KEY=VALUE, got {pair!r}")
        try:
            params[key] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            params[key] = raw
    return params


def status(
    task_id: Annotated[str, typer.Argument(help="genhook task id (tsk_...)")],
    attempts: Annotated[
        bool, typer.Option("--attempts", help="only its provider attempts, as a table")
    ] = False,
) -> None:
    """Print one task as JSON, with its history (attempts, callbacks, polls, events).

    With --attempts, only a table of its provider tries and how each ended."""
    with talking() as genhook:
        task = genhook.get(task_id)
    if not attempts:
        print_json(task)
        return
    from receiver.cli.routes import ATTEMPT_COLUMNS, attempt_rows

    print_table(ATTEMPT_COLUMNS, attempt_rows(task.attempts), ids=("provider task id",))
    if not task.attempts:
        err.print(f"task {task_id} has no provider attempts (yet)")


@tasks_app.callback()
def tasks(
    context: typer.Context,
    status: Annotated[str | None, typer.Option(help="only this status")] = None,
    provider: Annotated[str | None, typer.Option(help="only this provider")] = None,
    stuck: Annotated[
        bool, typer.Option("--stuck", help="unfinished tasks past their expected time, and why")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="at most this many")] = 50,
    output: Annotated[Output, typer.Option(help="table, or json (one task per line)")] = (
        Output.TABLE
    ),
    as_json: Annotated[bool, typer.Option("--json", help="the same as --output json")] = False,
) -> None:
    """List recent tasks, newest first (with --stuck: oldest unfinished first, with reasons)."""
    if context.invoked_subcommand is not None:
        return
    from receiver import clock

    as_json = as_json or output is Output.JSON
    with talking() as genhook:
        if stuck:
            found: list[Any] = genhook.stuck(limit=limit)
        else:
            listing = genhook.tasks(
                status=status, provider=provider, page_size=min(limit, MAX_PAGE)
            )
            found = list(itertools.islice(listing, limit))
    if as_json:
        print_json_lines(found)
        return
    columns = ["id", "provider", "model", "route", "status", "via", "created"]
    columns.append("why" if stuck else "images")
    print_table(
        columns,
        (
            [
                task.id,
                task.provider,
                task.model or "",
                task.route or "",
                task.status,
                task.last_source or "",
                clock.iso(task.created_at) or "",
                task.stuck_reason if stuck else str(len(task.result_urls)),
            ]
            for task in found
        ),
    )
    if stuck and not found:
        err.print("no stuck tasks")


@tasks_app.command("settle")
def settle(
    task_id: Annotated[str, typer.Argument(help="a submitting task whose create was lost")],
    failed: Annotated[
        bool, typer.Option("--failed", help="the provider has no such job: record it failed")
    ] = False,
    resubmit: Annotated[
        bool, typer.Option("--resubmit", help="the provider has no such job: create it again")
    ] = False,
) -> None:
    """Settle an unconfirmed submission by hand; prints the task as JSON."""
    if failed == resubmit:
        raise fail("give exactly one of --failed and --resubmit", EXIT_USAGE)
    with talking() as genhook:
        task = genhook.settle(task_id, "failed" if failed else "resubmit")
    print_json(task)
    if task.status == "failed" and resubmit:
        raise typer.Exit(EXIT_REFUSED)


def providers() -> None:
    """Print the models and parameters each provider accepts, as JSON."""
    from receiver.providers.registry import describe_catalogs

    print_json(describe_catalogs())
