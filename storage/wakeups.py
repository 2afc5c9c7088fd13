"""Telling the parts that act on a commit's work that it is there: in this process
and, on PostgreSQL, in every other one.

A writer marks, inside its transaction, which kind of work it wrote
(:func:`mark`: new events, due deliveries, images to fetch, tasks to poll). Nothing
is told before the commit, so nobody wakes up to look for rows it cannot see yet:

* sessions made by :func:`~storage.engine.create_session_factory` call the
  factory's ``on_commit`` with the marked topics right after the commit (this
  process's dispatcher, mirror, poller and event stream wait on them);
* on PostgreSQL the same transaction also sends ``NOTIFY genhook, '<topics>'``,
  which the server delivers only once the transaction has committed, and only if
  it does; :func:`listen` holds one connection per process that hears every
  process's notifications and hands them on the same way;
* on SQLite, processes sharing the database file tell each other through Unix
  datagram sockets (:class:`LocalPeers`), after the commit.

A listener that loses its connection reconnects and then reports every topic as
woken, so the readers look again from where they were: a notification sent
while nobody listened is never needed, because the rows it announced are still
there. Ticks remain the safety net, not the mechanism.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

log = logging.getLogger(__name__)

CHANNEL = "genhook"
APPLICATION_NAME = "genhook-listen"  # how an operator finds these connections
_MARKED = "genhook.wake_topics"
ON_COMMIT = "genhook.on_commit"
_NOTIFY = text("SELECT pg_notify(:channel, :topics)")  # one round trip, every topic

OnTopics = Callable[[Iterable[str]], None]
PEERS_TTL_SECONDS = 1.0


def mark(session: Any, topic: str) -> None:
    """Note that this transaction wrote work of kind ``topic`` (an async or sync session)."""
    info: dict[str, Any] = session.info
    info.setdefault(_MARKED, set()).add(topic)


class WakingSession(Session):
    """The sync session under genhook's async sessions: it says what it committed."""


@event.listens_for(WakingSession, "before_commit")
def _notify_other_processes(session: Session) -> None:
    topics = session.info.get(_MARKED)
    if topics and session.get_bind().dialect.name == "postgresql":
        session.execute(_NOTIFY, {"channel": CHANNEL, "topics": ",".join(sorted(topics))})


@event.listens_for(WakingSession, "after_commit")
def _notify_this_process(session: Session) -> None:
    topics = session.info.pop(_MARKED, None)
    on_commit: OnTopics | None = session.info.get(ON_COMMIT)
    if topics and on_commit is not None:
        on_commit(topics)


@event.listens_for(WakingSession, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_MARKED, None)


def _setter(flag: asyncio.Event) -> Callable[[object], None]:
    return lambda _connection: flag.set()


async def listen(
    database_url: str,
    on_topics: OnTopics,
    every_topic: Iterable[str],
    *,
    ready: asyncio.Event | None = None,
    check_every: float = 10.0,
    retry_every: float = 1.0,
) -> None:
    """Hear every process's notifications until cancelled, reconnecting after a drop.

    Each (re)connection reports ``every_topic`` once, after LISTEN took effect: what
    was committed while nobody listened is then read like anything else. The
    connection is checked every ``check_every`` seconds, so one that died without
    a word (a cut network) is noticed too.
    """
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    topics = tuple(every_topic)
    while True:
        connection: asyncpg.Connection | None = None
        try:
            connection = await asyncpg.connect(
                dsn, timeout=5, server_settings={"application_name": APPLICATION_NAME}
            )
            lost = asyncio.Event()
            connection.add_termination_listener(_setter(lost))
            await connection.add_listener(
                CHANNEL, lambda _c, _pid, _channel, payload: on_topics(payload.split(","))
            )
            on_topics(topics)
            if ready is not None:
                ready.set()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), check_every)
                if not lost.is_set():
                    await connection.fetchval("SELECT 1", timeout=5)
            log.warning("lost the notification connection; reconnecting")
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("notification connection failed (%s); retrying", exc)
        finally:
            if connection is not None and not connection.is_closed():
                connection.terminate()  # at once, even when cancelled: it only listened
        await asyncio.sleep(retry_every)


class LocalPeers:
    """Cross-process wake-ups on one machine, for SQLite (which has no NOTIFY).

    Every process using the same database file binds a Unix datagram socket in one
    directory (short, under the system's temporary directory, named after the
    file) and, after each commit that marked topics, sends them to every other
    socket there. A datagram is only a hint, sent after the commit: one that is
    lost costs a tick, never a row. A socket nobody reads any more (a process that
    was killed) is removed by the first sender that finds it dead.
    """

    def __init__(self, database_file: Path) -> None:
        digest = hashlib.sha256(str(database_file.resolve()).encode()).hexdigest()[:16]
        self.directory = Path(tempfile.gettempdir()) / f"genhook-wake-{digest}"
        self._socket: socket.socket | None = None
        self._path: Path | None = None
        self._peers: list[Path] = []
        self._peers_listed = float("-inf")

    def open(self, on_topics: OnTopics) -> None:
        self.directory.mkdir(mode=0o700, exist_ok=True)
        self._path = self.directory / f"{os.getpid()}-{secrets.token_hex(4)}.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind(str(self._path))
        self._socket = sock

        def readable() -> None:
            with contextlib.suppress(BlockingIOError, OSError):
                while True:
                    payload = sock.recv(4096)
                    on_topics(payload.decode("ascii", "replace").split(","))

        asyncio.get_running_loop().add_reader(sock.fileno(), readable)

    def send(self, topics: Iterable[str]) -> None:
        if self._socket is None:
            return
        payload = ",".join(sorted(topics)).encode("ascii")
        for peer in self._listed():
            try:
                self._socket.sendto(payload, str(peer))
            except (ConnectionRefusedError, FileNotFoundError):
                peer.unlink(missing_ok=True)  # its process is gone
            except OSError as exc:  # a full buffer: that peer is busy and will tick
                log.debug("wake-up to %s not sent: %s", peer.name, exc)

    def _listed(self) -> list[Path]:
        """The other sockets, listed at most once a second (a commit is hotter than that)."""
        now = time.monotonic()
        if now - self._peers_listed >= PEERS_TTL_SECONDS:
            with contextlib.suppress(OSError):
                self._peers = [p for p in self.directory.glob("*.sock") if p != self._path]
            self._peers_listed = now
        return self._peers

    def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._socket.fileno())
            self._socket.close()
            self._socket = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
