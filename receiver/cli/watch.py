"""``genhook watch``: follow one task to its end (``submit --wait`` does too).

Both follow the server's live event stream through the client
(:meth:`receiver.client.Genhook.wait`): the task's state first, then each event as
it is committed, until a terminal one, resuming after a dropped connection.
Nothing here asks the provider anything; genhook's own poller and callbacks move
the task, this only listens.

Exit codes (:mod:`receiver.cli.runner`): 0 completed, 1 failed or expired, 3 still
running when the time limit ran out, 4 completed but a result image could not be
downloaded, 5 no such task.
"""

from __future__ import annotations

import contextlib
import mimetypes
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from receiver.cli.runner import (
    EXIT_DOWNLOAD_FAILED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_TIMED_OUT,
    err,
    print_json,
    talking,
)

if TYPE_CHECKING:
    import httpx

    from receiver import resources

EXIT_COMPLETED = EXIT_OK
EXIT_FAILED = EXIT_REFUSED
__all__ = ["EXIT_NOT_FOUND", "EXIT_TIMED_OUT", "exit_code", "watch"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".avif", ".bmp"}


def exit_code(task: resources.Task) -> int:
    if task.status == "completed":
        return EXIT_COMPLETED
    return EXIT_FAILED if task.status.is_terminal else EXIT_TIMED_OUT


def download_results(http: httpx.Client, task: resources.Task, directory: Path) -> list[Path]:
    """Save the task's result images as ``DIR/<task id>-<n><ext>``; returns the paths.

    A file is written under a temporary name and renamed when complete, so an
    interrupted download never leaves a truncated image that looks finished.
    """
    directory.mkdir(parents=True, exist_ok=True)
    saved = []
    for number, url in enumerate(task.result_urls, start=1):
        with http.stream("GET", url, follow_redirects=True) as response:
            response.raise_for_status()
            suffix = _suffix(url, response.headers.get("content-type"))
            target = directory / f"{task.id}-{number}{suffix}"
            partial = target.with_name(target.name + ".part")
            with partial.open("wb") as file:
                for chunk in response.iter_bytes():
                    file.write(chunk)
        partial.replace(target)
        saved.append(target)
    return saved


def _suffix(url: str, content_type: str | None) -> str:
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return suffix
    if content_type:
        guessed = mimetypes.guess_extension(content_type.split(";")[0].strip())
        if guessed:
            return guessed
    return ".bin"


class WatchDisplay:
    """How a watched task looks: a live spinner line on a terminal, plain lines elsewhere."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._live: Live | None = None
        self._started = time.monotonic()
        self._task: resources.Task | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[WatchDisplay]:
        if not self._console.is_terminal:
            yield self
            return
        with Live(self._render(), console=self._console, refresh_per_second=8) as live:
            self._live = live
            try:
                yield self
            finally:
                self._live = None

    def update(self, task: resources.Task, event_type: str | None) -> None:
        self._task = task
        if self._live is not None:
            self._live.update(self._render())
        else:
            label = event_type or "now"
            self._console.print(f"{label:<18} {task.id}  {task.status}", highlight=False)

    def _render(self) -> Spinner:
        elapsed = time.monotonic() - self._started
        if self._task is None:
            return Spinner("dots", text=" waiting for the task")
        task = self._task
        text = Text.assemble(
            (f" {task.status}", _colour(task.status)),
            f"  {task.provider}/{task.model or '?'}  {task.id}  {elapsed:4.0f}s",
        )
        return Spinner("dots", text=text)

    def summary(self, task: resources.Task) -> None:
        """The final word: status, error or result URLs."""
        colour = _colour(task.status)
        self._console.print(
            Text.assemble((task.status, f"bold {colour}"), f"  {task.id}"), highlight=False
        )
        if task.error:
            self._console.print(
                f"  error: {task.error.code}: {task.error.message}", highlight=False
            )
        for url in task.result_urls:
            self._console.print(f"  {url}", highlight=False, soft_wrap=True)


def _colour(status: str) -> str:
    return {"completed": "green", "failed": "red", "expired": "red"}.get(status, "yellow")


def watch(
    task_id: Annotated[str, typer.Argument(help="genhook task id (tsk_...)")],
    download: Annotated[
        Path | None, typer.Option(help="save the result images into this directory")
    ] = None,
    timeout: Annotated[float, typer.Option(help="give up after this many seconds")] = 1800,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the final task as JSON on stdout")
    ] = False,
) -> None:
    """Follow a task live until it finishes.

    Exit code: 0 completed, 1 failed or expired, 3 still running at --timeout, 4
    completed but a result image could not be downloaded, 5 no such task.
    """
    import httpx

    from receiver.errors import ClientTimeoutError

    display = WatchDisplay(err if as_json else Console())
    with talking() as genhook, display.running():
        try:
            task = genhook.wait(task_id, timeout=timeout, on_update=display.update)
        except ClientTimeoutError as exc:
            task = exc.task
    saved: list[Path] | str = []
    if download is not None and task.result_urls:
        try:
            with httpx.Client(timeout=httpx.Timeout(60, connect=10)) as http:
                saved = download_results(http, task, download)
        except Exception as exc:  # report any download failure, keep the task result
            saved = f"{type(exc).__name__}: {exc}"
    display.summary(task)
    if as_json:
        print_json(task)
    code = exit_code(task)
    if isinstance(saved, str):
        err.print(f"[red]download failed:[/red] {saved}", markup=True)
        code = code or EXIT_DOWNLOAD_FAILED
    else:
        for path in saved:
            err.print(f"saved {path}")
    raise typer.Exit(code)
