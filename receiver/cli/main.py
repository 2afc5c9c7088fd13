"""``genhook``: the command line.

Commands that read or change tasks open the database directly with the same
settings as the server (``receiver.services.open_services``), so they work whether
or not a server is running, and on SQLite they migrate the embedded database first.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import orjson
import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from receiver import clock
from receiver.app import create_app
from receiver.callback_urls import create_callback_url
from receiver.cli.delivery import deliveries_app, subscribers_app, watch
from receiver.cli.demo import run_demo
from receiver.cli.simulate import simulate
from receiver.cli.watch import exit_code, follow_task
from receiver.errors import ConfigurationError, GenhookError
from receiver.lifecycle import Status
from receiver.providers.registry import describe_catalogs
from receiver.services import Services, open_services
from receiver.settings import Settings
from receiver.stuck import stuck_reason, stuck_tasks
from receiver.submit import SubmitRequest, Submitter
from receiver.views import task_view
from receiver.worker import background_jobs, running_jobs
from storage.claims import worker_id
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.models import Task
from storage.queries import TaskFilter, list_tasks

app = typer.Typer(
    name="genhook",
    help="Callback receiver, poller and webhook relay for image-generation gateways.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(deliveries_app, name="deliveries")
app.command()(watch)

err = Console(stderr=True)
T = TypeVar("T")


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with command-line overrides that were given."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _run(work: Callable[[Services], Awaitable[T]], settings: Settings | None = None) -> T:
    async def main() -> T:
        async with open_services(settings or load_settings()) as services:
            return await work(services)

    try:
        return asyncio.run(main())
    except GenhookError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


def _print_json(document: Any) -> None:
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address [GENHOOK_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="bind port [GENHOOK_PORT]")] = None,
    background: Annotated[
        bool | None,
        typer.Option(
            "--background/--no-background",
            help="also run the background jobs (default); --no-background for a web-only "
            "process next to `genhook worker` [GENHOOK_RUN_BACKGROUND]",
        ),
    ] = None,
) -> None:
    """Run the service: callback receiver, API, and (by default) the background jobs."""
    settings = load_settings(host=host, port=port, run_background=background)
    try:
        check_bind_policy(settings)
    except ConfigurationError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    _configure_logging(settings)
    if settings.api_token is None:
        err.print(
            f"admin API: no GENHOOK_API_TOKEN set, listening on loopback only ({settings.host})"
        )
    err.print(f"callbacks: {settings.public_url}/callbacks/<provider>/<token>")
    err.print(f"database:  {_redacted(settings.resolved_database_url)}")
    err.print(f"dashboard: {dashboard_url(settings)}")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
    )


def dashboard_url(settings: Settings) -> str:
    """Where a person on this machine opens the dashboard."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}/"


def check_bind_policy(settings: Settings) -> None:
    """Without an API token the admin API would be open: bind loopback only."""
    if settings.api_token is None and not settings.binds_loopback_only:
        raise ConfigurationError(
            f"refusing to listen on {settings.host} without GENHOOK_API_TOKEN: the admin API "
            "would be open to the network. Set GENHOOK_API_TOKEN, or bind 127.0.0.1 and "
            "publish the callback route through a reverse proxy or tunnel."
        )


