"""The background runner: named jobs, no warning for a pass still running, and a
stop that lets passes finish within the grace period and cancels (quietly) past it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from receiver.wakeups import Wakeups
from receiver.worker import PeriodicJob, running_jobs


async def test_a_slow_pass_is_not_overlapped_and_not_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs: list[float] = []

    async def slow() -> None:
        runs.append(asyncio.get_running_loop().time())
        await asyncio.sleep(0.35)

    caplog.set_level(logging.DEBUG)
    async with running_jobs([PeriodicJob("slow", 0.05, slow, at_start=True)], Wakeups()):
        await asyncio.sleep(1.0)
    assert 2 <= len(runs) <= 4  # one at a time, never piled up
    text = caplog.text
    assert "maximum number of running instances" not in text
    assert "_guarded" not in text and "<locals>" not in text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_stop_waits_for_a_pass_in_flight_then_runs_on_stop() -> None:
    events: list[str] = []

    async def pass_() -> None:
        events.append("started")
        await asyncio.sleep(0.3)
        events.append("finished")

    async def stopped() -> None:
        events.append("on_stop")

    job = PeriodicJob("work", 60, pass_, at_start=True, on_stop=stopped)
    async with running_jobs([job], Wakeups(), grace_seconds=5):
        await asyncio.sleep(0.1)
    assert events == ["started", "finished", "on_stop"]


async def test_a_pass_past_the_grace_is_cancelled_with_a_warning_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[str] = []

    async def stuck() -> None:
        events.append("started")
        await asyncio.sleep(30)
        events.append("finished")

    async def stopped() -> None:
        events.append("on_stop")

    job = PeriodicJob("stuck", 60, stuck, at_start=True, on_stop=stopped)
    loop = asyncio.get_running_loop()
    async with running_jobs([job], Wakeups(), grace_seconds=0.3):
        await asyncio.sleep(0.1)
        began = loop.time()
    assert loop.time() - began < 2
    assert events == ["started", "on_stop"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("stuck did not finish within 0.3 s" in m for m in warnings), warnings
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
