"""Reading many tasks at once: chunking for batch endpoints, bounded fan-out otherwise.

Shared by the adapters' ``fetch_many`` so that every provider treats a partial answer
the same way: a task the provider does not know is left out (the poller sees it as
unanswered), any other failure fails the whole call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence

from receiver.lifecycle import TaskSnapshot
from receiver.providers.errors import ProviderNotFoundError


def unique(ids: Sequence[str]) -> list[str]:
    """``ids`` without repeats, in first-seen order (no task is read twice per call)."""
    return list(dict.fromkeys(ids))


def chunks(ids: Sequence[str], size: int) -> Iterator[list[str]]:
    """Consecutive slices of at most ``size`` ids."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


async def fetch_each(
    ids: Sequence[str],
    fetch: Callable[[str], Awaitable[TaskSnapshot]],
    *,
    concurrency: int,
) -> dict[str, TaskSnapshot]:
    """``fetch`` every id with at most ``concurrency`` requests in flight.

    A :class:`ProviderNotFoundError` leaves that id out; the first other error cancels the
    remaining reads and propagates.
    """
    gate = asyncio.Semaphore(max(1, concurrency))
    results: dict[str, TaskSnapshot] = {}

    async def one(task_id: str) -> None:
        async with gate:
            try:
                results[task_id] = await fetch(task_id)
            except ProviderNotFoundError:
                return

    try:
        async with asyncio.TaskGroup() as group:
            for task_id in unique(ids):
                group.create_task(one(task_id))
    except BaseExceptionGroup as group:  # the first failure, as the caller's own type
        raise group.exceptions[0] from None
    ordered = unique(ids)
    return {task_id: results[task_id] for task_id in ordered if task_id in results}
