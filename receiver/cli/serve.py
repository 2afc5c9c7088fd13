"""The processes: ``genhook serve``, ``genhook worker`` and ``genhook db upgrade``."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer
import uvicorn
from sqlalchemy.engine import make_url

from receiver.app import create_app
from receiver.cli.runner import err, fail, load_settings
from receiver.errors import ConfigurationError, GenhookError
from receiver.services import open_services
from receiver.settings import Settings
from receiver.worker import background_jobs, running_jobs
from storage.claims import worker_id
from storage.engine import create_engine
from storage.migrate import upgrade

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
    try:
        check_bind_policy(settings)
    except ConfigurationError as exc:
        raise fail(str(exc), 2) from None
    configure_logging(settings)
    if settings.api_token is None:
        err.print(
            f"admin API: no GENHOOK_API_TOKEN set, listening on loopback only ({settings.host})"
        )
    err.print(f"callbacks: {settings.public_url}/callbacks/<provider>/<token>")
    err.print(f"database:  {redacted(settings.resolved_database_url)}")
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


def worker() -> None:
    """Run the background jobs without a web server (the Procfile `worker`)."""
    settings = load_settings()
    configure_logging(settings)

    async def main() -> None:
        async with (
            open_services(settings) as services,
            running_jobs(background_jobs(services), services.wakeups),
        ):
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            err.print(f"worker {worker_id()} running; Ctrl-C to stop")
            await stop.wait()

    try:
        asyncio.run(main())
    except GenhookError as exc:
        raise fail(str(exc)) from None


def configure_logging(settings: Settings) -> None:
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
    err.print(f"database at head: {redacted(settings.resolved_database_url)}")


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
