"""Waiting for a condition, never for a fixed time: the one helper every test uses.

``eventually`` polls a check (plain or async) until it gives something truthy and
returns that; it raises ``TimeoutError`` after ``within`` seconds, so a wait that
can never end fails instead of hanging. ``eventually_blocking`` is the same for
tests that drive real processes from synchronous code. ``timed`` measures one
awaited operation.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Any], within: float = 10.0, every: float = 0.01) -> Any:
    """Wait until ``check()`` (or what it awaits to) is truthy; return that value."""
    async with asyncio.timeout(within):
        while True:
            value = check()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(every)


def eventually_blocking(
    check: Callable[[], T], within: float = 30.0, every: float = 0.05, what: str = ""
) -> T:
    """:func:`eventually` for synchronous tests: ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {within:g} s: {what or check}")
        time.sleep(every)


async def timed(operation: Awaitable[T]) -> tuple[T, float]:
    """Await ``operation``; return its value and how many seconds it took."""
    started = time.monotonic()
    value = await operation
    return value, time.monotonic() - started
