"""The one wake-up path: a commit that wrote work wakes the parts that act on it.

Writers mark their transaction with a :class:`Topic` (``storage.wakeups.mark``);
after the commit, the session factory hands the topics to :meth:`Wakeups.notify`,
and on PostgreSQL every other process hears them through its LISTEN connection
(``storage.wakeups.listen``), wired in :mod:`receiver.services`. Each consumer
holds its own :class:`asyncio.Event` per topic, so one commit wakes the dispatcher
and the event stream alike, and a burst of commits while a consumer is busy
collapses into one more pass. Ticks remain the safety net.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from enum import StrEnum


class Topic(StrEnum):
    """Kinds of work a commit can leave for someone."""

    EVENTS = "events"  # new outbox rows: the live event stream
    DELIVERIES = "deliveries"  # deliveries that became due: the dispatcher
    ASSETS = "assets"  # result images to fetch: the mirror
    TASKS = "tasks"  # tasks that became due for a poll: the poller
    REROUTES = "reroutes"  # routed tasks waiting for their next target: the rerouter


class Wakeups:
    """In-process fan-out of committed topics to every waiting consumer."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {topic.value: set() for topic in Topic}

    def subscribe(self, topic: Topic) -> asyncio.Event:
        """An event set whenever ``topic`` is committed (the consumer clears it)."""
        woken = asyncio.Event()
        self._waiting[topic.value].add(woken)
        return woken

    def unsubscribe(self, topic: Topic, woken: asyncio.Event) -> None:
        self._waiting[topic.value].discard(woken)

    def notify(self, topics: Iterable[str]) -> None:
        for topic in topics:
            for woken in self._waiting.get(topic, ()):
                woken.set()
