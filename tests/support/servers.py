"""Serve an ASGI app with a real uvicorn server on a free loopback port.

The server runs as a task in the test's own event loop, so tests speak real HTTP
to it and still inspect its state directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp


class _Server(uvicorn.Server):
    """uvicorn's server, with its main loop woken as soon as it is told to stop
    (uvicorn's own looks every 0.1 s: 0.05 s more per server, hundreds of times)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stopping = asyncio.Event()

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    def stop(self) -> None:
        self.should_exit = True
        self.stopping.set()


@functools.cache
def client_tls() -> ssl.SSLContext:
    """One TLS context for the tests' own clients: httpx otherwise loads its CA bundle
    (tens of milliseconds) for every client, even one that only speaks plain HTTP."""
    return httpx.create_ssl_context()


def bind_loopback(host: str = "127.0.0.1") -> socket.socket:
    """A socket bound to a free port, for when the URL must be known before the app."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only then (else ~40 ms per answer)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


@contextlib.asynccontextmanager
async def serve(
    app: ASGIApp, *, sock: socket.socket | None = None, options: dict[str, Any] | None = None
) -> AsyncIterator[str]:
    """Run ``app`` until the block ends; yields its base URL (``http://127.0.0.1:PORT``).

    ``options`` are more ``uvicorn.Config`` arguments (genhook's own server options).
    """
    sock = sock or bind_loopback()
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", access_log=False, **(options or {})
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # re-raise the startup failure
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        yield url_of(sock)
    finally:
        server.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)
        sock.close()
