"""``genhook watch``: follow one task to its end (``submit --wait`` does too).

Both read the live event stream (:meth:`receiver.stream.EventStream.follow_task`)
filtered to the task: the task's history first, then each event as it is committed,
until a terminal one. Nothing here asks the provider anything; genhook's own poller
and callbacks move the task, this only listens.

Exit codes (:func:`exit_code`): 0 completed, 1 failed or expired, 2 no such task,
3 still running when the time limit ran out, 4 completed but a result image could
not be downloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Annotated
from urllib.parse import urlsplit

import httpx
import typer
from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from receiver import resources
from receiver.cli.runner import err, print_json, run
from receiver.lifecycle import Status
from receiver.services import Services

EXIT_COMPLETED = 0
EXIT_FAILED = 1
EXIT_NOT_FOUND = 2
EXIT_TIMED_OUT = 3
EXIT_DOWNLOAD_FAILED = 4

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".avif", ".bmp"}


def exit_code(task: resources.Task) -> int:
    if task.status is Status.COMPLETED:
        return EXIT_COMPLETED
    return EXIT_FAILED if task.status.is_terminal else EXIT_TIMED_OUT


async def download_results(
    http: httpx.AsyncClient, task: resources.Task, directory: Path
) -> list[Path]:
    """Save the task's result images as ``DIR/<task id>-<n><ext>``; returns the paths.

    A file is written under a temporary name and renamed when complete, so an
    interrupted download never leaves a truncated image that looks finished.
    """
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    saved = []
    for number, url in enumerate(task.result_urls, start=1):
        async with http.stream("GET", url, follow_redirects=True) as response:
            response.raise_for_status()
            suffix = _suffix(url, response.headers.get("content-type"))
            target = directory / f"{task.id}-{number}{suffix}"
            partial = target.with_name(target.name + ".part")
            with partial.open("wb") as file:
                async for chunk in response.aiter_bytes():
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

    Exit code: 0 completed, 1 failed or expired, 2 no such task, 3 still running at
    --timeout, 4 completed but a result image could not be downloaded.
    """
    display = WatchDisplay(err if as_json else Console())

    async def work(services: Services) -> tuple[resources.Task, list[Path] | str]:
        with display.running():
            task = await services.stream.follow_task(
                task_id, within=timeout, on_update=display.update
            )
        saved: list[Path] | str = []
        if download is not None and task.result_urls:
            try:
                saved = await download_results(services.http, task, download)
            except Exception as exc:  # report any download failure, keep the task result
                saved = f"{type(exc).__name__}: {exc}"
        return task, saved

    task, saved = run(work, not_found_exit=EXIT_NOT_FOUND)
    display.summary(task)
    if as_json:
        print_json(task)
    code = exit_code(task)
    if isinstance(saved, str):
        err.print(f"[red]download failed:[/red] {saved}", highlight=False)
        code = code or EXIT_DOWNLOAD_FAILED
    else:
        for path in saved:
            err.print(f"saved {path}", highlight=False)
    raise typer.Exit(code)
