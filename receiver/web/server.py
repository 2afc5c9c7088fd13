"""The HTTP server's settings against slow and broken clients (uvicorn).

The callback route is public, so anyone can open connections to it. Unchecked, a
few hundred clients sending their headers or bodies one byte at a time hold a
connection each for as long as they like (uvicorn has no header timeout; its
keep-alive timer stops at the first byte), and near the open-file limit every new
callback fails. The defences, each a ``GENHOOK_SERVER_*`` setting:

* a header deadline (:class:`HeaderDeadlineProtocol`): from the moment a connection
  opens, or a response is finished on a kept-alive one, the next request's headers
  must be complete within ``header_timeout_seconds``, else ``408`` and the
  connection is closed;
* a body deadline, where bodies are read (:func:`receiver.web.http.read_body`):
  ``408`` with ``Connection: close`` after ``body_timeout_seconds``;
* a concurrency limit (uvicorn's ``limit_concurrency``): beyond it new requests get
  ``503`` instead of file descriptors, so the process never runs out of them;
* idle kept-alive connections close after ``keep_alive_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from receiver.settings import ServerSettings

REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 29\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"request headers took too long"
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on every request's headers."""

    header_timeout: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        idle = self.cycle is None or self.cycle.response_complete  # no pipelined request
        if idle and not self.transport.is_closing():
            self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.write(REQUEST_TIMEOUT)
            self.transport.close()


def protocol(header_timeout: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class with this header deadline (uvicorn builds one per connection)."""
    return type(
        "HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout": header_timeout}
    )


class CleanExitServer(uvicorn.Server):
    """uvicorn, except that a stop by SIGTERM/SIGINT that went well exits 0.

    uvicorn re-raises the signal it caught once it has shut down, so the process
    ends "killed by SIGTERM" (exit status -15) however cleanly it stopped, which a
    supervisor (systemd, a Procfile runner) reads as a crash.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()  # handled here: nothing to re-raise


def open_files_limit() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 65536


def uvicorn_options(settings: ServerSettings) -> dict[str, Any]:
    """What ``uvicorn.run`` / ``uvicorn.Config`` take from these settings."""
    return {
        "http": protocol(settings.header_timeout_seconds),
        "limit_concurrency": settings.concurrency(open_files_limit()),
        "timeout_keep_alive": settings.keep_alive_seconds,
    }


def config(app: Any, settings: ServerSettings, **options: Any) -> uvicorn.Config:
    """A uvicorn config for ``app`` with the defences on (``options`` add to it)."""
    return uvicorn.Config(app, **uvicorn_options(settings), **options)
