"""Following one task to its end: ``genhook watch`` and ``genhook submit --wait``.

Both read the live event stream (:mod:`receiver.stream`) filtered to the task: the
task's history first, then each event as it is committed, until a terminal one.
Nothing here asks the provider anything; genhook's own poller and callbacks move the
task, this only listens.

Exit codes (:func:`exit_code`): 0 completed, 1 failed or expired, 3 still running
when the time limit ran out, 4 completed but a result image could not be downloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from receiver.errors import TaskNotFoundError
from receiver.lifecycle import Status
from receiver.services import Services
from receiver.stream import EventFilter, stream_for
from receiver.views import task_view
from storage.models import Task

EXIT_COMPLETED = 0
EXIT_FAILED = 1
EXIT_TIMED_OUT = 3
EXIT_DOWNLOAD_FAILED = 4

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".avif", ".bmp"}

Update = Callable[[dict[str, Any], str | None], None]


def is_terminal(view: dict[str, Any]) -> bool:
    return Status(view["status"]).is_terminal


def exit_code(view: dict[str, Any]) -> int:
    if view["status"] == Status.COMPLETED:
        return EXIT_COMPLETED
    return EXIT_FAILED if is_terminal(view) else EXIT_TIMED_OUT


async def follow_task(
    services: Services, task_id: str, *, within: float, on_update: Update | None = None
) -> dict[str, Any]:
    """The task's view once it is terminal, or as it stands after ``within`` seconds.

    ``on_update(view, event_type)`` is called with the current state first (event
    type None), then for every event of the task.
    """
    notify = on_update or (lambda view, event_type: None)
    stream = stream_for(services)
    filters = EventFilter(task_id=task_id)
    # The position first, then the state: an event committed in between is then
    # both in the state and on the stream, never in neither.
    position = await stream.start(filters)
    view = await _current(services, task_id)
    notify(view, None)
    if is_terminal(view):
        return view
    until = asyncio.get_running_loop().time() + within
    async for event in stream.follow(position, filters, until=until):
        notify(event.payload["data"], event.type)
        if is_terminal(event.payload["data"]):
            break
    return await _current(services, task_id)


async def _current(services: Services, task_id: str) -> dict[str, Any]:
    async with services.sessions() as session:
        task = await session.get(Task, task_id)
    if task is None:
        raise TaskNotFoundError(task_id)
    return task_view(task)


async def download_results(
    http: httpx.AsyncClient, view: dict[str, Any], directory: Path
) -> list[Path]:
    """Save the task's result images as ``DIR/<task id>-<n><ext>``; returns the paths.

    A file is written under a temporary name and renamed when complete, so an
    interrupted download never leaves a truncated image that looks finished.
    """
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    saved = []
    for number, url in enumerate(view["result_urls"], start=1):
        async with http.stream("GET", url, follow_redirects=True) as response:
            response.raise_for_status()
            suffix = _suffix(url, response.headers.get("content-type"))
            target = directory / f"{view['id']}-{number}{suffix}"
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
        self._view: dict[str, Any] | None = None

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

    def update(self, view: dict[str, Any], event_type: str | None) -> None:
        self._view = view
        if self._live is not None:
            self._live.update(self._render())
        else:
            label = event_type or "now"
            self._console.print(f"{label:<18} {view['id']}  {view['status']}", highlight=False)

    def _render(self) -> Group | Spinner:
        elapsed = time.monotonic() - self._started
        if self._view is None:
            return Spinner("dots", text=" waiting for the task")
        view = self._view
        text = Text.assemble(
            (f" {view['status']}", _colour(view["status"])),
            f"  {view['provider']}/{view['model'] or '?'}  {view['id']}  {elapsed:4.0f}s",
        )
        return Spinner("dots", text=text)

    def summary(self, view: dict[str, Any]) -> None:
        """The final word: status, error or result URLs."""
        colour = _colour(view["status"])
        self._console.print(
            Text.assemble((view["status"], f"bold {colour}"), f"  {view['id']}"), highlight=False
        )
        if view["error"]:
            self._console.print(
                f"  error: {view['error']['code']}: {view['error']['message']}", highlight=False
            )
        for url in view["result_urls"]:
            self._console.print(f"  {url}", highlight=False, soft_wrap=True)


def _colour(status: str) -> str:
    return {"completed": "green", "failed": "red", "expired": "red"}.get(status, "yellow")