@app.command()
def worker() -> None:
    """Run the background jobs without a web server (the Procfile `worker`)."""
    settings = load_settings()
    _configure_logging(settings)

    async def main() -> None:
        async with open_services(settings) as services, running_jobs(background_jobs(services)):
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            err.print(f"worker {worker_id()} running; Ctrl-C to stop")
            await stop.wait()

    try:
        asyncio.run(main())
    except GenhookError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    # APScheduler logs every run of every job at INFO: several lines a second.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (the Procfile `release` step)."""
    settings = load_settings()

    async def main() -> None:
        engine = create_engine(settings.resolved_database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(main())
    err.print(f"database at head: {_redacted(settings.resolved_database_url)}")


@app.command("callback-url")
def callback_url(
    provider: Annotated[str, typer.Argument(help="provider that will call back (apimodels)")],
) -> None:
    """Create a task awaiting its callback and print its callback URL as JSON."""

    async def work(services: Services) -> dict[str, str]:
        created = await create_callback_url(services, provider)
        return {
            "task_id": created.task_id,
            "provider": created.provider,
            "callback_url": created.callback_url,
        }

    _print_json(_run(work))


@app.command()
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
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None

    async def work(services: Services) -> dict[str, Any]:
        task = await Submitter(services).submit(SubmitRequest(provider, model, prompt, params))
        if wait:  # the live event stream, as `genhook watch` reads it
            return await follow_task(services, task.id, within=timeout)
        return task_view(task)

    view = _run(work)
    _print_json(view)
    if wait:
        raise typer.Exit(exit_code(view))


@app.command()
def track(
    provider: Annotated[str, typer.Argument(help="apimodels, apimall or apimart")],
    provider_task_id: Annotated[str, typer.Argument(help="the provider's task id")],
    model: Annotated[str | None, typer.Option(help="model, for your records")] = None,
) -> None:
    """Adopt a task created elsewhere so genhook follows it; prints it as JSON."""

    async def work(services: Services) -> dict[str, Any]:
        return task_view(await Submitter(services).track(provider, provider_task_id, model))

    _print_json(_run(work))


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


@app.command()
def demo(
    within: Annotated[float, typer.Option(help="stop watching after this many seconds")] = 120,
) -> None:
    """Submit one job to each gateway and watch them finish (use with `genhook simulate`)."""

    async def work(services: Services) -> list[Task]:
        return await run_demo(services, Console(), within=within)

    tasks = _run(work)
    unfinished = [t for t in tasks if not Status(t.status).is_terminal]
    if unfinished:
        err.print(f"{len(unfinished)} task(s) still running; follow them with `genhook tasks`.")


@app.command()
def status(task_id: Annotated[str, typer.Argument(help="genhook task id (tsk_...)")]) -> None:
    """Print one task as JSON."""

    async def work(services: Services) -> dict[str, Any] | None:
        async with services.sessions() as session:
            task = await session.get(Task, task_id)
            return task_view(task) if task else None

    view = _run(work)
    if view is None:
        err.print(f"[red]error:[/red] no task with id {task_id!r}")
        raise typer.Exit(1)
    _print_json(view)


@app.command()
def tasks(
    status: Annotated[str | None, typer.Option(help="only this status")] = None,
    provider: Annotated[str | None, typer.Option(help="only this provider")] = None,
    stuck: Annotated[
        bool, typer.Option("--stuck", help="unfinished tasks past their expected time, and why")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON lines")] = False,
) -> None:
    """List recent tasks, newest first (with --stuck: oldest unfinished first, with reasons)."""

    async def work(services: Services) -> list[dict[str, Any]]:
        now = clock.utcnow()
        async with services.sessions() as session:
            if stuck:
                rows = await stuck_tasks(session, services.settings, now, limit=limit)
                return [
                    {**task_view(t), "stuck_reason": stuck_reason(t, services.settings, now)}
                    for t in rows
                ]
            rows = await list_tasks(
                session, TaskFilter(status=status, provider=provider), limit=limit
            )
            return [task_view(t) for t in rows]

    views = _run(work)
    if as_json:
        for view in views:
            sys.stdout.write(orjson.dumps(view).decode() + "\n")
        return
    columns = ["id", "provider", "model", "status", "via", "created"]
    columns.append("why" if stuck else "results")
    table = Table(*columns)
    for view in views:
        table.add_row(
            view["id"],
            view["provider"],
            view["model"] or "",
            view["status"],
            view["last_source"] or "",
            view["created_at"],
            view["stuck_reason"] if stuck else str(len(view["result_urls"])),
        )
    Console().print(table)
    if stuck and not views:
        err.print("no stuck tasks")


@app.command()
def providers() -> None:
    """Print the models and parameters each provider accepts, as JSON."""
    _print_json(describe_catalogs())


app.command(help="Run the provider simulator: all three gateways, no keys, no internet.")(simulate)


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    app()
