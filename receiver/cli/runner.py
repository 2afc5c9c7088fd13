"""What every command shares: settings, one way to run async work, one printer, and
one mapping from genhook's errors onto exit codes.

Exit codes: 0 success, 1 genhook refused or could not do it (the message says why),
2 bad usage (typer's own usage errors are 2 as well); commands that follow a task
document their own on top (``watch``, ``submit --wait``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import orjson
import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console

from receiver.errors import GenhookError, NotFoundError
from receiver.services import Services, open_services
from receiver.settings import Settings

T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=BaseModel)

EXIT_REFUSED = 1
EXIT_USAGE = 2

err = Console(stderr=True, highlight=False)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the command-line overrides that were given."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def fail(message: str, code: int = EXIT_REFUSED) -> typer.Exit:
    """Print ``error: message`` on stderr; return the exit to raise."""
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def run(
    work: Callable[[Services], Awaitable[T]],
    settings: Settings | None = None,
    *,
    not_found_exit: int = EXIT_REFUSED,
) -> T:
    """Open the services, run ``work`` on them, and turn a refusal into its exit code."""

    async def main() -> T:
        async with open_services(settings or load_settings()) as services:
            return await work(services)

    try:
        return asyncio.run(main())
    except NotFoundError as exc:
        raise fail(str(exc), not_found_exit) from None
    except GenhookError as exc:
        raise fail(str(exc)) from None


def validated(model: type[ModelT], **values: Any) -> ModelT:
    """Command-line values checked by the same model the API uses (exit 2 naming the
    option when one is unusable)."""
    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'.'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
            for e in exc.errors()
        )
        raise fail(problems, EXIT_USAGE) from None


def _plain(document: Any) -> Any:
    if isinstance(document, BaseModel):
        return document.model_dump(mode="json")
    return document


def print_json(document: Any) -> None:
    """One document (a resource, or plain JSON-able data), indented, on stdout."""
    sys.stdout.write(orjson.dumps(_plain(document), option=orjson.OPT_INDENT_2).decode() + "\n")


def print_json_lines(documents: Iterable[Any]) -> None:
    for document in documents:
        sys.stdout.write(orjson.dumps(_plain(document)).decode() + "\n")
