"""Task commands: ``submit``, ``track``, ``callback-url``, ``status``, ``tasks``, ``providers``."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from receiver import clock, resources, views
from receiver.cli.runner import fail, print_json, print_json_lines, run, validated
from receiver.cli.watch import exit_code
from receiver.errors import TaskNotFoundError
from receiver.params import MAX_PAGE, TaskQuery
from receiver.providers.registry import describe_catalogs
from receiver.services import Services
from receiver.stuck import stuck_reason, stuck_tasks
from receiver.submit import SubmitRequest
from storage.engine import READ_ONLY
from storage.models import Task
from storage.queries import list_tasks


def callback_url(
    provider: Annotated[str, typer.Argument(help="provider that will call back (apimodels)")],
) -> None:
    """Create a task awaiting its callback and print its callback URL as JSON."""

    async def work(services: Services) -> resources.CallbackUrl:
        created = await services.submitter().callback_url(provider)
        return resources.CallbackUrl(
            task_id=created.task_id, provider=created.provider, callback_url=created.callback_url
        )

    print_json(run(work))


def submit(
    provider: Annotated[str, typer.Argument(help="apimodels, apimall or apimart")],
    model: Annotated[str, typer.Option(help="provider model name")],
    prompt: Annotated[str, typer.Option(help="what to generate")],
    param: Annotated[
        list[str] | None,
        typer.Option(help="extra request field KEY=VALUE; VALUE is read as JSON if it parses"),
    ] = None,
    wait: Annotated[bool, typer.Option(help="return only when the task has finished")] = False,
    timeout: Annotated[float, typer.Option(help="with --wait: give up after seconds")] = 1800,
) -> None:
    """Submit a generation job through genhook; prints the task as JSON.

    With --wait the exit code says how it ended: 0 completed, 1 failed or expired,
    3 still running at --timeout.
    """
    try:
        params = parse_params(param or [])
    except ValueError as exc:
        raise fail(str(exc), 2) from None

    async def work(services: Services) -> resources.Task:
        task = await services.submitter().submit(SubmitRequest(provider, model, prompt, params))
        if wait:  # the live event stream, as `genhook watch` reads it
            followed: resources.Task = await services.stream.follow_task(task.id, within=timeout)
            return followed
        return views.task(task)

    task = run(work)
    print_json(task)
    if wait:
        raise typer.Exit(exit_code(task))


def track(
    provider: Annotated[str, typer.Argument(help="apimodels, apimall or apimart")],
    provider_task_id: Annotated[str, typer.Argument(help="the provider's task id")],
    model: Annotated[str | None, typer.Option(help="model, for your records")] = None,
) -> None:
    """Adopt a task created elsewhere so genhook follows it; prints it as JSON."""

    async def work(services: Services) -> resources.Task:
        return views.task(await services.submitter().track(provider, provider_task_id, model))

    print_json(run(work))


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``["n=2", "size=1:1", "flag=true"]`` → ``{"n": 2, "size": "1:1", "flag": True}``."""
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


def status(task_id: Annotated[str, typer.Argument(help="genhook task id (tsk_...)")]) -> None:
    """Print one task as JSON."""

    async def work(services: Services) -> resources.Task:
        async with services.sessions() as session:
            await session.connection(execution_options=READ_ONLY)
            task = await session.get(Task, task_id)
        if task is None:
            raise TaskNotFoundError(task_id)
        return views.task(task)

    print_json(run(work))


def tasks(
    status: Annotated[str | None, typer.Option(help="only this status")] = None,
    provider: Annotated[str | None, typer.Option(help="only this provider")] = None,
    stuck: Annotated[
        bool, typer.Option("--stuck", help="unfinished tasks past their expected time, and why")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON lines")] = False,
) -> None:
    """List recent tasks, newest first (with --stuck: oldest unfinished first, with reasons)."""
    query = validated(TaskQuery, status=status, provider=provider, limit=limit)

    async def work(services: Services) -> list[tuple[resources.Task, str | None]]:
        now = clock.utcnow()
        async with services.sessions() as session:
            await session.connection(execution_options=READ_ONLY)
            if stuck:
                rows = await stuck_tasks(session, services.settings, now, limit=query.limit)
                return [(views.task(t), stuck_reason(t, services.settings, now)) for t in rows]
            rows = await list_tasks(session, query, limit=query.limit)
            return [(views.task(t), None) for t in rows]

    found = run(work)
    if as_json:
        print_json_lines(
            {**task.model_dump(mode="json"), "stuck_reason": reason} if stuck else task
            for task, reason in found
        )
        return
    columns = ["id", "provider", "model", "status", "via", "created"]
    columns.append("why" if stuck else "results")
    table = Table(*columns)
    for task, reason in found:
        table.add_row(
            task.id,
            task.provider,
            task.model or "",
            task.status,
            task.last_source or "",
            clock.iso(task.created_at) or "",
            reason if stuck else str(len(task.result_urls)),
        )
    Console().print(table)
    if stuck and not found:
        Console(stderr=True).print("no stuck tasks")


def providers() -> None:
    """Print the models and parameters each provider accepts, as JSON."""
    print_json(describe_catalogs())
