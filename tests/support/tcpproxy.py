"""A TCP proxy the test controls, in front of a real server (PostgreSQL).

It lets a test take the database away without touching the shared server:

* ``pass``: bytes flow both ways (the normal state);
* ``hang``: connections stay open but nothing is forwarded any more, and new ones
  are accepted and never answered (a database host that stopped responding);
* ``refuse``: every connection is reset and new ones are refused (the port is closed).

It runs its own event loop in a thread, so it serves processes and test loops alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Literal

Mode = Literal["pass", "hang", "refuse"]


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._mode: Mode = "pass"
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()  # set while the mode is "pass" (the loop's own)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])

    @property
    def mode(self) -> Mode:
        return self._mode

    def start(self) -> None:
        self._thread.start()
        self._loop.call_soon_threadsafe(self._flowing.set)
        self._call(self._listen())

    def stop(self) -> None:
        self._call(self._close(reset=True))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def set_mode(self, mode: Mode) -> None:
        """Switch; ``refuse`` resets open connections and closes the port."""
        self._mode = mode
        flow = self._flowing.set if mode == "pass" else self._flowing.clear
        self._loop.call_soon_threadsafe(flow)
        if mode == "refuse":
            self._call(self._close(reset=True))
        elif self._server is None:
            self._call(self._listen())

    def _call(self, coroutine: object) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _close(self, *, reset: bool) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if reset:
            for writer in list(self._writers):
                with contextlib.suppress(Exception):
                    sock = writer.get_extra_info("socket")
                    if sock is not None:  # RST, not FIN: a connection that was cut
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                    writer.transport.abort()
            self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if self._mode != "pass":  # hang: hold it, answer nothing
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        self._loop.create_task(self._pipe(reader, up_writer))
        self._loop.create_task(self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await self._flowing.wait()  # hang: hold the bytes; nothing goes through
                if writer.is_closing():
                    break
                writer.write(data)
                await writer.drain()
        except (OSError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


@contextlib.contextmanager
def tcp_proxy(target_host: str, target_port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(target_host, target_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
