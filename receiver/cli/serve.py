"""The processes: ``genhook serve``, ``genhook worker`` and ``genhook db upgrade``.

They run locally, on the settings of this machine. The web stack, the database
layer and the scheduler are imported inside the commands, so ``genhook --help``
and the commands that only talk to a server never pay for them. Both long-running
processes set up logging first (:mod:`receiver.logs`), so that with
``GENHOOK_LOG_FORMAT=json`` every line they write is a JSON object: the start-up
banner and a refusal to start are log records then, not console text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from receiver.cli.runner import err, fail, load_settings

if TYPE_CHECKING:
    from receiver.services import Services
    from receiver.settings import Settings

log = logging.getLogger(__name__)

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


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
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="web processes sharing the port (uvicorn workers; PostgreSQL only) "
            "[GENHOOK_WORKERS]",
        ),
    ] = None,
) -> None:
    """Run the service: callback receiver, API, and (by default) the background jobs.

    SIGTERM or Ctrl-C stops it gracefully: no new connections, requests and passes
    in flight get ``GENHOOK_SHUTDOWN_GRACE_SECONDS``, leases are given back, exit 0.
    """
    import uvicorn

    from receiver.app import create_app, server_options
    from receiver.errors import GenhookError
    from receiver.services import check_asset_store
    from receiver.tokens import load_api_token
    from receiver.web.server import CleanExitServer

    settings = load_settings(host=host, port=port, run_background=background, workers=workers)
    log_config = configure_logging(settings)
    if problem := impossible(settings):
        refuse(settings, problem, 2)
    token, generated = load_api_token(settings)
    settings = settings.updated(api_token=token)
    for line in startup_lines(settings, generated=generated):
        announce(settings, line)
    try:  # refused here in one line, rather than by a traceback from the app's start
        asyncio.run(check_asset_store(settings))
    except GenhookError as exc:
        refuse(settings, str(exc), 1)
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "log_config": log_config,  # applied by uvicorn in every process it starts
        "access_log": False,
        **server_options(settings),
    }
    if settings.workers == 1:
        CleanExitServer(uvicorn.Config(create_app(settings), **common)).run()
        return
    # Each worker process builds its app from the environment, so what the command
    # line chose goes there; the API token is in the data dir (or the environment).
    os.environ.update(
        GENHOOK_HOST=settings.host,
        GENHOOK_PORT=str(settings.port),
        GENHOOK_RUN_BACKGROUND=str(settings.run_background).lower(),
        GENHOOK_WORKERS=str(settings.workers),
    )
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:  # /metrics sums every worker
        shared = settings.data_dir / f"prometheus-{settings.port}"
        shared.mkdir(parents=True, exist_ok=True)
        for stale in shared.glob("*.db"):  # a previous run's processes are gone
            stale.unlink()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
    common["http"] = "receiver.web.server:HeaderDeadlineProtocol"  # a class by name: picklable
    uvicorn.run(
        "receiver.app:app_from_environment", factory=True, workers=settings.workers, **common
    )


def impossible(settings: Settings) -> str | None:
    """Why this combination of settings cannot work for ``serve``, or None."""
    if settings.workers > 1 and settings.is_embedded_sqlite:
        return (
            f"--workers {settings.workers} needs PostgreSQL: SQLite has one writer process. "
            "Set GENHOOK_DATABASE_URL=postgresql+asyncpg://..., or run one process."
        )
    if settings.workers > 1 and settings.port == 0:
        return "--workers needs a fixed --port (workers share one listening socket)"
    return None


def startup_lines(settings: Settings, *, generated: bool) -> list[str]:
    """What ``serve`` says before it listens: where everything is, and how to get in."""
    from receiver.access import API_TOKEN_FILE

    local = f"http://{settings.local_authority}"
    lines = [
        f"api:       {local} (GENHOOK_URL for the CLI and the Python client)",
        f"callbacks: {settings.resolved_public_url}/callbacks/<provider>/<token>",
        f"database:  {redacted(settings.resolved_database_url)}",
        f"metrics:   {local}/metrics",
    ]
    if generated:
        assert settings.api_token is not None
        token = settings.api_token.get_secret_value()
        path = settings.data_dir / API_TOKEN_FILE
        lines.append(
            f"API token: kept in {path} (set GENHOOK_API_TOKEN to choose one); "
            "a CLI on this machine reads it there"
        )
        lines.append(f"dashboard: {local}/login?token={token}")
    else:
        lines.append("API token: GENHOOK_API_TOKEN")
        lines.append(f"dashboard: {local}/ (sign in with GENHOOK_API_TOKEN)")
    return lines


def worker(
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="also serve /metrics, /healthz and /readyz on this port [GENHOOK_METRICS_PORT]"
        ),
    ] = None,
    metrics_host: Annotated[
        str | None, typer.Option(help="address for --metrics-port [GENHOOK_METRICS_HOST]")
    ] = None,
) -> None:
    """Run the background jobs without a web server (the Procfile `worker`)."""
    from receiver.errors import GenhookError
    from receiver.services import open_services
    from receiver.tokens import load_api_token
    from receiver.worker import background_jobs, running_jobs
    from storage.claims import worker_id

    settings = load_settings(metrics_port=metrics_port, metrics_host=metrics_host)
    configure_logging(settings)
    if settings.metrics.port is not None:  # its /metrics needs the API token too
        token, _ = load_api_token(settings)
        settings = settings.updated(api_token=token)

    async def main() -> None:
        async with open_services(settings) as services:
            jobs = background_jobs(services, kind="worker")
            async with (
                running_jobs(
                    jobs,
                    services.wakeups,
                    services.jobs,
                    grace_seconds=settings.shutdown_grace_seconds,
                ),
                ops_server(settings, services),
            ):
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(signum, stop.set)
                announce(settings, f"worker {worker_id()} running; Ctrl-C to stop")
                await stop.wait()
                log.info(
                    "stopping: no new work; passes in flight get %g s",
                    settings.shutdown_grace_seconds,
                )
        log.info("worker %s stopped", worker_id())

    try:
        asyncio.run(main())
    except GenhookError as exc:
        refuse(settings, str(exc), 1)


@contextlib.asynccontextmanager
async def ops_server(settings: Settings, services: Services) -> AsyncIterator[None]:
    """``--metrics-port``: health and metrics over HTTP for the block's duration."""
    if settings.metrics.port is None:
        yield
        return
    import uvicorn

    from receiver.app import create_ops_app
    from receiver.errors import ConfigurationError

    class EmbeddedServer(uvicorn.Server):
        """uvicorn inside a process that handles its own signals (the worker's)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            yield

    config = uvicorn.Config(
        create_ops_app(settings, services),
        host=settings.metrics.host,
        port=settings.metrics.port,
        log_config=None,  # this process's logging is set up already
        access_log=False,
        lifespan="off",
    )
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve(), name="genhook-metrics-server")
    try:
        while not server.started:
            if task.done():
                task.result()  # the bind failed: say why
                raise ConfigurationError("the metrics server stopped before it started")
            await asyncio.sleep(0.01)
        announce(
            settings, f"metrics:   http://{settings.metrics.host}:{settings.metrics.port}/metrics"
        )
        yield
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)


def configure_logging(settings: Settings) -> dict[str, Any]:
    """This process's logging, from the settings; returns the config for uvicorn."""
    from receiver import logs

    return logs.configure(settings.log_level, settings.log_format)


def announce(settings: Settings, message: str) -> None:
    """A start-up line: console text, or a log record when logs are JSON."""
    if settings.log_format == "json":
        log.info(message)
    else:
        err.print(message, highlight=False, soft_wrap=True)


def refuse(settings: Settings, message: str, code: int) -> NoReturn:
    """Stop with ``message`` (exit ``code``), as a log record when logs are JSON."""
    if settings.log_format == "json":
        log.critical(message)
        raise typer.Exit(code)
    raise fail(message, code)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (the Procfile `release` step)."""
    from storage.engine import create_engine
    from storage.migrate import upgrade

    settings = load_settings()

    async def main() -> None:
        engine = create_engine(settings.resolved_database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(main())
    err.print(f"database at head: {redacted(settings.resolved_database_url)}")


def redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
