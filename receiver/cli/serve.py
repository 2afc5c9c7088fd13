"""The processes: ``genhook serve``, ``genhook worker`` and ``genhook db upgrade``.

Both long-running processes set up logging first (:mod:`receiver.logs`), so that with
``GENHOOK_LOG_FORMAT=json`` every line they write is a JSON object: the start-up
banner and a refusal to start are log records then, not console text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, NoReturn

import typer
import uvicorn
from sqlalchemy.engine import make_url

from receiver import logs
from receiver.app import create_app, create_ops_app
from receiver.cli.runner import err, fail, load_settings
from receiver.errors import ConfigurationError, GenhookError
from receiver.services import Services, open_services
from receiver.settings import Settings, is_loopback_host
from receiver.worker import background_jobs, running_jobs
from storage.claims import worker_id
from storage.engine import create_engine
from storage.migrate import upgrade

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
) -> None:
    """Run the service: callback receiver, API, and (by default) the background jobs."""
    settings = load_settings(host=host, port=port, run_background=background)
    log_config = configure_logging(settings)
    try:
        check_bind_policy(settings)
    except ConfigurationError as exc:
        refuse(settings, str(exc), 2)
    if settings.api_token is None:
        announce(
            settings,
            f"admin API: no GENHOOK_API_TOKEN set, listening on loopback only ({settings.host})",
        )
    announce(settings, f"callbacks: {settings.public_url}/callbacks/<provider>/<token>")
    announce(settings, f"database:  {redacted(settings.resolved_database_url)}")
    announce(settings, f"dashboard: {dashboard_url(settings)}")
    announce(settings, f"metrics:   {dashboard_url(settings)}metrics")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=log_config,  # applied by uvicorn in every process it starts
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


def check_metrics_bind_policy(settings: Settings) -> None:
    """The worker's /metrics follows the admin API's rule too."""
    if (
        settings.metrics.port is not None
        and settings.api_token is None
        and not is_loopback_host(settings.metrics.host)
    ):
        raise ConfigurationError(
            f"refusing to serve metrics on {settings.metrics.host} without GENHOOK_API_TOKEN; "
            "set it, or keep GENHOOK_METRICS_HOST on loopback"
        )


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
    settings = load_settings(metrics_port=metrics_port, metrics_host=metrics_host)
    configure_logging(settings)
    try:
        check_metrics_bind_policy(settings)
    except ConfigurationError as exc:
        refuse(settings, str(exc), 2)

    async def main() -> None:
        async with open_services(settings) as services:
            jobs = background_jobs(services, kind="worker")
            async with running_jobs(jobs, services.jobs), ops_server(settings, services):
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(signum, stop.set)
                announce(settings, f"worker {worker_id()} running; Ctrl-C to stop")
                await stop.wait()

    try:
        asyncio.run(main())
    except GenhookError as exc:
        refuse(settings, str(exc), 1)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside a process that handles its own signals (the worker's)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def ops_server(settings: Settings, services: Services) -> AsyncIterator[None]:
    """``--metrics-port``: health and metrics over HTTP for the block's duration."""
    if settings.metrics.port is None:
        yield
        return
    config = uvicorn.Config(
        create_ops_app(settings, services),
        host=settings.metrics.host,
        port=settings.metrics.port,
        log_config=None,  # this process's logging is set up already
        access_log=False,
        lifespan="off",
    )
    server = _EmbeddedServer(config)
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
    return logs.configure(settings.log_level, settings.log_format)


def announce(settings: Settings, message: str) -> None:
    """A start-up line: console text, or a log record when logs are JSON."""
    if settings.log_format == "json":
        log.info(message)
    else:
        err.print(message)


def refuse(settings: Settings, message: str, code: int) -> NoReturn:
    """Stop with ``message`` (exit ``code``), as a log record when logs are JSON."""
    if settings.log_format == "json":
        log.critical(message)
        raise typer.Exit(code)
    raise fail(message, code)


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
    err.print(f"database at head: {redacted(settings.resolved_database_url)}")


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
