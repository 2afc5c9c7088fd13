"""What every command shares: the client, one way to print, and one mapping from
errors onto exit codes.

Exit codes, the same for every command:

== ==========================================================================
0  done (for ``watch`` and ``submit --wait``: the task completed)
1  refused or failed: the server or the provider said no, or the task failed,
   expired, or its create could not be confirmed (the message says what to do)
2  bad usage: an unknown option, a malformed value
3  timed out: the task was still running when ``--timeout`` ran out
4  the task completed but a result image could not be downloaded
5  not found: no such task, subscriber or delivery
6  no genhook server answers at GENHOOK_URL (or it stayed unavailable)
7  the server refused the API token
== ==========================================================================

Nothing heavy is imported here: a command that talks to a server loads httpx and
the client, one that runs locally loads what it runs, and ``--help`` neither.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from receiver.client import Genhook
    from receiver.services import Services
    from receiver.settings import Settings

T = TypeVar("T")

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_TIMED_OUT = 3
EXIT_DOWNLOAD_FAILED = 4
EXIT_NOT_FOUND = 5
EXIT_UNAVAILABLE = 6
EXIT_UNAUTHORIZED = 7

CLI_RETRY_SECONDS = 1.0  # a person at a prompt wants the answer, not a long retry

err = Console(stderr=True, highlight=False, soft_wrap=True)


class Output(StrEnum):
    TABLE = "table"
    JSON = "json"


def fail(message: str, code: int = EXIT_REFUSED) -> typer.Exit:
    """Print ``error: message`` on stderr; return the exit to raise."""
    err.print(f"[red]error:[/red] {message}", markup=True)
    return typer.Exit(code)


def environment() -> Mapping[str, str]:
    """The environment, over the ``.env`` of this directory (as the server reads it)."""
    found: dict[str, str] = {}
    try:
        from dotenv import dotenv_values
    except ImportError:  # pragma: no cover - pydantic-settings brings python-dotenv
        pass
    else:
        found = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    return {**found, **os.environ}


def server_url(environ: Mapping[str, str]) -> str:
    """``GENHOOK_URL``, else this machine's server on ``GENHOOK_PORT`` (default 8000)."""
    from receiver.access import DEFAULT_PORT

    return (
        environ.get("GENHOOK_URL")
        or f"http://127.0.0.1:{environ.get('GENHOOK_PORT') or DEFAULT_PORT}"
    )


def client() -> Genhook:
    """The client for this shell's server (``GENHOOK_URL``, ``GENHOOK_API_TOKEN``)."""
    from receiver.client import Genhook
    from receiver.client._core import resolve_token

    environ = environment()
    url = server_url(environ)
    return Genhook(url, resolve_token(None, url, environ), retry_seconds=CLI_RETRY_SECONDS)


@contextmanager
def talking() -> Iterator[Genhook]:
    """A client, with every client error turned into its line and exit code."""
    from receiver import errors

    try:
        with client() as genhook:
            yield genhook
    except errors.ApiNotFoundError as exc:
        raise fail(str(exc), EXIT_NOT_FOUND) from None
    except errors.UnauthorizedError as exc:
        raise fail(str(exc), EXIT_UNAUTHORIZED) from None
    except errors.UnavailableError as exc:
        raise fail(str(exc), EXIT_UNAVAILABLE) from None
    except errors.ClientTimeoutError as exc:
        raise fail(str(exc), EXIT_TIMED_OUT) from None
    except errors.GenhookError as exc:
        raise fail(str(exc), EXIT_REFUSED) from None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the command-line overrides that were given
    (for the commands that run locally)."""
    from pydantic import ValidationError

    from receiver.settings import Settings, describe_invalid

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:  # a setting that cannot work: say which, no traceback
        raise fail(describe_invalid(exc)) from None


def run_locally(work: Callable[[Services], Awaitable[T]], settings: Settings | None = None) -> T:
    """Open this machine's services, run ``work`` on them (``demo`` does)."""
    import asyncio

    from receiver.errors import GenhookError
    from receiver.services import open_services

    async def main() -> T:
        async with open_services(settings or load_settings()) as services:
            return await work(services)

    try:
        return asyncio.run(main())
    except GenhookError as exc:
        raise fail(str(exc)) from None


def _plain(document: Any) -> Any:
    dump = getattr(document, "model_dump", None)
    return dump(mode="json") if dump is not None else document


def print_json(document: Any) -> None:
    """One document (a resource, or plain JSON-able data), indented, on stdout."""
    import orjson

    sys.stdout.write(orjson.dumps(_plain(document), option=orjson.OPT_INDENT_2).decode() + "\n")


def print_json_lines(documents: Iterable[Any]) -> None:
    """One compact JSON document per line: what ``--output json`` prints for a list."""
    import orjson

    for document in documents:
        sys.stdout.write(orjson.dumps(_plain(document)).decode() + "\n")


def print_table(
    columns: list[str], rows: Iterable[list[str]], *, ids: Iterable[str] = ("id",)
) -> None:
    """A table on stdout that never cuts an id: id columns keep their full width and
    never wrap; other columns fold only when the terminal is too narrow. Piped into
    another program, nothing wraps at all."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    kept = set(ids)
    materialised = [list(row) for row in rows]
    for index, name in enumerate(columns):
        widest = max([len(name), *(len(row[index]) for row in materialised)])
        if name in kept:
            table.add_column(name, no_wrap=True, min_width=widest)
        else:
            table.add_column(name, overflow="fold", min_width=min(widest, 24))
    for row in materialised:
        table.add_row(*row)
    console = Console() if sys.stdout.isatty() else Console(width=100_000)
    console.print(table, soft_wrap=False)
