"""The processes: ``genhook serve``, ``genhook worker`` and ``genhook db upgrade``.

They run locally, on the settings of this machine. The web stack, the database
layer and the scheduler are imported inside the commands, so ``genhook --help``
and the commands that only talk to a server never pay for them.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from receiver.cli.runner import err, fail, load_settings

if TYPE_CHECKING:
    from receiver.settings import Settings

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
    import uvicorn

    from receiver.app import create_app
    from receiver.tokens import load_api_token

    settings = load_settings(host=host, port=port, run_background=background)
    configure_logging(settings)
    token, generated = load_api_token(settings)
    settings = settings.updated(api_token=token)
    for line in startup_lines(settings, generated=generated):
        err.print(line, highlight=False, soft_wrap=True)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
    )


def startup_lines(settings: Settings, *, generated: bool) -> list[str]:
    """What ``serve`` says before it listens: where everything is, and how to get in."""
    from receiver.access import API_TOKEN_FILE

    local = f"http://{settings.local_authority}"
    lines = [
        f"api:       {local} (GENHOOK_URL for the CLI and the Python client)",
        f"callbacks: {settings.resolved_public_url}/callbacks/<provider>/<token>",
        f"database:  {redacted(settings.resolved_database_url)}",
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


def worker() -> None:
    """Run the background jobs without a web server (the Procfile `worker`)."""
    from receiver.errors import GenhookError
    from receiver.services import open_services
    from receiver.worker import background_jobs, running_jobs
    from storage.claims import worker_id

    settings = load_settings()
    configure_logging(settings)

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
